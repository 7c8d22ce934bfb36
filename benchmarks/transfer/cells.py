"""The transfer benchmark's plan and its cache of cells.

A cell is one (model, protocol, N, mode, seed) result, one JSON file under
`<runs>/cells/`; a cached cell made with other settings is not reused.
"""

import json
import os

MODELS = ("lenet", "resnet20")
PROTOCOLS = ("split", "digits")
MODES = ("scratch", "linear", "head", "full", "auto")
TRANSFER_MODES = ("linear", "head", "full")


def cell_path(root, model, protocol, n, mode, seed):
    return os.path.join(root, "cells", model, protocol, f"n{n}", f"{mode}-seed{seed}.json")


def cell_settings(settings, model, protocol, mode):
    """The settings a cell's result depends on (a cached cell with others is rerun)."""
    keys = {"scratch": ["scratch_epochs", "scratch_lr"],
            "linear": ["linear_epochs", "linear_lr"],
            "head": ["linear_epochs", "linear_lr", "tune_epochs", "tune_lr", "base_lr_factor"],
            "full": ["linear_epochs", "linear_lr", "tune_epochs", "tune_lr", "base_lr_factor"],
            "auto": []}[mode]
    chosen = {k: settings[k] for k in keys + ["batch_size"]}
    if mode == "scratch" and model != "lenet":  # lenet has no BatchNorm
        chosen["precise_bn"] = settings["precise_bn"]
    if mode == "auto":  # the rule's version: cells picked by an older rule are redone
        chosen["auto_rule"] = 2
    if protocol == "split" and mode != "scratch":
        chosen["base_epochs"] = settings["base_epochs"][model]
        chosen["base_lr"] = settings["base_lr"]
    return chosen


def read_cell(path, expected_settings=None):
    """A cached cell, or None (missing, unreadable, or made with other settings)."""
    try:
        with open(path) as f:
            cell = json.load(f)
    except (OSError, ValueError):
        return None
    if expected_settings is not None and cell.get("settings") != expected_settings:
        return None
    return cell


def collect_cells(root):
    """Every cell JSON under `root/cells`."""
    cells = []
    for dirpath, _, files in os.walk(os.path.join(root, "cells")):
        for name in sorted(files):
            if name.endswith(".json"):
                cell = read_cell(os.path.join(dirpath, name))
                if cell is not None:
                    cells.append(cell)
    return cells


def missing_cells(cells, plan):
    """The (model, protocol, n, mode, seed) of `plan` without a result in `cells`."""
    have = {(c["model"], c["protocol"], c["n"], c["mode"], c["seed"]) for c in cells}
    return [key for key in plan if tuple(key) not in have]


def full_plan(models, protocols, budgets, digits_budgets, seeds):
    return [(m, p, n, mode, s) for m in models for p in protocols
            for n in (budgets if p == "split" else digits_budgets)
            for mode in MODES for s in seeds]
