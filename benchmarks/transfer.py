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
import json
import math
import os
import platform
import statistics
import time

from benchmarks.results_io import RESULTS_DIR, write_results

NAME = "transfer"
RUNS_DIR = os.path.join(os.path.dirname(__file__), "runs", "transfer")
MODELS = ("lenet", "resnet20")
PROTOCOLS = ("split", "digits")
MODES = ("scratch", "linear", "head", "full", "auto")
TRANSFER_MODES = ("linear", "head", "full")
SOURCE_CLASSES = [0, 1, 2, 3, 4]
TARGET_CLASSES = [5, 6, 7, 8, 9]

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

# Measured by hand before this benchmark (lenet, split protocol, mean of 3 seeds;
# linear 60 epochs at 1e-2, full then 30 epochs at 1e-4, scratch 60 epochs at 1e-3).
REFERENCE = {
    ("lenet", "split"): {2: {"scratch": 0.700, "linear": 0.664, "full": 0.676},
                         5: {"scratch": 0.806, "linear": 0.785, "full": 0.791},
                         10: {"scratch": 0.852, "linear": 0.859, "full": 0.868},
                         50: {"scratch": 0.908, "linear": 0.910, "full": 0.919}},
    ("lenet", "digits"): {10: {"scratch": 0.892, "linear": 0.802, "full": 0.835}},
}


# ---------------------------------------------------------------- cells (pure)

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


def mean_std(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(cells):
    """Rows `{model, protocol, n, mode, seeds, accuracies, mean, std}` (+ `auto_modes`)."""
    groups = {}
    for cell in cells:
        key = (cell["model"], cell["protocol"], cell["n"], cell["mode"])
        groups.setdefault(key, []).append(cell)
    rows = []
    for (model, protocol, n, mode), group in sorted(
            groups.items(), key=lambda kv: (kv[0][0], PROTOCOLS.index(kv[0][1]), kv[0][2],
                                            MODES.index(kv[0][3]))):
        group = sorted(group, key=lambda c: c["seed"])
        accuracies = [c["test_accuracy"] for c in group]
        mean, std = mean_std(accuracies)
        row = {"model": model, "protocol": protocol, "n": n, "mode": mode,
               "seeds": [c["seed"] for c in group], "accuracies": accuracies,
               "mean": mean, "std": std,
               "train_accuracy_mean": statistics.mean(c.get("train_accuracy", math.nan)
                                                      for c in group)}
        if mode == "auto":
            row["auto_modes"] = sorted({c["chosen_mode"] for c in group})
        rows.append(row)
    return rows


def find_row(rows, model, protocol, n, mode):
    for row in rows:
        if (row["model"], row["protocol"], row["n"], row["mode"]) == (model, protocol, n, mode):
            return row
    return None


def missing_cells(cells, plan):
    """The (model, protocol, n, mode, seed) of `plan` without a result in `cells`."""
    have = {(c["model"], c["protocol"], c["n"], c["mode"], c["seed"]) for c in cells}
    return [key for key in plan if tuple(key) not in have]


def full_plan(models, protocols, budgets, digits_budgets, seeds):
    return [(m, p, n, mode, s) for m in models for p in protocols
            for n in (budgets if p == "split" else digits_budgets)
            for mode in MODES for s in seeds]


def compare(rows, model, protocol, n, seeds_expected):
    """Scratch against the best transfer mode at one budget, or None without scratch.

    Only modes with all `seeds_expected` seeds count (a partial mean is no
    comparison). Returns `{n, scratch, best_mode, best, gain, auto_mode,
    auto_is_best, complete}`.
    """
    def complete(row):
        return row is not None and len(row["seeds"]) >= seeds_expected

    scratch = find_row(rows, model, protocol, n, "scratch")
    transfer = [find_row(rows, model, protocol, n, m) for m in TRANSFER_MODES]
    transfer = [r for r in transfer if complete(r)]
    if not complete(scratch) or not transfer:
        return None
    best = max(transfer, key=lambda r: r["mean"])
    auto = find_row(rows, model, protocol, n, "auto")
    auto_mode = auto["auto_modes"][0] if auto and len(auto["auto_modes"]) == 1 else None
    return {"n": n, "scratch": scratch["mean"], "best_mode": best["mode"], "best": best["mean"],
            "gain": best["mean"] - scratch["mean"], "auto_mode": auto_mode,
            "auto_is_best": auto_mode == best["mode"],
            "complete": len(transfer) == len(TRANSFER_MODES)}


def verdict(rows, model, protocol, budgets, seeds_expected):
    """The goal at `model`/`protocol`: the best transfer mode beats scratch at every budget
    (mean over seeds) and `auto` picks it. Returns a dict with `met` (True/False/None:
    undecided, some budgets missing), `comparisons` and a one-line `text`."""
    comparisons = [compare(rows, model, protocol, n, seeds_expected) for n in budgets]
    done = [c for c in comparisons if c is not None]
    missing = [n for n, c in zip(budgets, comparisons) if c is None]
    beats = [c["n"] for c in done if c["gain"] > 0]
    loses = [c["n"] for c in done if c["gain"] <= 0]
    auto_right = [c["n"] for c in done if c["auto_is_best"]]
    if loses or (done and len(auto_right) < len(done)):
        met = False
    elif missing or not done:
        met = None
    else:
        met = True
    parts = []
    for c in done:
        parts.append(f"N={c['n']}: best {c['best_mode']} {c['best']:.3f} vs scratch "
                     f"{c['scratch']:.3f} ({c['gain']:+.3f}), auto -> {c['auto_mode']}"
                     f" ({'right' if c['auto_is_best'] else 'wrong'})")
    status = {True: "met", False: "not met", None: "undecided"}[met]
    beats_everywhere = bool(done) and not loses and not missing
    auto_everywhere = bool(done) and len(auto_right) == len(done) and not missing
    text = (f"{model} {protocol}: best transfer mode above scratch at every budget and auto "
            f"picking it: {status} (transfer above scratch everywhere: "
            f"{'yes' if beats_everywhere else 'no'}; auto right everywhere: "
            f"{'yes' if auto_everywhere else 'no'})"
            + (f" — transfer beats scratch at N={beats}" if beats else "")
            + (f"; loses at N={loses}" if loses else "")
            + (f"; auto picks the best mode at N={auto_right} of {[c['n'] for c in done]}"
               if done else "")
            + (f"; budgets without all cells: {missing}" if missing else ""))
    return {"model": model, "protocol": protocol, "met": met, "comparisons": comparisons,
            "transfer_beats_scratch_everywhere": beats_everywhere,
            "auto_picks_best_everywhere": auto_everywhere,
            "missing_budgets": missing, "details": parts, "text": text}


# ---------------------------------------------------------------- report (pure)

def fmt(row, seeds_expected=3):
    if row is None:
        return "—"
    text = f"{row['mean']:.3f} ± {row['std']:.3f}"
    return text if len(row["seeds"]) >= seeds_expected else text + f" ({len(row['seeds'])} seed)"


def to_markdown(results):
    rows, s = results["rows"], results["settings"]
    lines = [
        f"Transfer with few labels: test accuracy, mean ± std over seeds "
        f"{results['seeds']} ({results['machine']['cpus']} CPU cores, TF "
        f"{results['machine']['tensorflow']}). `split`: base trained on Fashion-MNIST "
        f"classes 0–4, N labels per class of classes 5–9, tested on their 5,000 test images; "
        f"`digits`: the shipped Fashion-MNIST checkpoints to scikit-learn's 8×8 digits "
        f"(resized), tested on its 359 test images.",
        "",
        f"Recipe: scratch {s['scratch_epochs']} epochs at {s['scratch_lr']:g}; linear "
        f"{s['linear_epochs']} epochs at {s['linear_lr']:g}; head/full = linear, then "
        f"{s['tune_epochs']} epochs (classifier {s['tune_lr']:g}, base "
        f"{s['tune_lr'] * s['base_lr_factor']:g}, BatchNorm frozen); batch {s['batch_size']}, "
        f"adam; auto = the mode `fine_tune(mode=\"auto\")` picks. Split bases: "
        + ", ".join(f"{m} {b['epochs']} epochs on classes 0–4 (test accuracy there "
                    f"{b['test_accuracy']:.4f})" for m, b in sorted(results["bases"].items()))
        + ".",
        "",
        "| base | protocol | N/class | scratch | linear | head | full | auto (mode) | "
        "best − scratch | linear train acc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["model"], r["protocol"], r["n"]) for r in rows},
                  key=lambda k: (k[0], PROTOCOLS.index(k[1]), k[2]))
    for model, protocol, n in keys:
        cells = {m: find_row(rows, model, protocol, n, m) for m in MODES}
        auto = cells["auto"]
        k = len(results["seeds"])
        auto_text = fmt(auto, k) + (f" ({'/'.join(auto['auto_modes'])})" if auto else "")
        c = compare(rows, model, protocol, n, len(results["seeds"]))
        gain = f"{c['gain']:+.3f} ({c['best_mode']})" if c else "—"
        lines.append(f"| `{model}` | {protocol} | {n} | " + " | ".join(
            fmt(cells[m], k) for m in MODES[:-1]) + f" | {auto_text} | {gain} | "
            + (f"{cells['linear']['train_accuracy_mean']:.3f}" if cells["linear"] else "—")
            + " |")
    lines += ["", "Verdicts (computed from the table):", ""]
    for v in results["verdicts"]:
        lines.append(f"- {v['text']}.")
    goal = results.get("goal_verdict")
    if goal:
        lines += ["", f"**Goal** (resnet20 base, split protocol: the best transfer mode beats "
                      f"scratch at every budget and `auto` picks it): "
                      f"**{ {True: 'met', False: 'not met', None: 'undecided'}[goal['met']] }** "
                      f"(transfer above scratch at every budget: "
                      f"{'yes' if goal['transfer_beats_scratch_everywhere'] else 'no'}; auto "
                      f"picks the best mode everywhere: "
                      f"{'yes' if goal['auto_picks_best_everywhere'] else 'no'})."]
    lines += probe_markdown(results.get("probes"))
    ref_lines = []
    for (model, protocol), by_n in REFERENCE.items():
        for n, ref in by_n.items():
            got = {m: find_row(rows, model, protocol, n, m) for m in ref}
            ref_lines.append(f"{model} {protocol} N={n}: " + ", ".join(
                f"{m} {v:.3f} → " + (f"{got[m]['mean']:.3f}" if got[m] else "—")
                for m, v in ref.items()))
    lines += ["", "Hand-measured reference (before → this run; full there used 1e-4 for "
                  "everything in phase 2): " + "; ".join(ref_lines) + "."]
    missing = results["missing"]
    if missing:
        lines += ["", f"Missing cells ({len(missing)} of {results['planned']}; not run before "
                      f"the deadline): " + ", ".join(
                          f"{m}/{p}/N={n}/{mode}/seed {s}" for m, p, n, mode, s in missing[:40])
                  + (" …" if len(missing) > 40 else "") + "."]
    else:
        lines += ["", f"All {results['planned']} planned cells ran."]
    lines += ["", "![accuracy against labels per class](transfer.png)"]
    return "\n".join(lines) + "\n"


def plot(results, path):
    """Accuracy against labels per class: one panel per (protocol, base), one line per mode."""
    from kzoo.training.reports import pyplot
    from kzoo.utils.io import atomic_path

    plt = pyplot()
    rows = results["rows"]
    panels = sorted({(r["protocol"], r["model"]) for r in rows},
                    key=lambda k: (PROTOCOLS.index(k[0]), k[1])) or [("split", "lenet")]
    cols = 2
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(11, 4.2 * nrows), squeeze=False)
    styles = {"scratch": ("k", "o", "-"), "linear": ("C0", "s", "-"), "head": ("C1", "^", "-"),
              "full": ("C2", "D", "-"), "auto": ("C3", "x", ":")}
    for ax, (protocol, model) in zip(axes.flat, panels):
        for mode in MODES:
            points = sorted((r["n"], r["mean"], r["std"]) for r in rows
                            if (r["model"], r["protocol"], r["mode"]) == (model, protocol, mode))
            if not points:
                continue
            color, marker, line = styles[mode]
            ns, means, stds = zip(*points)
            ax.errorbar(ns, means, yerr=stds, color=color, marker=marker, linestyle=line,
                        capsize=3, label=mode, alpha=0.9)
        ax.set_xscale("log")
        ns = sorted({r["n"] for r in rows if r["protocol"] == protocol})
        ax.minorticks_off()
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.set_title(f"{model} — {protocol}", fontsize=10)
        ax.set_xlabel("labelled images per class (log scale)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- training

def base_dir(root, model):
    return os.path.join(root, f"base-{model}")


def build_base(model, classes):
    """Raw pixels 0–255 → scale → `create_model(model, classes)` (as `kzoo train` builds it)."""
    import keras

    from kzoo.models import registry

    pixels = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(pixels)
    return registry.create_model(model, input_tensor=x, input_shape=(28, 28, 1),
                                 classes=classes, weights=None)


def train_base(root, model, settings):
    """The split protocol's base: trained on classes 0–4, resumable. Returns its info dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kzoo.data import load_arrays, pipeline
    from kzoo.utils import io

    out = base_dir(root, model)
    epochs = settings["base_epochs"][model]
    info_path = os.path.join(out, "base.json")
    expected = {"epochs": epochs, "lr": settings["base_lr"],
                "batch_size": settings["base_batch_size"]}
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        if info["settings"] == expected:
            return info
        raise SystemExit(f"transfer: {out} holds a base trained with {info['settings']}, not "
                         f"{expected}; remove it (and its cells) to retrain")
    os.makedirs(out, exist_ok=True)
    x, y, _ = load_arrays("fashion_mnist", "train", classes=SOURCE_CLASSES)
    xt, yt, _ = load_arrays("fashion_mnist", "test", classes=SOURCE_CLASSES)
    keras.utils.set_random_seed(0)
    net = build_base(model, len(SOURCE_CLASSES))
    steps = int(np.ceil(len(x) / settings["base_batch_size"]))
    schedule = keras.optimizers.schedules.CosineDecay(settings["base_lr"], steps * epochs)
    net.compile(optimizer=keras.optimizers.Adam(schedule),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = pipeline.from_arrays(x, y, settings["base_batch_size"], shuffle=True,
                                    normalize=None, seed=0)
    print(f"transfer: training base {model} on {len(x):,} images of classes 0-4 for "
          f"{epochs} epochs into {out}", flush=True)
    start = time.time()
    net.fit(train_ds, epochs=epochs, verbose=2, callbacks=[
        keras.callbacks.BackupAndRestore(os.path.join(out, "backup")),
        keras.callbacks.CSVLogger(os.path.join(out, "history.csv"), append=True)])
    seconds = time.time() - start
    accuracy = float(np.mean(net.predict(xt, batch_size=500, verbose=0).argmax(-1) == yt))
    path = os.path.join(out, "model.keras")
    io.save_model(net, path)
    info = {"model": model, "settings": expected, "epochs": epochs, "train_images": len(x),
            "test_accuracy": accuracy, "train_seconds_last_session": round(seconds, 1),
            "path": os.path.relpath(path, os.path.dirname(__file__)),
            "tensorflow": tf.__version__}
    io.write_json(info_path, info)
    print(f"transfer: base {model}: test accuracy on classes 0-4 {accuracy:.4f}", flush=True)
    return info


def target_data(protocol, n, seed):
    from kzoo.data import load_arrays

    if protocol == "split":
        train = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES,
                            labels_per_class=n, seed=seed)[:2]
        test = load_arrays("fashion_mnist", "test", classes=TARGET_CLASSES)[:2]
        return train, test, len(TARGET_CLASSES), None
    train = load_arrays("digits", "train", labels_per_class=n, seed=seed)[:2]
    test = load_arrays("digits", "test")[:2]
    return train, test, 10, (8, 8, 1)


def new_model(root, model, protocol, classes, input_shape, pretrained=True):
    import keras

    from kzoo.transfer import classifier, load_base

    keras.backend.clear_session()
    if not pretrained:
        base = build_base(model, len(SOURCE_CLASSES) if protocol == "split" else 10)
    elif protocol == "split":
        base = load_base(os.path.join(base_dir(root, model), "model.keras"))[0]
    else:
        base = load_base(f"{model}_fashion_mnist")[0]
    return classifier(base, classes, input_shape=input_shape)


def recalibrate_batch_norm(net, images, dry_run=False):
    """Sets every BatchNorm layer's moving statistics to those of `images` (one batch).

    Keras' moving averages (momentum 0.99) barely leave their initial 0 / 1 in
    the few dozen steps of a few-label run, so a network trained from scratch
    is evaluated with statistics it never saw; this "precise BN" (Wu & Johnson,
    2021) pass fixes that without changing a trained weight. Returns the
    number of BatchNorm layers (0: nothing to do).
    """
    import keras

    from kzoo.transfer import is_batch_norm

    layers = [layer for layer in net.layers if is_batch_norm(layer)]
    if dry_run or not layers:
        return len(layers)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        net(keras.ops.convert_to_tensor(images), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def accuracy_on(net, data):
    import numpy as np

    x, y = data
    return float(np.mean(net.predict(x, batch_size=500, verbose=0).argmax(-1) == y))


def run_group(root, model, protocol, n, seed, settings, log=print):
    """Runs the missing cells of one (model, protocol, N, seed); returns the cells."""
    import keras
    import numpy as np

    from kzoo.transfer import choose_mode, fine_tune
    from kzoo.transfer.fine_tune import labels_per_class
    from kzoo.utils import io

    paths = {m: cell_path(root, model, protocol, n, m, seed) for m in MODES}
    expected = {m: cell_settings(settings, model, protocol, m) for m in MODES}
    cached = {m: read_cell(paths[m], expected[m]) for m in MODES}
    if all(cached.values()):
        return cached
    train, test, classes, input_shape = target_data(protocol, n, seed)
    bs = settings["batch_size"]

    def save(mode, net, seconds, history, **extra):
        cell = {"model": model, "protocol": protocol, "n": n, "mode": mode, "seed": seed,
                "test_accuracy": accuracy_on(net, test),
                "train_accuracy": float(history.history["accuracy"][-1]),
                "train_images": len(train[0]), "test_images": len(test[0]),
                "seconds": round(seconds, 1), "settings": expected[mode], **extra}
        io.write_json(paths[mode], cell)
        log(f"transfer: {model} {protocol} N={n} seed {seed} {mode}: "
            f"{cell['test_accuracy']:.4f} (train {cell['train_accuracy']:.3f}, "
            f"{seconds:.0f} s)")
        cached[mode] = cell

    if cached["scratch"] is None:
        net = new_model(root, model, protocol, classes, input_shape, pretrained=False)
        keras.utils.set_random_seed(seed)
        net.compile(optimizer=keras.optimizers.Adam(settings["scratch_lr"]),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.time()
        history = net.fit(*train, batch_size=bs, epochs=settings["scratch_epochs"], verbose=0)
        extra = {}
        if settings["precise_bn"] and recalibrate_batch_norm(net, train[0], dry_run=True):
            extra["test_accuracy_keras_bn_statistics"] = accuracy_on(net, test)
            recalibrate_batch_norm(net, train[0])
        save("scratch", net, time.time() - start, history, **extra)

    weights_path = os.path.join(os.path.dirname(paths["linear"]), f"linear-seed{seed}.npz")
    if cached["linear"] is None or not os.path.exists(weights_path):
        net = new_model(root, model, protocol, classes, input_shape)
        keras.utils.set_random_seed(seed)
        start = time.time()
        history = fine_tune(net, train, mode="linear", epochs=settings["linear_epochs"],
                            learning_rate=settings["linear_lr"], batch_size=bs, verbose=0)
        seconds = time.time() - start
        with io.atomic_path(weights_path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, *net.get_weights())
        save("linear", net, seconds, history)
    linear_seconds = cached["linear"]["seconds"]

    for mode in ("head", "full"):
        if cached[mode] is not None:
            continue
        net = new_model(root, model, protocol, classes, input_shape)
        with np.load(weights_path) as f:
            net.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
        keras.utils.set_random_seed(seed)
        start = time.time()
        history = fine_tune(net, train, mode=mode, epochs=settings["tune_epochs"],
                            head_epochs=0, learning_rate=settings["tune_lr"],
                            base_lr_factor=settings["base_lr_factor"], batch_size=bs,
                            verbose=0)
        save(mode, net, linear_seconds + time.time() - start, history,
             phase2_trainable=len(history.phases[-1]["trainable"]))

    if cached["auto"] is None:
        chosen = choose_mode(labels_per_class(train, classes))
        source = cached[chosen]
        cell = {**{k: source[k] for k in ("model", "protocol", "n", "seed", "test_accuracy",
                                          "train_accuracy", "train_images", "test_images",
                                          "seconds")},
                "mode": "auto", "chosen_mode": chosen, "settings": expected["auto"]}
        io.write_json(paths["auto"], cell)
        cached["auto"] = cell
        log(f"transfer: {model} {protocol} N={n} seed {seed} auto -> {chosen}")
    keras.backend.clear_session()
    return cached


def feature_probe(root, model, budgets, seeds):
    """Evidence on the split base's features: a logistic regression (scikit-learn, C=1, on
    standardized pooled features) on classes 5–9 with all 30,000 training images and with
    N per class, for the trained base and for the same network untrained (random init).
    Cached in `root/probe-<model>.json`."""
    import keras
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from kzoo.data import load_arrays

    path = os.path.join(root, f"probe-{model}.json")
    if os.path.exists(path):
        with open(path) as f:
            probe = json.load(f)
        if (probe.get("budgets"), probe.get("seeds"), probe.get("version")) == (
                list(budgets), list(seeds), 2):
            return probe
    x, y, _ = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES)
    xt, yt, _ = load_arrays("fashion_mnist", "test", classes=TARGET_CLASSES)
    probe = {"model": model, "budgets": list(budgets), "seeds": list(seeds), "version": 2}
    variants = [("pretrained", True, "output"), ("random_init", False, "output")]
    if model == "lenet":  # small enough a feature map to probe unpooled too
        variants += [("pretrained_flatten", True, "input"), ("random_init_flatten", False, "input")]
    for name, pretrained, end in variants:
        keras.utils.set_random_seed(0)
        net = new_model(root, model, "split", len(TARGET_CLASSES), None, pretrained=pretrained)
        pooler = net.get_layer("pooler")
        features = keras.Model(net.inputs, keras.layers.Flatten()(pooler.input)
                               if end == "input" else pooler.output)
        f, ft = (features.predict(a, batch_size=500, verbose=0) for a in (x, xt))

        def fit(fx, fy):
            scaler = StandardScaler().fit(fx)
            lr = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(fx), fy)
            return float(np.mean(lr.predict(scaler.transform(ft)) == yt))

        result = {"features": int(f.shape[-1]), "all_labels": fit(f, y)}
        for n in budgets:
            accs = []
            for seed in seeds:
                xs, ys, _ = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES,
                                        labels_per_class=n, seed=seed)
                fs = features.predict(xs, batch_size=500, verbose=0)
                accs.append(fit(fs, ys))
            result[f"n{n}"] = mean_std(accs)
        probe[name] = result
        print(f"transfer: probe {model} {name}: {result}", flush=True)
    from kzoo.utils import io

    io.write_json(path, probe)
    return probe


def probe_markdown(probes):
    if not probes:
        return []
    budgets = sorted({n for p in probes.values() for n in p["budgets"]})
    lines = ["", "Feature probe (split protocol; logistic regression on the standardized pooled "
                 "features (`flatten`: the unpooled last feature map), classes 5–9, mean ± std "
                 "over seeds): trained base against the same network untrained.", "",
             "| base | features | all 30,000 labels | " + " | ".join(
                 f"N={n}" for n in budgets) + " |",
             "|---|---|---|" + "---|" * len(budgets)]
    for model, p in sorted(probes.items()):
        for name in ("pretrained", "random_init", "pretrained_flatten", "random_init_flatten"):
            if name not in p:
                continue
            r = p[name]
            lines.append(f"| `{model}` {name.replace('_', ' ')} | {r['features']} | "
                         f"{r['all_labels']:.3f} | " + " | ".join(
                             f"{r[f'n{n}'][0]:.3f} ± {r[f'n{n}'][1]:.3f}"
                             if f"n{n}" in r else "—" for n in budgets) + " |")
    return lines


def probe_infos(root, models):
    probes = {}
    for model in models:
        path = os.path.join(root, f"probe-{model}.json")
        if os.path.exists(path):
            with open(path) as f:
                probes[model] = json.load(f)
    return probes


# ---------------------------------------------------------------- driver

def machine():
    import tensorflow as tf

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__}


def base_infos(root, models):
    infos = {}
    for model in models:
        path = os.path.join(base_dir(root, model), "base.json")
        if os.path.exists(path):
            with open(path) as f:
                infos[model] = json.load(f)
    return infos


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
            "probes": probe_infos(root, models), "rows": rows, "verdicts": verdicts, "goal_verdict": goal,
            "missing": missing_cells(cells, plan), "planned": len(plan), "cells": cells}


def report(results):
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
                    report(results())
    if ns.probe:
        for model in models:
            if os.path.exists(os.path.join(base_dir(root, model), "model.keras")):
                feature_probe(root, model, budgets, seeds)
    final = results()
    report(final)
    print(to_markdown(final))


if __name__ == "__main__":
    main()
