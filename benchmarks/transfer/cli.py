"""Transfer learning with few labels: scratch against linear / head / full / auto fine-tuning.

Two protocols (issue 10):

- `split`: a base trained here on Fashion-MNIST classes 0–4 only (all 30,000
  training images of them; `lenet`, `resnet20`), transferred to classes 5–9
  with N labelled images per class (`kzoo.data.load_arrays(...,
  labels_per_class=N, seed=s)`: a seeded stratified subset), tested on all
  5,000 test images of classes 5–9.
- `digits`: the shipped Fashion-MNIST checkpoints (`load_base(
  "lenet_fashion_mnist")`, `load_base("resnet20_fashion_mnist")`) on
  scikit-learn's 8×8 digits (`classifier(..., input_shape=(8, 8, 1))` resizes
  them), N labelled images per class, tested on the 359 digits test images.

Modes, all on the same N labels, one seed s for the subset, initialisation
and shuffling:

- `scratch`: the same network (`classifier` on an untrained base of the same
  architecture), every layer and BatchNorm trained, `--scratch-epochs` at
  `--scratch-lr`.
- `linear`: `fine_tune(mode="linear")`, `--linear-epochs` at `--linear-lr`.
- `head` / `full`: the `linear` model, then phase 2 of `fine_tune(mode=
  "head" | "full", head_epochs=0)` for `--tune-epochs`: the classifier at
  `--tune-lr`, the base at `--tune-lr × --base-lr-factor` (so phase 1 of the
  two-phase modes is exactly the `linear` cell, trained once).
- `auto`: the mode `fine_tune(mode="auto")` picks for this data
  (`kzoo.transfer.choose_mode(labels_per_class(...))`, the same rule
  fine_tune applies); since `auto` then trains exactly that mode, its
  accuracy is that cell's (it is not trained a second time).

The base of the split protocol is trained by a small loop of its own
(`kzoo.training.TrainConfig` cannot restrict the classes): `pixels → scale →
create_model(arch, classes=5)`, adam with a cosine schedule, resumable through
`keras.callbacks.BackupAndRestore` in `benchmarks/runs/transfer/base-<arch>/`.
Every (model, protocol, N, mode, seed) result is one JSON file under
`benchmarks/runs/transfer/cells/`, so an interrupted benchmark resumes and
reruns nothing (a cell made with other settings is rerun). Writes
`benchmarks/results/transfer.{json,md,png}`.

    python -m benchmarks transfer [--models lenet,resnet20] [--protocols split,digits]
        [--budgets 2,5,10,50] [--digits-budgets 10,2,5,50] [--seeds 0,1,2]
        [--base-epochs lenet=12,resnet20=3] [--report-only]
"""

import argparse
import os

from benchmarks.results_io import RESULTS_DIR, machine, write_results
from benchmarks.transfer.base import BENCHMARKS_DIR, base_dir, base_infos, train_base
from benchmarks.transfer.cells import (MODELS, PROTOCOLS, cell_settings, collect_cells,
                                       full_plan, missing_cells)
from benchmarks.transfer.probe import feature_probe, probe_infos
from benchmarks.transfer.report import plot, to_markdown
from benchmarks.transfer.runs import run_group
from benchmarks.transfer.verdicts import aggregate, verdict

NAME = "transfer"
RUNS_DIR = os.path.join(BENCHMARKS_DIR, "runs", "transfer")

DEFAULTS = {
    "base_epochs": {"lenet": 12, "resnet20": 3},
    "base_lr": 2e-3,
    "base_batch_size": 128,
    "scratch_epochs": 60,
    "scratch_lr": 1e-3,
    "linear_epochs": 60,
    "linear_lr": 1e-2,
    "tune_epochs": 30,
    "tune_lr": 1e-3,
    "base_lr_factor": 0.1,
    "batch_size": 32,
    "precise_bn": True,
}


def build_results(root, settings, models, budgets, digits_budgets, seeds, protocols):
    cells = collect_cells(root)
    plan = full_plan(models, protocols, budgets, digits_budgets, seeds)
    planned = {tuple(p) for p in plan}
    cells = [c for c in cells if (c["model"], c["protocol"], c["n"], c["mode"], c["seed"])
             in planned and c.get("settings") == cell_settings(settings, c["model"],
                                                               c["protocol"], c["mode"])]
    rows = aggregate(cells)
    verdicts = [verdict(rows, m, p, budgets if p == "split" else sorted(digits_budgets),
                        len(seeds))
                for m in models for p in protocols]
    goal = next((v for v in verdicts if (v["model"], v["protocol"]) == ("resnet20", "split")),
                None)
    return {"benchmark": NAME, "machine": machine(), "settings": settings,
            "seeds": list(seeds), "budgets": list(budgets),
            "digits_budgets": sorted(digits_budgets), "bases": base_infos(root, models),
            "probes": probe_infos(root, models), "rows": rows, "verdicts": verdicts,
            "goal_verdict": goal,
            "missing": missing_cells(cells, plan), "planned": len(plan), "cells": cells}


def write_report(results):
    plot(results, os.path.join(RESULTS_DIR, f"{NAME}.png"))
    write_results(NAME, results, to_markdown(results))


def parse_base_epochs(text):
    epochs = dict(DEFAULTS["base_epochs"])
    for part in filter(None, text.split(",")):
        model, _, value = part.partition("=")
        epochs[model] = int(value)
    return epochs


def main(argv=None):
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # predict's retracing warnings, once per new model
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet,resnet20")
    parser.add_argument("--protocols", default="split,digits")
    parser.add_argument("--budgets", default="2,5,10,50", help="split protocol labels/class")
    parser.add_argument("--digits-budgets", default="10,2,5,50",
                        help="digits protocol labels/class, run in this order")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--base-epochs", default="lenet=12,resnet20=3")
    for key in ("base_lr", "scratch_lr", "linear_lr", "tune_lr", "base_lr_factor"):
        parser.add_argument("--" + key.replace("_", "-"), type=float, default=DEFAULTS[key])
    for key in ("base_batch_size", "scratch_epochs", "linear_epochs", "tune_epochs",
                "batch_size"):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    parser.add_argument("--no-precise-bn", dest="precise_bn", action="store_false",
                        help="scratch: keep Keras' moving BatchNorm statistics (no recalibration)")
    parser.add_argument("--runs-dir", default=RUNS_DIR)
    parser.add_argument("--probe", action="store_true",
                        help="also run the feature probe of each trained split base")
    parser.add_argument("--report-only", action="store_true",
                        help="write the results from the cached cells; train nothing")
    ns = parser.parse_args(argv)
    models = [m for m in ns.models.split(",") if m]
    protocols = [p for p in ns.protocols.split(",") if p]
    if set(models) - set(MODELS) or set(protocols) - set(PROTOCOLS):
        parser.error(f"models must be some of {MODELS}, protocols some of {PROTOCOLS}")
    budgets = [int(n) for n in ns.budgets.split(",") if n]
    digits_budgets = [int(n) for n in ns.digits_budgets.split(",") if n]
    seeds = [int(s) for s in ns.seeds.split(",") if s]
    settings = {key: getattr(ns, key) for key in DEFAULTS if key != "base_epochs"}
    settings["base_epochs"] = parse_base_epochs(ns.base_epochs)
    root = ns.runs_dir

    def results():
        return build_results(root, settings, models, budgets, digits_budgets, seeds, protocols)

    if not ns.report_only:
        for model in models:
            for protocol in protocols:
                if protocol == "split":
                    train_base(root, model, settings)
                for n in (budgets if protocol == "split" else digits_budgets):
                    for seed in seeds:
                        run_group(root, model, protocol, n, seed, settings,
                                  log=lambda m: print(m, flush=True))
                    write_report(results())
    if ns.probe:
        for model in models:
            if os.path.exists(os.path.join(base_dir(root, model), "model.keras")):
                feature_probe(root, model, budgets, seeds)
    final = results()
    write_report(final)
    print(to_markdown(final))
