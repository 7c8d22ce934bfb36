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
import os
import platform
import statistics

import tensorflow as tf

from benchmarks.results_io import RESULTS_DIR, write_results

# The configurations the zoo ships (see saved_models/manifest.json).
CONFIGS = {
    "lenet": dict(model="lenet", epochs=12, optimizer="adam", learning_rate=0.002,
                  schedule="cosine"),
    "resnet20": dict(model="resnet20", epochs=15, optimizer="adam", learning_rate=0.002,
                     schedule="cosine", augment="flip,crop"),
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

RUNS_DIR = os.path.join(os.path.dirname(__file__), "runs")


def run(models, seeds):
    from kzoo.training import TrainConfig, train

    rows = []
    for name in models:
        results = []
        for seed in seeds:
            config = TrainConfig(dataset="fashion_mnist", seed=seed, **CONFIGS[name])
            metrics = dict(train(config, os.path.join(RUNS_DIR, f"{name}-seed{seed}")))
            # Runs made before epoch times were logged only know their last session.
            metrics.setdefault("train_seconds", metrics["train_seconds_this_session"])
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
            "params": results[0]["params"],
            "command": results[0]["command"],
        })
    return {
        "benchmark": "fashion_mnist_accuracy",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "tensorflow": tf.__version__},
        "goal": "a zoo model >= 0.95 within 60 minutes of this machine",
        "rows": rows,
        "published": PUBLISHED,
    }


def to_markdown(results):
    lines = [
        f"Fashion-MNIST test accuracy, mean ± std over seeds, training wall time on "
        f"{results['machine']['cpus']} CPU cores (TF {results['machine']['tensorflow']}):",
        "",
        "| model | params | seeds | test accuracy | train time (mean) | recipe |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        c = row["config"]
        recipe = (f"{c['epochs']} epochs, {c['optimizer']} {c['learning_rate']}, "
                  f"{c['schedule']}" + (f", augment {c['augment']}" if c.get("augment") else ""))
        lines.append(
            f"| `{row['model']}` | {row['params']:,} | {len(row['seeds'])} | "
            f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} | "
            f"{row['seconds_mean'] / 60:.1f} min | {recipe} |"
        )
    lines += ["", "Published: " + ", ".join(f"{n} {a:.3f}" for n, a in results["published"])
              + ".", f"Goal: {results['goal']}."]
    return "\n".join(lines) + "\n"


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
        results["rows"] = sorted(kept + results["rows"], key=lambda r: r["model"])
    write_results("fashion_mnist_accuracy", results, to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
