"""tuning/*.py: each search program run as a user runs it, on a small budget."""

import csv
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(program, *args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tuning", program), *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


# Heavy (about 20 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_coarse_to_fine_program(tmp_path):
    # The LeNet space's names are all `kzoo train` options, so it also tunes an MLP on the
    # 8x8 digits (LeNet needs 16x16 at least): the same program, a budget of seconds.
    out = tmp_path / "search"
    line = _run("lenet_coarse_to_fine.py", "--model", "mlp", "--dataset", "digits",
                "--stages", "2x1,1x1", "--output", str(out), cwd=tmp_path)
    assert line.startswith("result: best val_accuracy ") and "test accuracy" in line, line
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["stage"] for r in rows] == ["1", "1", "2"]
    assert {"learning_rate", "weight_decay", "optimizer", "batch_size"} <= set(rows[0])
    assert (out / "best" / "metrics.json").is_file()


# Heavy (about 20 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_depth_and_width_program(tmp_path):
    # The preset's depths and widths (up to resnet44 x4) cost minutes a trial; this space
    # keeps the smallest depth and widths 1-2, one trial.
    space = tmp_path / "small.toml"
    space.write_text('[model]\ntype = "choice"\nvalues = ["resnet20"]\n'
                     '[width]\ntype = "int"\nmin = 1\nmax = 2\n')
    out = tmp_path / "search"
    line = _run("resnet_depth_width.py", "--dataset", "digits", "--space", str(space),
                "--stages", "1x1", "--no-retrain", "--output", str(out), cwd=tmp_path)
    assert line.startswith("result: best resnet") and " width " in line, line
    best = json.loads((out / "best.json").read_text())
    assert best["values"]["model"] == "resnet20"
    assert 1 <= best["values"]["width"] <= 2
    assert best["command"].startswith(f"kzoo train {best['values']['model']} ")
    assert f"--model-arg width={best['values']['width']}" in best["command"]
