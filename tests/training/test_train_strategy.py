"""`kzoo train --strategy/--cpu-replicas`, and resuming a run under another strategy.

The CLI splits the CPU before TensorFlow starts, so it runs as a subprocess;
tests/conftest.py already split this process's CPU in two, so the in-process
runs here use `--cpu-replicas 2` (a no-op) and nothing else.
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import keras
import pytest
from click.testing import CliRunner

from kzoo.cli import main
from kzoo.training import TrainConfig, train

TIMEOUT = 240
OPTIONS = ["mlp", "--dataset", "digits", "--batch-size", "64", "--validation-size", "100",
           "--model-arg", "hidden_units=[16]"]
CONFIG = dict(model="mlp", dataset="digits", epochs=3, batch_size=64, validation_size=100,
              model_kwargs={"hidden_units": [16]})


def _kzoo_train(*args):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, "-m", "kzoo", "train", *OPTIONS, *args],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def _epochs(run):
    with open(os.path.join(run, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _distribution(run):
    with open(os.path.join(run, "run.json")) as f:
        return json.load(f)["distribution"]


@pytest.mark.parametrize("args, expected", [
    # Heavy (about 9 s; the README's and the distributed guide's examples train on 2 CPU
    # replicas by default; moved out of the default run to keep it under 15 minutes on 2 cores):
    # `./scripts/run test-heavy` runs it.
    pytest.param(["--strategy", "mirrored", "--cpu-replicas", "2", "--epochs", "1"],
                 {"strategy": "MirroredStrategy", "replicas": 2}, marks=pytest.mark.heavy),
    # One worker without TF_CONFIG: kzoo's own strategy.run loop, not Keras's fit. Heavy too
    # (about 11 s; tests/distribute runs the loop itself in the default run).
    pytest.param(["--strategy", "multi_worker", "--epochs", "1"],
                 {"strategy": "MultiWorkerMirroredStrategy", "replicas": 1},
                 marks=pytest.mark.heavy),
], ids=["mirrored-2-cpus", "multi_worker-alone"])
def test_kzoo_train_with_a_strategy(tmp_path, args, expected):
    run = str(tmp_path / "run")
    result = _kzoo_train(*args, "--output", run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    assert _distribution(run) == expected
    if expected["replicas"] > 1:
        assert f"{expected['replicas']} replicas" in result.stderr
    for name in ("model.keras", "metrics.json", "curves.png", "confusion_matrix.png"):
        assert os.path.exists(os.path.join(run, name)), name
    assert _epochs(run) == list(range(len(_epochs(run))))
    assert not os.path.exists(os.path.join(run, "checkpoint"))
    # The strategy is not part of the configuration (nor of the reproducing command).
    with open(os.path.join(run, "run.json")) as f:
        assert "--strategy" not in json.load(f)["command"]


class _StopAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


@pytest.mark.heavy
def test_a_run_resumes_under_another_strategy(tmp_path):
    run = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[_StopAfterEpoch()])
    assert _distribution(run) == {"strategy": "default", "replicas": 1}
    result = CliRunner().invoke(main, ["train", *OPTIONS, "--epochs", "3", "--output", run,
                                       "--strategy", "mirrored", "--cpu-replicas", "2"])
    assert result.exit_code == 0, result.output
    assert _epochs(run) == [0, 1, 2]
    assert _distribution(run) == {"strategy": "MirroredStrategy", "replicas": 2}


@pytest.mark.parametrize("args, message", [
    (["--cpu-replicas", "0"], "Argument `cpu_replicas` must be an int >= 1"),
    (["--strategy", "one_device", "--cpu-replicas", "2"], "needs strategy 'mirrored' or 'auto'"),
    (["--strategy", "tpu"], "Invalid value for '--strategy'"),
])
def test_bad_strategy_options_are_one_line_errors(tmp_path, args, message):
    result = CliRunner().invoke(main, ["train", *OPTIONS, "--output", str(tmp_path / "r"),
                                       *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert not os.path.exists(tmp_path / "r")


def test_pipelines_split_evenly_across_replicas():
    # Keras 3.15 all-reduces the first batch of fit's and evaluate's data to build the
    # model under several replicas: it must split evenly (143 validation images -> 142).
    from kzoo.training import TrainConfig
    from kzoo.training.trainer import load_data

    config = TrainConfig("mlp", "digits", batch_size=64).resolved()
    data = load_data(config)
    assert len(data.validation[0]) == 143
    train, validation = data.pipelines(config, replicas=2)
    assert [len(b[0]) for b in validation] == [142, 1]
    assert [len(b[0]) for b in data.pipelines(config)[1]] == [143]
    with pytest.raises(ValueError, match="`batch_size` .* multiple of the 2 replicas"):
        data.pipelines(dataclasses.replace(config, batch_size=33), replicas=2)
