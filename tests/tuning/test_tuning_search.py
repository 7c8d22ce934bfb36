"""`kzoo.tuning.search` / `kzoo tune`: real searches on the digits (a few seconds a trial)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import kzoo

SPACE = {"learning_rate": {"type": "choice", "values": [0.003, 50.0]},
         "batch_size": {"type": "choice", "values": [32, 64]}}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# Heavy (about 23 s; the docs' tuning guide runs a staged search with a diverged trial by default;
# moved out of the default run to keep it under 15 minutes on 2 cores): `./scripts/run test-heavy`
# runs it.
@pytest.mark.heavy
def test_coarse_to_fine_search_with_diverged_trials_and_the_best_retrained(tmp_path, capfd):
    out = tmp_path / "search"
    trials = kzoo.tuning.search("mlp", dataset="digits", space=SPACE, algorithm="random",
                                stages="4x1,2x1", output_dir=out, seed=0)
    err = capfd.readouterr().err
    rows = _rows(out / "trials.csv")
    assert list(rows[0]) == ["trial_id", "stage", "learning_rate", "batch_size",
                             "val_accuracy", "val_loss", "epochs", "seconds", "status"]
    assert len(rows) == len(trials) == 6
    stage1 = [r for r in rows if r["stage"] == "1"]
    # The four combinations, each once; learning rate 50 blows up past 3x its first loss.
    assert sorted((r["learning_rate"], r["batch_size"]) for r in stage1) == [
        ("0.003", "32"), ("0.003", "64"), ("50.0", "32"), ("50.0", "64")]
    for r in stage1:
        assert r["status"] == ("diverged" if r["learning_rate"] == "50.0" else "completed")
    # Stage 2 searches the space narrowed to the top trials' choices: no 50.0 any more.
    assert json.loads((out / "stage2" / "space.json").read_text())["learning_rate"] == {
        "type": "choice", "values": [0.003]}
    assert {r["learning_rate"] for r in rows if r["stage"] == "2"} == {"0.003"}
    assert err.count("kzoo tune: stage1 trial") == 4 and err.count("kzoo tune: stage2 trial") == 2
    assert "diverged" in err and "space narrowed around the best 2 of 2" in err
    # best.json names the kzoo train command that reproduces the best trial, and its
    # retrained run gets exactly the trial's validation accuracy.
    best = json.loads((out / "best.json").read_text())
    completed = [r for r in rows if r["status"] == "completed"]
    assert best["val_accuracy"] == max(float(r["val_accuracy"]) for r in completed)
    assert best["command"].startswith("kzoo train mlp --dataset digits --epochs 1 ")
    assert f"--learning-rate {best['values']['learning_rate']!r}" in best["command"]
    assert best["retrained"]["best_val_accuracy"] == pytest.approx(best["val_accuracy"],
                                                                    abs=1e-6)
    assert (out / "best" / "model.keras").is_file()
    assert (out / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # TensorBoard's hparams plugin logs, one folder per trial.
    logs = out / "logs" / "stage1"
    assert sorted(os.listdir(logs)) == sorted(r["trial_id"] for r in stage1)
    events = [os.path.join(d, f) for d, _, fs in os.walk(logs) for f in fs if "tfevents" in f]
    assert any(b"hparams" in open(p, "rb").read() for p in events)
    # A finished search run again only reports.
    again = kzoo.tuning.search("mlp", dataset="digits", space=SPACE, algorithm="random",
                               stages="4x1,2x1", output_dir=out, seed=0)
    assert [t["trial_id"] for t in again] == [t["trial_id"] for t in trials]


def _kzoo(*args, **kw):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "kzoo", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _records(out):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs
                  if f == "kzoo_trial.json")


# Heavy (about 25 s, and timing-sensitive under load; moved out of the default run to keep it under
# 15 minutes on 2 cores): `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_a_killed_search_resumes_and_a_different_one_is_refused(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[learning_rate]\ntype = "log_uniform"\nmin = 1e-3\nmax = 1e-2\n')
    out = str(tmp_path / "search")
    args = ["tune", "mlp", "--dataset", "digits", "--space", str(space), "--max-trials", "4",
            "--epochs", "1", "--no-retrain", "--output", out]
    proc = _kzoo(*args)
    deadline = time.time() + 240
    while len(_records(out)) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p: os.stat(p).st_mtime_ns for p in _records(out)}
    assert 2 <= len(first) < 4
    proc = _kzoo(*args)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    assert "4 trials (4 completed)" in stdout
    rows = _rows(os.path.join(out, "trials.csv"))
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2", "3"]
    # The trials completed before the kill were not run again.
    assert {p: os.stat(p).st_mtime_ns for p in first} == first
    assert f"{len(first)} done before" in stderr
    proc = _kzoo(*(a if a != "4" else "5" for a in args))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "was made with other settings" in stderr and "stages" in stderr


def test_a_user_folder_is_never_a_search_directory(tmp_path):
    (tmp_path / "mine.txt").write_text("my notes")
    with pytest.raises(ValueError, match="not a kzoo run"):
        kzoo.tuning.search("mlp", dataset="digits", space=SPACE, max_trials=1, epochs=1,
                           output_dir=tmp_path)
    assert os.listdir(tmp_path) == ["mine.txt"]


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithm": "annealing"}, "`algorithm` must be one of"),
    ({"stages": "4x"}, "`stages` must be TRIALSxEPOCHS"),
    ({"max_trials": 0}, "`max_trials` must be an int >= 1"),
    ({"precision": "float16"}, "`precision` must be one of"),
    ({"space": {"lr": {"type": "uniform", "min": 0, "max": 1}}}, "lr: not an option"),
    ({"base_options": {"epochs": 3}}, "`base_options` cannot set \\['epochs'\\]"),
    ({"workers": -1}, "`workers` must be an int >= 0"),
])
def test_bad_arguments_fail_before_anything_is_written(tmp_path, kwargs, match):
    args = dict(dataset="digits", space=SPACE, max_trials=1, epochs=1,
                output_dir=tmp_path / "s")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kzoo.tuning.search("mlp", **args)
    assert not (tmp_path / "s").exists()


# Heavy (about 40 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_distributed_search_over_two_workers_survives_a_killed_worker(tmp_path):
    """KerasTuner's chief/worker protocol on localhost: 6 trials over 2 worker processes;
    worker0 is killed mid-search, started again by the chief, and takes its trial back."""
    space = tmp_path / "space.toml"
    space.write_text('[learning_rate]\ntype = "log_uniform"\nmin = 1e-3\nmax = 1e-2\n'
                     '[batch_size]\ntype = "choice"\nvalues = [32, 64]\n')
    out = str(tmp_path / "search")
    proc = _kzoo("tune", "mlp", "--dataset", "digits", "--space", str(space), "--max-trials",
                 "6", "--epochs", "1", "--workers", "2", "--no-retrain", "--output", out)
    workers_file = os.path.join(out, "workers.json")
    deadline = time.time() + 240
    killed = None
    while killed is None:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.2)
        by_worker0 = [p for p in _records(out) if json.load(open(p))["tuner_id"] == "worker0"]
        if by_worker0 and os.path.exists(workers_file):
            time.sleep(1.0)  # into its next trial
            pid = json.load(open(workers_file))["workers"]["worker0"]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed = pid
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    rows = _rows(os.path.join(out, "trials.csv"))
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2", "3", "4", "5"]
    assert all(r["status"] == "completed" for r in rows)
    tuners = {json.load(open(p))["tuner_id"] for p in _records(out)}
    assert tuners == {"worker0", "worker1"}  # the chief trains nothing
    workers = json.load(open(workers_file))["workers"]
    assert workers["worker0"]["restarts"] == 1 and workers["worker0"]["pid"] != killed
    assert "worker0 ended with status -9; starting it again" in stderr
    assert "6 trials (6 completed)" in stdout


def test_a_cpu_budget_stops_the_search_early(tmp_path):
    trials = kzoo.tuning.search("mlp", dataset="digits", space=SPACE, max_trials=4, epochs=1,
                                output_dir=tmp_path / "s", budget_cpu_seconds=0.01,
                                retrain_best=False)
    assert len(trials) == 1 and trials[0]["cpu_seconds"] > 0.01


@pytest.mark.heavy
def test_every_trial_runs_under_the_strategy_and_sets_the_precision_in_its_build(tmp_path):
    import keras

    from kzoo.testing import two_replica_strategy

    strategy = two_replica_strategy()
    try:
        trials = kzoo.tuning.search(
            "mlp", dataset="digits", space={"learning_rate": {"type": "choice",
                                                              "values": [0.003]}},
            max_trials=1, epochs=1, output_dir=tmp_path / "s", strategy=strategy,
            precision="mixed_bfloat16", retrain_best=False)
        # KerasTuner cleared the session before the build; the build set the policy again.
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    (trial,) = trials
    assert trial["replicas"] == 2 and trial["precision"] == "mixed_bfloat16"
    assert trial["status"] == "completed" and trial["val_accuracy"] > 0.5


# ---- KerasTuner's own state files: written atomically, and a damaged one named on resume.

def test_keras_tuner_state_files_are_written_atomically(tmp_path, monkeypatch):
    import keras_tuner
    from keras_tuner.src.engine import trial as trial_module

    import kzoo.tuning.tuner  # noqa: F401 - installs the atomic writer
    from kzoo.utils import io

    path = tmp_path / "trial_00" / "trial.json"
    trial = trial_module.Trial(keras_tuner.HyperParameters(), trial_id="00")
    trial.save(str(path))  # Stateful.save -> keras_tuner's utils.save_json
    assert trial_module.Trial.load(str(path)).trial_id == "00"
    before = path.read_text()

    def killed(src, dst):  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", killed)
    trial.status = "COMPLETED"
    with pytest.raises(KeyboardInterrupt):
        trial.save(str(path))
    assert path.read_text() == before  # KerasTuner's own writer rewrites it in place
    assert os.listdir(path.parent) == ["trial.json"]  # no temporary file left


def test_a_damaged_state_file_is_named_when_a_search_resumes(tmp_path):
    from types import SimpleNamespace

    from kzoo.tuning.tuner import damaged_state_files, make_tuner

    stage = tmp_path / "stage1"
    (stage / "trial_00").mkdir(parents=True)
    (stage / "trial_00" / "trial.json").write_text("")  # killed mid-write by an older kzoo
    (stage / "trial_01").mkdir()
    (stage / "trial_01" / "trial.json").write_text('{"trial_id": "01"}')
    (stage / "oracle.json").write_text('{"ongoing_trials": {}')  # truncated
    (stage / "notes.txt").write_text("not JSON, not KerasTuner's")
    assert damaged_state_files(stage) == sorted([str(stage / "oracle.json"),
                                                 str(stage / "trial_00" / "trial.json")])
    with pytest.raises(ValueError, match=r"`directory`.*cannot resume.*trial_00.*--overwrite"):
        make_tuner("random", None, stage=SimpleNamespace(name="stage1"),
                   directory=str(tmp_path))
