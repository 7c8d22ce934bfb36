"""Multi-worker training: 2 real worker processes on localhost (TF_CONFIG per process).

Keras's `fit` fails under MultiWorkerMirroredStrategy, so `kzoo train --strategy
multi_worker` trains with kzoo.distribute's `strategy.run` loop. Checked here:
both workers end with the same weights, equal to one process at the same
global batch; only the chief writes; killing both workers mid-run and running
the same command again resumes after the last completed epoch and ends where
an uninterrupted run ends. Every process is started and stopped by the test,
with timeouts, so nothing hangs.

Heavy: 7 TensorFlow processes, about 70 s of CPU (6.5 min of wall time on the
2 busy cores it was measured on). The default run still exercises the same code on one worker
(tests/training/test_train_strategy.py: `kzoo train --strategy multi_worker`)
and the loop on 2 in-process replicas (tests/distribute/test_fit_distributed.py).
"""

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo  # noqa: F401  (registers kzoo layers: load_model reads model.keras)

HERE = Path(__file__).parent
TIMEOUT = 600  # seconds for a session of the workers: ~15 s on idle cores, minutes on busy ones
EPOCHS = 4
CONFIG = dict(model="mlp", dataset="digits", epochs=EPOCHS, batch_size=128, validation_size=200,
              optimizer="momentum", learning_rate=0.05, model_kwargs={"hidden_units": [32]})
pytestmark = [pytest.mark.heavy, pytest.mark.timeout(3 * TIMEOUT)]
CLI_OPTIONS = ["mlp", "--dataset", "digits", "--epochs", str(EPOCHS), "--batch-size", "128",
               "--validation-size", "200", "--optimizer", "momentum", "--learning-rate", "0.05",
               "--model-arg", "hidden_units=[32]", "--strategy", "multi_worker"]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_configs(n):
    workers = [f"localhost:{port}" for port in _free_ports(n)]
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            for i in range(n)]


def _start(command, log, tf_config=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    with open(log, "w") as f:
        return subprocess.Popen(command, env=env, stdout=f, stderr=subprocess.STDOUT)


def _finish(processes, logs, timeout=TIMEOUT):
    """Waits for every process (killing all on a timeout); each must exit with 0."""
    deadline = time.time() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.time(), 1))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, log in zip(processes, logs):
        assert process.returncode == 0, f"{log} exited {process.returncode}:\n" + \
            Path(log).read_text()[-3000:]


def _driver(output, weights, log, tf_config=None):
    command = [sys.executable, str(HERE / "multi_worker_driver.py"), str(output), str(weights),
               json.dumps(CONFIG)]
    return _start(command, log, tf_config)


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in f.files]


def _history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def _largest_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Two workers (worker 1 told to write elsewhere) and one lone process, at once."""
    tmp = tmp_path_factory.mktemp("multi_worker")
    chief, other = _tf_configs(2)
    logs = [tmp / "worker0.log", tmp / "worker1.log", tmp / "single.log"]
    processes = [
        _driver(tmp / "run", tmp / "worker0.npz", logs[0], chief),
        # Its own --output: were it to write anything, it would show there.
        _driver(tmp / "run-worker1", tmp / "worker1.npz", logs[1], other),
        _driver(tmp / "single", tmp / "single.npz", logs[2]),  # no TF_CONFIG: one worker
    ]
    _finish(processes, logs)
    return tmp


def test_two_workers_train_as_one_process_and_only_the_chief_writes(uninterrupted):
    tmp = uninterrupted
    worker0, worker1 = _weights(tmp / "worker0.npz"), _weights(tmp / "worker1.npz")
    for a, b in zip(worker0, worker1):
        np.testing.assert_array_equal(a, b)  # all-reduced: the same on both workers
    assert _largest_difference(worker0, _weights(tmp / "single.npz")) <= 1e-5
    assert not (tmp / "run-worker1").exists()  # worker 1 wrote nothing
    run = tmp / "run"
    for name in ("run.json", "history.csv", "model.keras", "metrics.json", "curves.png",
                 "confusion_matrix.png"):
        assert (run / name).exists(), name
    assert [int(row["epoch"]) for row in _history(run)] == list(range(EPOCHS))
    assert json.loads((run / "run.json").read_text())["distribution"] == {
        "strategy": "MultiWorkerMirroredStrategy", "replicas": 2}
    saved = keras.saving.load_model(run / "model.keras").get_weights()
    assert _largest_difference(saved, worker0) == 0.0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.8  # an MLP on digits; chance is 0.1
    lone = json.loads((tmp / "single" / "metrics.json").read_text())
    assert abs(metrics["test_accuracy"] - lone["test_accuracy"]) < 1e-9


def test_killed_workers_resume_with_the_same_command(uninterrupted, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "kzoo", "train", *CLI_OPTIONS, "--output", str(run)]
    logs = [tmp_path / "first0.log", tmp_path / "first1.log"]
    processes = [_start(command, log, tf_config)
                 for log, tf_config in zip(logs, _tf_configs(2))]
    try:  # kill both once two epochs are done
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and not (
                (run / "history.csv").exists() and len(_history(run)) >= 2):
            assert all(p.poll() is None for p in processes), [log.read_text() for log in logs]
            time.sleep(0.05)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    before = _history(run)
    assert 2 <= len(before) < EPOCHS and not (run / "metrics.json").exists()
    # The chief's backup: the epochs completed and committed before the kill.
    committed = json.loads((run / "checkpoint" / "training_metadata.json").read_text())["epoch"]
    assert 1 <= committed <= len(before)

    logs = [tmp_path / "second0.log", tmp_path / "second1.log"]
    _finish([_start(command, log, tf_config) for log, tf_config in zip(logs, _tf_configs(2))],
            logs)
    after = _history(run)
    assert [int(row["epoch"]) for row in after] == list(range(EPOCHS))
    assert not (run / "checkpoint").exists()  # a finished run drops its backup
    # Continued, not restarted: the first session's committed rows are kept as they were,
    # and the second session began with the epoch after them.
    assert after[:committed] == before[:committed]
    first = next(line for line in logs[0].read_text().splitlines() if line.startswith("Epoch "))
    assert first.startswith(f"Epoch {committed + 1}/{EPOCHS} "), first
    # The batches depend on the seed and the epoch alone: the resumed run ends where the
    # uninterrupted one ended.
    resumed = keras.saving.load_model(run / "model.keras").get_weights()
    reference = keras.saving.load_model(uninterrupted / "run" / "model.keras").get_weights()
    assert _largest_difference(resumed, reference) <= 1e-5
