"""The accuracy benchmark's report: learning curves, the 60-minute verdict, the plot."""

import os

import pytest

from benchmarks import fashion_mnist_accuracy as bench


def write_history(run_dir, rows, timed=True):
    os.makedirs(run_dir)
    header = "epoch,accuracy,epoch_seconds,val_accuracy" if timed else "epoch,accuracy,val_accuracy"
    lines = [header]
    for epoch, (seconds, val) in enumerate(rows):
        lines.append(f"{epoch},0.5,{seconds},{val}" if timed else f"{epoch},0.5,{val}")
    with open(os.path.join(run_dir, "history.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def test_learning_curve_accumulates_epoch_times(tmp_path):
    write_history(tmp_path / "run", [(30, 0.8), (60, 0.85), (90, 0.9)])
    curve = bench.learning_curve(tmp_path / "run", train_seconds=999)
    assert curve == {"minutes": [0.5, 1.5, 3.0], "val_accuracy": [0.8, 0.85, 0.9], "timed": True}


def test_learning_curve_spreads_total_time_without_epoch_times(tmp_path):
    write_history(tmp_path / "run", [(0, 0.8), (0, 0.9)], timed=False)
    curve = bench.learning_curve(tmp_path / "run", train_seconds=240)
    assert curve["minutes"] == [2.0, 4.0] and not curve["timed"]


def results(rows):
    return {"machine": {"cpus": 2, "tensorflow": "x"}, "goal": "0.95 in 60 min",
            "published": bench.PUBLISHED, "rows": rows}


def row(model, accuracies, seconds):
    return {"model": model, "seeds": list(range(len(accuracies))), "test_accuracy": accuracies,
            "train_seconds": seconds, "params": 1000, "accuracy_mean": sum(accuracies) / 2,
            "accuracy_std": 0.0, "seconds_mean": sum(seconds) / 2,
            "config": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.1,
                       "schedule": "cosine"},
            "curves": [{"minutes": [s / 60], "val_accuracy": [a], "timed": True}
                       for a, s in zip(accuracies, seconds)]}


@pytest.mark.parametrize("accuracy, verdict", [(0.951, "— met"), (0.949, "— not met")])
def test_verdict_counts_only_runs_within_60_minutes(accuracy, verdict):
    # The 0.97 run took 61 minutes: it must not count.
    r = results([row("a", [accuracy, 0.90], [3500, 100]), row("b", [0.97, 0.5], [3660, 10])])
    assert bench.best_within(r)[:3] == ("a", 0, accuracy)
    assert verdict in bench.to_markdown(r)


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "acc.png"
    bench.plot(results([row("a", [0.9, 0.91], [100, 120])]), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
