"""SIGKILL `kzoo train`, `finetune`, `tune` and `export` anywhere, rerun the same command.

Each case starts the real CLI in a real subprocess, kills it with SIGKILL at
one point, then runs the identical command again to completion, and checks
that the rerun exits 0 and left the same result an uninterrupted run leaves:

- train / finetune (`mlp` on the 8x8 digits; the shipped
  `lenet_fashion_mnist` fine-tuned on them, head then full phase):
  `history.csv` well formed with each epoch exactly once, in order, as many
  as the command asks (no epoch lost or repeated); `run.json` and
  `metrics.json` parse, `metrics.json` counts every epoch; `model.keras`
  loads; no checkpoint and no temporary file of an atomic write is left.
- tune (`mlp` on the digits, 3 trials of 1 epoch, the best retrained):
  `trials.csv` has exactly the requested trials, ids unique, none failed,
  each with its record; the trials KerasTuner had ended before the kill keep
  their records untouched (not run again); every JSON file parses; the
  retrained best run is whole.
- export (`lenet_fashion_mnist --format all`, the next version): after the
  kill the version folder is absent or complete, never partial; after the
  rerun every version is complete (the SavedModel loads, `model.tflite` and
  `model.onnx` parse, `kzoo.json` parses) and no `.tmp-export-*` folder is
  left.

Where the kill lands. Exact points use a Python audit hook installed in the
killed process before kzoo is imported (`_HOOK`): it watches the file system
events of kzoo's writes under the test folder (`tempfile.mkstemp` and
`mkdtemp`, `os.rename`, which `os.replace` raises, `os.remove`,
`shutil.rmtree`, `open` for writing) and SIGKILLs its own process at the Nth
event matching a pattern, before that operation runs: e.g. as epoch 2's
checkpoint is being written (its history row is written, its temporary
weights file created and opened, the checkpoint not committed),
just before a written file is renamed into place, as the export's temporary
folder is created or just before it is published. The sweep (heavy) adds
points in every phase of every command and kills from outside after seeded
random delays within the uninterrupted run's duration, which land anywhere,
inside the writes of h5, SavedModel, LiteRT and ONNX files included.

The default run has two points (train: during epoch 2's checkpoint write;
export: as its temporary folder appears); the sweep is `@pytest.mark.heavy`
(`./scripts/run test-heavy`).
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

# Installed in the killed process before kzoo is imported; then runs the kzoo CLI.
_HOOK = r"""
import os, re, signal, sys

_EVENTS = {"tempfile.mkstemp", "tempfile.mkdtemp", "os.rename", "os.remove", "shutil.rmtree",
           "open"}
_root = os.path.realpath(os.environ["KZOO_TEST_ROOT"]) + os.sep
_event, _pattern, _n = os.environ["KZOO_TEST_KILL_AT"].split("|")
_pattern, _n, _seen = re.compile(_pattern), int(_n), 0


def _hook(event, args):
    global _seen
    if event != _event or event not in _EVENTS:
        return
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, str) or not (
                any(c in mode for c in "wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR)):
            return
        paths = [path]
    else:
        paths = [os.fspath(a) for a in args[:2] if isinstance(a, (str, os.PathLike))]
    paths = [os.path.abspath(p) for p in paths]
    if not paths or not paths[0].startswith(_root):
        return
    if _pattern.search(" -> ".join(p[len(_root):] for p in paths)):
        _seen += 1
        if _seen == _n:
            os.kill(os.getpid(), signal.SIGKILL)


sys.addaudithook(_hook)
from kzoo.cli import main
main(prog_name="kzoo")
"""

TIMEOUT = 600
TRAIN = ["train", "mlp", "--dataset", "digits", "--epochs", "4", "--batch-size", "64",
         "--validation-size", "200", "--output", "run"]
FINETUNE = ["finetune", "lenet_fashion_mnist", "--dataset", "digits", "--labels-per-class", "10",
            "--mode", "full", "--epochs", "4", "--head-epochs", "2", "--output", "run"]
SPACE = ('[learning_rate]\ntype = "choice"\nvalues = [0.003, 0.01]\n'
         '[batch_size]\ntype = "choice"\nvalues = [32, 64]\n')


def _tune_args(trials, epochs, *options):
    """`kzoo tune` of the mlp on the digits into `search`, with `space.toml`."""
    return ["tune", "mlp", "--dataset", "digits", "--space", "space.toml", *options,
            "--max-trials", str(trials), "--epochs", str(epochs), "--output", "search"]


TUNE = _tune_args(3, 1)
EXPORT = ["export", "lenet_fashion_mnist", "--name", "m", "--base", "serving", "--format", "all"]
EPOCHS = 4
TRIALS = 3


def _env(cwd, kill_at=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1",
               KZOO_TEST_ROOT=str(cwd))
    if kill_at is not None:
        env["KZOO_TEST_KILL_AT"] = "|".join(map(str, kill_at))
    return env


def _run(args, cwd, kill_at=None):
    """The CLI run to its end, or killed at `kill_at` = (event, pattern, n)."""
    command = ([sys.executable, "-c", _HOOK] if kill_at else [sys.executable, "-m", "kzoo"])
    return subprocess.run([*command, *args], cwd=cwd, env=_env(cwd, kill_at),
                          capture_output=True, text=True, timeout=TIMEOUT)


def _killed_at(args, cwd, kill_at):
    result = _run(args, cwd, kill_at)
    assert result.returncode == -signal.SIGKILL, (
        f"the kill point {kill_at} was not reached (exit {result.returncode}):\n"
        + result.stderr[-3000:])


def _killed_after(args, cwd, seconds):
    """Started, SIGKILLed after `seconds` (unless it ended first)."""
    proc = subprocess.Popen([sys.executable, "-m", "kzoo", *args], cwd=cwd, env=_env(cwd),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode in (0, -signal.SIGKILL), stderr[-3000:]


def _rerun(args, cwd):
    result = _run(args, cwd)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def _timed(args, cwd):
    start = time.monotonic()
    _rerun(args, cwd)
    return time.monotonic() - start


# --------------------------------------------------------------------------- #
# What a whole result is
# --------------------------------------------------------------------------- #


def _json(path):
    with open(path) as f:
        return json.load(f)


def _all_json_parses(folder):
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".json"):
                _json(os.path.join(root, name))  # raises on a half-written file


def _leftovers(folder, prefix=".tmp-"):
    return sorted(os.path.join(root, name) for root, dirs, names in os.walk(folder)
                  for name in dirs + names if name.startswith(prefix))


def _history(run):
    """history.csv's rows, checked well formed: a header, then rows of numbers as long."""
    with open(os.path.join(run, "history.csv"), newline="") as f:
        text = f.read()
    assert text.endswith("\n"), f"history.csv ends mid-row: {text[-200:]!r}"
    header, *rows = list(csv.reader(text.splitlines()))
    assert "epoch" in header
    for row in rows:
        assert len(row) == len(header), (header, row)
        [float(cell) for cell in row if cell not in ("", "NA")]
    return [dict(zip(header, row)) for row in rows]


def _check_run(run, epochs):
    """A finished train/finetune run directory, every epoch once."""
    from kzoo.utils.keras_files import load_model_file

    assert [int(row["epoch"]) for row in _history(run)] == list(range(epochs))
    _all_json_parses(run)
    assert _json(os.path.join(run, "run.json"))["config"]
    metrics = _json(os.path.join(run, "metrics.json"))
    assert metrics["epochs_run"] == epochs and metrics["stopped_early"] is None
    assert not os.path.exists(os.path.join(run, "checkpoint"))
    assert _leftovers(run) == []
    load_model_file(os.path.join(run, "model.keras"), compile=False)


def _ended_trials(search):
    """Trial ids the oracle recorded as ended, with their records' bytes."""
    oracle = os.path.join(search, "stage1", "oracle.json")
    ended = _json(oracle).get("end_order", []) if os.path.isfile(oracle) else []
    records = {}
    for trial_id in ended:
        path = os.path.join(search, "stage1", f"trial_{trial_id}", "kzoo_trial.json")
        with open(path, "rb") as f:
            records[trial_id] = (os.stat(path).st_mtime_ns, f.read())
    return records


def _check_search(search, ended_before, trials=TRIALS):
    with open(os.path.join(search, "trials.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [row["trial_id"] for row in rows]
    assert len(ids) == len(set(ids)) == trials, ids
    assert {row["status"] for row in rows} <= {"completed", "diverged"}, rows
    _all_json_parses(search)
    records = [name for name in os.listdir(os.path.join(search, "stage1"))
               if os.path.isfile(os.path.join(search, "stage1", name, "kzoo_trial.json"))]
    assert sorted(records) == sorted(f"trial_{i}" for i in ids)
    metrics = _json(os.path.join(search, "metrics.json"))
    assert metrics["trials"] == trials
    # A trial the oracle had ended is not run again: its record is untouched.
    after = _ended_trials(search)
    assert {i: after[i] for i in ended_before} == ended_before
    best = os.path.join(search, "best")  # retrained for the best trial's epochs
    _check_run(best, _json(os.path.join(best, "run.json"))["config"]["epochs"])


def _check_version(path, args=EXPORT):
    """A complete export (`--format all`: the SavedModel loads, the other files parse)."""
    import tensorflow as tf

    info = _json(os.path.join(path, "assets", "kzoo.json"))
    everything = args[-1] == "all"
    assert info["kzoo_export"] == 1 and set(info["formats"]) == (
        {"saved_model", "tflite", "onnx"} if everything else {"saved_model"})
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert len(f.read().splitlines()) == len(info["class_names"])
    loaded = tf.saved_model.load(path)
    assert {"serving_default", "predict_images"} <= set(loaded.signatures)
    if everything:
        import onnx
        from ai_edge_litert.interpreter import Interpreter

        onnx.checker.check_model(onnx.load(os.path.join(path, "model.onnx")))
        Interpreter(model_path=os.path.join(path, "model.tflite")).allocate_tensors()


def _versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir) if n.isdigit())


def _check_export(cwd, published_before, args=EXPORT):
    model_dir = os.path.join(cwd, "serving", "m")
    # The rerun exports the next version: 1, or 2 when the killed one had published 1.
    assert _versions(model_dir) == list(range(1, len(published_before) + 2))
    for version in _versions(model_dir):
        _check_version(os.path.join(model_dir, str(version)), args)
    assert _leftovers(model_dir) == []


# --------------------------------------------------------------------------- #
# Kill, rerun, check
# --------------------------------------------------------------------------- #


def _train_case(cwd, args, kill):
    kill(args, cwd)
    _rerun(args, cwd)
    _check_run(os.path.join(cwd, "run"), EPOCHS)


def _tune_case(cwd, kill, args=TUNE, trials=TRIALS, space=SPACE):
    (cwd / "space.toml").write_text(space)
    kill(args, cwd)
    search = os.path.join(cwd, "search")
    _all_json_parses(search)  # whatever the kill left: never a half-written JSON file
    ended = _ended_trials(search)
    _rerun(args, cwd)
    _check_search(search, ended, trials)


def _export_case(cwd, kill, args=EXPORT):
    kill(args, cwd)
    model_dir = os.path.join(cwd, "serving", "m")
    published = _versions(model_dir)
    assert published in ([], [1]), published
    for version in published:  # absent, or complete: never half a version
        _check_version(os.path.join(model_dir, str(version)), args)
    _rerun(args, cwd)
    _check_export(cwd, published, args)


def _at(kill_at):
    return lambda args, cwd: _killed_at(args, cwd, kill_at)


# Default run: two exact points.


def test_train_killed_while_writing_a_checkpoint_resumes_without_losing_an_epoch(tmp_path):
    # Epoch 2's history row is written, its checkpoint's temporary file created and being
    # opened for writing: the rerun resumes after epoch 1 and writes epoch 2's row once.
    _train_case(tmp_path, TRAIN, _at(("open", r"^run/checkpoint/\.tmp-[^/]*\.weights\.h5$", 2)))


def test_export_killed_as_its_temporary_folder_appears_leaves_nothing_behind(tmp_path):
    # The temporary folder is made, its marker not yet written. A SavedModel alone (the
    # default run's budget; the sweep exports all three formats).
    _export_case(tmp_path, _at(("open", r"^serving/m/\.tmp-export-[^/]*/\.kzoo-export-tmp$", 1)),
                 EXPORT[:-1] + ["saved_model"])


# The sweep (heavy).

RUN_POINTS = [
    ("os.rename", r"-> run/run\.json$", 1),  # before the run is recorded
    ("open", r"^run/history\.csv$", 1),  # recorded, before the first epoch's row
    ("os.rename", r"\.weights\.h5 -> run/checkpoint/", 1),  # epoch 1 written, not renamed
    ("os.rename", r"-> run/checkpoint/.*training_metadata\.json$", 1),  # not committed
    ("os.remove", r"^run/checkpoint/.*epoch-\d+\.weights\.h5$", 1),  # committed, old one left
    ("tempfile.mkstemp", r"^run/checkpoint/.*\.weights\.h5$", 3),
    ("os.rename", r"-> run/checkpoint/.*training_metadata\.json$", 4),  # the last epoch's
    ("tempfile.mkstemp", r"^run/\.tmp-.*\.keras$", 1),  # all epochs done, model.keras next
    ("os.rename", r"\.keras -> run/model\.keras$", 1),
    ("os.rename", r"-> run/metrics\.json$", 1),  # before the run is marked finished
    ("shutil.rmtree", r"^run/checkpoint$", 1),  # finished, checkpoint not yet dropped
]
FINETUNE_POINTS = [
    ("os.rename", r"-> run/checkpoint/head/training_metadata\.json$", 2),  # end of phase 1
    ("tempfile.mkstemp", r"^run/checkpoint/full/.*\.weights\.h5$", 1),  # phase 2, epoch 3
    ("os.rename", r"-> run/checkpoint/full/training_metadata\.json$", 1),
]
TUNE_POINTS = [
    ("os.rename", r"-> search/run\.json$", 1),  # before the search is recorded
    ("os.rename", r"-> search/stage1/oracle\.json$", 1),  # the stage's first state
    ("os.rename", r"-> search/stage1/trial_0/trial\.json$", 1),  # trial 0 being created
    ("os.rename", r"-> search/stage1/oracle\.json$", 2),  # trial 0 saved, the oracle not
    ("os.rename", r"-> search/stage1/trial_0/kzoo_trial\.json$", 1),  # trial 0 trained
    ("os.rename", r"-> search/trials\.csv$", 1),  # trial 0 recorded, not ended
    ("os.rename", r"-> search/stage1/oracle\.json$", 3),  # trial 0 ended in its trial.json only
    ("os.rename", r"-> search/stage1/oracle\.json$", 4),  # ended, but still listed as ongoing
    ("os.rename", r"-> search/stage1/tuner0\.json$", 2),  # trial 0 ended
    ("os.rename", r"-> search/stage1/oracle\.json$", 5),  # trial 1 saved, the oracle not
    ("os.rename", r"-> search/stage1/trial_2/kzoo_trial\.json$", 1),
    ("os.rename", r"-> search/best\.json$", 1),  # every trial done, before the retraining
    ("tempfile.mkstemp", r"^search/best/checkpoint/.*\.weights\.h5$", 1),  # retraining
    ("os.rename", r"-> search/metrics\.json$", 1),
]
EXPORT_POINTS = [
    ("tempfile.mkdtemp", r"^serving/m/\.tmp-export-", 1),  # before the temporary folder
    ("open", r"/version/model\.tflite$", 1),  # the SavedModel written
    ("open", r"/version/model\.onnx$", 1),
    ("open", r"/version/assets/kzoo\.json$", 1),  # every file but kzoo.json
    ("os.rename", r"/version -> serving/m/1$", 1),  # complete, not published
    ("shutil.rmtree", r"^serving/m/\.tmp-export-", 1),  # published, tmp folder left
]
#: Seeded random kills from outside per command, within the uninterrupted run's time.
RANDOM_KILLS = 4

# KerasTuner's Hyperband and Bayesian oracles keep state of their own in oracle.json (brackets
# and rounds; the Gaussian process's observations), so their resume is swept too. Hyperband at
# most 2 epochs a trial (factor 3): one bracket of 2 trials, which --max-trials 3 does not cap;
# an uninterrupted search runs those 2. Bayesian: 7 trials, so that the last is proposed by
# the Gaussian process (KerasTuner starts it after 3 x 2 dimensions = 6 random points).
OTHER_ALGORITHMS = {  # algorithm: (arguments, trials, search space)
    "hyperband": (_tune_args(3, 2, "--algorithm", "hyperband"), 2, SPACE),
    # Seven distinct trials need more than the 4 combinations of SPACE.
    "bayesian": (_tune_args(7, 1, "--algorithm", "bayesian"), 7,
                 '[learning_rate]\ntype = "log_uniform"\nmin = 1e-3\nmax = 1e-2\n'
                 '[batch_size]\ntype = "choice"\nvalues = [32, 64]\n'),
}
OTHER_ALGORITHM_POINTS = [
    ("os.rename", r"-> search/stage1/oracle\.json$", 2),  # trial 0 saved, the oracle not
    ("os.rename", r"-> search/stage1/oracle\.json$", 3),  # trial 0 ended in its trial.json
    ("os.rename", r"-> search/stage1/trial_1/trial\.json$", 1),  # trial 1 being created
    ("os.rename", r"-> search/stage1/trial_1/kzoo_trial\.json$", 1),  # trial 1 trained
    ("os.rename", r"-> search/trials\.csv$", 2),  # trial 1 recorded, not ended
    ("os.rename", r"-> search/best\.json$", 1),  # every trial done, before the retraining
]


def _point_id(point):
    event, pattern, n = point
    return f"{event}:{pattern.strip('^$')}#{n}"


@pytest.mark.heavy
@pytest.mark.parametrize("point", RUN_POINTS, ids=_point_id)
def test_sweep_train(tmp_path, point):
    _train_case(tmp_path, TRAIN, _at(point))


@pytest.mark.heavy
@pytest.mark.parametrize("point", RUN_POINTS[:1] + FINETUNE_POINTS + RUN_POINTS[-4:],
                         ids=_point_id)
def test_sweep_finetune(tmp_path, point):
    _train_case(tmp_path, FINETUNE, _at(point))


@pytest.mark.heavy
@pytest.mark.parametrize("point", TUNE_POINTS, ids=_point_id)
def test_sweep_tune(tmp_path, point):
    _tune_case(tmp_path, _at(point))


@pytest.mark.heavy
@pytest.mark.parametrize("algorithm, point", [
    *((algorithm, point) for algorithm in OTHER_ALGORITHMS for point in OTHER_ALGORITHM_POINTS),
    # The Gaussian process's first proposal (trial 6) being created.
    ("bayesian", ("os.rename", r"-> search/stage1/trial_6/trial\.json$", 1)),
], ids=lambda value: value if isinstance(value, str) else _point_id(value))
def test_sweep_tune_hyperband_and_bayesian(tmp_path, algorithm, point):
    args, trials, space = OTHER_ALGORITHMS[algorithm]
    _tune_case(tmp_path, _at(point), args, trials, space)


@pytest.mark.heavy
@pytest.mark.parametrize("point", EXPORT_POINTS, ids=_point_id)
def test_sweep_export(tmp_path, point):
    _export_case(tmp_path, _at(point))


@pytest.mark.heavy
@pytest.mark.parametrize("command", ["train", "finetune", "tune", "export"])
def test_sweep_random_kills(tmp_path, command):
    """Kills from outside after seeded random delays, each followed by the same command."""
    rng = random.Random(f"kill-and-rerun-{command}")
    reference = tmp_path / "reference"
    reference.mkdir()
    case = {"train": lambda cwd, kill: _train_case(cwd, TRAIN, kill),
            "finetune": lambda cwd, kill: _train_case(cwd, FINETUNE, kill),
            "tune": _tune_case, "export": _export_case}[command]
    seconds = []
    # The uninterrupted run: its duration bounds the delays (it must itself be whole).
    case(reference, lambda args, cwd: seconds.append(_timed(args, cwd)))
    for i in range(RANDOM_KILLS):
        cwd = tmp_path / f"kill{i}"
        cwd.mkdir()
        delay = rng.uniform(0.3, 1.0) * seconds[0]
        case(cwd, lambda args, cwd: _killed_after(args, cwd, delay))
