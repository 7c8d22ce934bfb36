"""Fashion-MNIST test accuracy against wall time, mean ± std over seeds.

Trains each configuration below with `kzoo.training.train` for every seed (run
directories under `benchmarks/runs/`, so a killed benchmark resumes where it
stopped), and reports test accuracy and training wall time on this machine
beside the published Fashion-MNIST results. Writes
`benchmarks/results/fashion_mnist_accuracy.json` and `.md`.

    python -m benchmarks fashion_mnist_accuracy [--models lenet,resnet20] [--seeds 0,1,2]
"""

import argparse
import json
import math
import os
import statistics

from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_note, machine_text,
                                   read_results, write_results)

# The configurations the zoo ships (see saved_models/manifest.json).
CONFIGS = {
    "lenet": dict(model="lenet", epochs=12, optimizer="adam", learning_rate=0.002,
                  schedule="cosine"),
    "resnet20": dict(model="resnet20", epochs=15, optimizer="adam", learning_rate=0.002,
                     schedule="cosine", augment="flip,crop"),
    # The compute-efficient recipe: ResNet-9 narrowed to width 16 (413,776 parameters),
    # Page's one-cycle SGD with random erasing, label smoothing and flip TTA.
    "resnet9": dict(model="resnet9", model_kwargs={"width": 16}, epochs=40, batch_size=256,
                    optimizer="nesterov", learning_rate=0.2, schedule="onecycle",
                    weight_decay=5e-3, augment="flip,crop,erase", label_smoothing=0.1,
                    tta=True),
}

# Published Fashion-MNIST test accuracies (Zalando's benchmark table and papers).
PUBLISHED = [
    ("2-conv CNN", 0.916),
    ("2-conv CNN with BatchNorm", 0.934),
    ("VGG16", 0.935),
    ("ResNet18", 0.949),
    ("MobileNet", 0.950),
    ("WRN-28-10", 0.959),
]

GOAL_ACCURACY, GOAL_MINUTES = 0.95, 60

RUNS_DIR = os.path.join(os.path.dirname(__file__), "runs")


def run_dir(model, seed):
    return os.path.join(RUNS_DIR, f"{model}-seed{seed}")


def run(models, seeds):
    from kzoo.training import TrainConfig, train

    rows = []
    for name in models:
        results = []
        for seed in seeds:
            config = TrainConfig(dataset="fashion_mnist", seed=seed, **CONFIGS[name])
            metrics = dict(train(config, run_dir(name, seed)))
            # Runs made before epoch times were logged only know their last session.
            metrics.setdefault("train_seconds", metrics["train_seconds_this_session"])
            metrics["curve"] = learning_curve(run_dir(name, seed), metrics["train_seconds"])
            results.append(metrics)
            print(f"{name} seed {seed}: test accuracy {metrics['test_accuracy']:.4f} in "
                  f"{metrics['train_seconds']:.0f} s", flush=True)
        accuracies = [m["test_accuracy"] for m in results]
        seconds = [m["train_seconds"] for m in results]
        rows.append({
            "model": name,
            "config": CONFIGS[name],
            "seeds": list(seeds),
            "test_accuracy": accuracies,
            "accuracy_mean": statistics.mean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "train_seconds": seconds,
            "seconds_mean": statistics.mean(seconds),
            "curves": [m["curve"] for m in results],
            "params": results[0]["params"],
            "command": results[0]["command"],
        })
    return {
        "benchmark": "fashion_mnist_accuracy",
        "machine": machine(),
        "goal": f"a zoo model >= {GOAL_ACCURACY} within {GOAL_MINUTES} minutes of this machine",
        "rows": rows,
        "published": PUBLISHED,
    }


def learning_curve(run_dir, train_seconds):
    """Validation accuracy against cumulative training minutes, from history.csv.

    Runs made before epoch times were logged get their total time spread evenly
    over the epochs (`"timed": False`).
    """
    from kzoo.training.reports import read_history

    history = read_history(os.path.join(run_dir, "history.csv"))
    accuracy = history.get("val_accuracy", [])
    seconds = history.get("epoch_seconds")
    timed = seconds is not None and not any(math.isnan(s) for s in seconds)
    if not timed:
        seconds = [train_seconds / max(len(accuracy), 1)] * len(accuracy)
    minutes = [round(sum(seconds[:i + 1]) / 60, 3) for i in range(len(accuracy))]
    return {"minutes": minutes, "val_accuracy": accuracy, "timed": timed}


def best_within(results, minutes=GOAL_MINUTES):
    """The most accurate run whose training fit in `minutes`: (model, seed, accuracy, min)."""
    runs = [(row["model"], seed, acc, sec / 60)
            for row in results["rows"]
            for seed, acc, sec in zip(row["seeds"], row["test_accuracy"], row["train_seconds"])
            if sec <= minutes * 60]
    return max(runs, key=lambda r: r[2]) if runs else None


def plot(results, path):
    """Validation accuracy against wall time for every run; final test accuracy as a star."""
    from kzoo.training.reports import pyplot
    from kzoo.utils.io import atomic_path

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, row in zip(colors, results["rows"]):
        for i, curve in enumerate(row.get("curves", [])):
            label = f"{row['model']} (validation)" if i == 0 else None
            style = "-" if curve["timed"] else ":"
            ax.plot(curve["minutes"], curve["val_accuracy"], style, color=color, alpha=0.7,
                    marker=".", label=label)
        ax.plot([s / 60 for s in row["train_seconds"]], row["test_accuracy"], "*",
                color=color, markersize=12, label=f"{row['model']} test, end of training")
    for i, (name, accuracy) in enumerate(sorted(results["published"], key=lambda p: p[1])):
        ax.axhline(accuracy, color="grey", linewidth=0.6, linestyle="--")
        # Alternate sides, so close accuracies don't print over each other.
        x, align = (0.005, "left") if i % 2 else (0.995, "right")
        ax.text(x, accuracy, f"{name} {accuracy:.3f}", transform=ax.get_yaxis_transform(),
                ha=align, va="bottom", fontsize=7, color="grey")
    ax.axvline(GOAL_MINUTES, color="red", linewidth=0.8, linestyle="--")
    ax.axhline(GOAL_ACCURACY, color="red", linewidth=0.8, linestyle="--",
               label=f"goal: {GOAL_ACCURACY} in {GOAL_MINUTES} min")
    ax.set_xscale("log")
    ax.set_ylim(0.85, 0.965)
    ax.set_xlabel(f"training wall time, minutes ({results['machine']['cpus']} CPU cores, log scale)")
    ax.set_ylabel("Fashion-MNIST accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower center", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def describe(c):
    """A recipe in words, from its configuration (only what it sets)."""
    parts = [f"{c['epochs']} epochs", f"{c['optimizer']} {c['learning_rate']}", c["schedule"]]
    parts += [f"{k}={v}" for k, v in c.get("model_kwargs", {}).items()]
    for key, label in (("batch_size", "batch"), ("weight_decay", "weight decay"),
                       ("augment", "augment"), ("label_smoothing", "label smoothing")):
        if c.get(key):
            parts.append(f"{label} {c[key]}")
    if c.get("tta"):
        parts.append("flip TTA")
    return ", ".join(parts)


def to_markdown(results):
    lines = [
        f"Fashion-MNIST test accuracy, mean ± std over seeds, training wall time on "
        f"{machine_text(results['machine'])}, TF {results['machine']['tensorflow']}:",
        "",
        "| model | params | seeds | test accuracy | train time (mean) | recipe |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        recipe = describe(row["config"])
        spread = f" ± {row['accuracy_std']:.4f}" if len(row["seeds"]) > 1 else " (one seed)"
        lines.append(
            f"| `{row['model']}` | {row['params']:,} | {len(row['seeds'])} | "
            f"{row['accuracy_mean']:.4f}{spread} | "
            f"{row['seconds_mean'] / 60:.1f} min | {recipe} |"
        )
    best = best_within(results)
    if best is None:
        verdict = f"no run finished training within {GOAL_MINUTES} minutes"
    else:
        verdict = (f"best test accuracy within {GOAL_MINUTES} minutes: {best[2]:.4f} ({best[0]} "
                   f"seed {best[1]}, {best[3]:.1f} min) — "
                   f"{'met' if best[2] >= GOAL_ACCURACY else 'not met'}")
    lines += ["", "Published: " + ", ".join(f"{n} {a:.3f}" for n, a in results["published"])
              + ".", f"Goal: {results['goal']}; {verdict}.", "",
              "![accuracy against wall time](fashion_mnist_accuracy.png)"]
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's table and verdict: `results/fashion_mnist_accuracy.json` through
    `to_markdown` (the page shows the plot itself)."""
    results = read_results("fashion_mnist_accuracy", results_dir)
    note = machine_note(results["machine"])
    return for_docs(to_markdown(results)) + (f"\n{note}" if note else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet,resnet20")
    parser.add_argument("--seeds", default="0,1,2")
    ns = parser.parse_args(argv)
    models = [m for m in ns.models.split(",") if m]
    unknown = [m for m in models if m not in CONFIGS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; expected some of {sorted(CONFIGS)}")
    results = run(models, [int(s) for s in ns.seeds.split(",")])
    # Keep the rows of models not run this time (each model may use its own seeds).
    previous = os.path.join(RESULTS_DIR, "fashion_mnist_accuracy.json")
    if os.path.exists(previous):
        with open(previous) as f:
            kept = [r for r in json.load(f)["rows"] if r["model"] not in models]
        for row in kept:  # rows written before curves were recorded
            if "curves" not in row and all(
                    os.path.isdir(run_dir(row["model"], seed))
                    for seed in row["seeds"]):
                row["curves"] = [
                    learning_curve(run_dir(row["model"], seed), sec)
                    for seed, sec in zip(row["seeds"], row["train_seconds"])]
        results["rows"] = sorted(kept + results["rows"], key=lambda r: r["model"])
    plot(results, os.path.join(RESULTS_DIR, "fashion_mnist_accuracy.png"))
    write_results("fashion_mnist_accuracy", results, to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
