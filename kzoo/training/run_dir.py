"""Run directories: what `kzoo train`, `kzoo finetune` and `kzoo tune` write into.

A run directory is a folder whose `run.json` kzoo wrote; its `kind` says
which command made it (`"train"`, `"finetune"`, `"tune"`). kzoo only ever
writes into a new or empty folder or into one of its own runs of the same
kind, and `overwrite=True` removes only such a run directory: a user's folder
is never deleted or written into, and no command replaces another command's
folder (`kzoo tune --overwrite` never deletes a training run, nor `kzoo train
--overwrite` a search). Checks happen before anything is written, so a start
that fails leaves nothing behind.
"""

import json
import os
import shutil
import sys

from kzoo.utils import io

RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoint"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"

NEW, RESUME, FINISHED = "new", "resume", "finished"
TRAIN, FINETUNE, TUNE = "train", "finetune", "tune"
KINDS = (TRAIN, FINETUNE, TUNE)


def read_run(path):
    """The parsed `run.json` of a run directory, or None when `path` is not a kzoo run."""
    run_file = os.path.join(path, RUN_FILE)
    if not os.path.isfile(run_file):
        return None
    try:
        with open(run_file) as f:
            run = json.load(f)
    except (OSError, ValueError):
        return None
    return run if isinstance(run, dict) and "config" in run and "kzoo" in run else None


def run_kind(run):
    """The command that made a run, from its parsed `run.json`: `"train"`, `"finetune"`, `"tune"`.

    `run.json` records `kind` (a search always did); one written before that
    is a fine-tuning run when it records its `base`, else a training run.
    """
    kind = run.get("kind")
    if kind in KINDS:
        return kind
    return FINETUNE if "base" in run else TRAIN


def config_kind(config_dict):
    """The kind of run a configuration describes: a `FinetuneConfig` names its `base`, a
    search's record its `space`; anything else is a `TrainConfig`."""
    if "base" in config_dict:
        return FINETUNE
    return TUNE if "space" in config_dict else TRAIN


def is_run(path):
    """Whether `path` is a folder holding kzoo's `run.json`."""
    return os.path.isdir(path) and read_run(path) is not None


def _check_path(output_dir):
    if not isinstance(output_dir, (str, os.PathLike)) or not os.fspath(output_dir):
        raise ValueError(f"Argument `output_dir` (--output) must be a folder path. "
                         f"Received: output_dir={output_dir!r}")
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"Argument `output_dir` (--output) names a file, not a folder. "
                         f"Received: output_dir={output_dir!r}")
    parent = io.nearest_existing_parent(output_dir)
    if not os.path.isdir(parent):
        raise ValueError(f"Argument `output_dir` (--output) lies under {parent!r}, which is "
                         f"a file. Received: output_dir={output_dir!r}")
    if not os.access(parent if not os.path.exists(output_dir) else output_dir, os.W_OK):
        raise ValueError(f"Argument `output_dir` (--output) is not writable. "
                         f"Received: output_dir={output_dir!r}")
    return output_dir


def _contents(path):
    """The names in folder `path` but the temporary files of atomic writes: a start killed
    before its `run.json` was written leaves only such a file (`start` removes it)."""
    return [name for name in os.listdir(path) if not io.TMP_FILE.fullmatch(name)]


def started(path):
    """Whether a run got as far as training (a checkpoint, history or metrics exists)."""
    return any(os.path.exists(os.path.join(path, name))
               for name in (CHECKPOINT_DIR, HISTORY_FILE, METRICS_FILE))


def prepare(output_dir, config_dict, *, overwrite=False, dry_run=False, defaults=None,
            kind=None):
    """Decides what to do with `output_dir`, writing nothing (but `overwrite`'s removal).

    Args:
        output_dir: the run directory.
        config_dict: the run's resolved configuration (`TrainConfig.to_dict()`).
        overwrite: start afresh in an existing run directory of the same `kind`
            (removed here).
        dry_run: only check; with `overwrite`, say `"new"` without removing.
        defaults: `{key: default}` (`TrainConfig.defaults()`): a key missing
            from the saved configuration (a `run.json` written before that
            option existed) counts as its default, so such a run still
            resumes, or reports itself finished.
        kind: `"train"`, `"finetune"` or `"tune"`: the command starting the
            run (default: `config_kind(config_dict)`).

    Returns:
        `"new"`, `"resume"` (same configuration, not finished) or `"finished"`.

    Raises:
        ValueError: `output_dir` is a file, lies under a file, is a non-empty
            folder that is not a kzoo run or is a run of another kind (with
            or without `overwrite`), or is a run made with other settings
            (without `overwrite`).
    """
    kind = kind or config_kind(config_dict)
    output_dir = _check_path(output_dir)
    if not os.path.isdir(output_dir) or not _contents(output_dir):
        return NEW
    run = read_run(output_dir)
    if run is None:
        raise ValueError(
            f"Argument `output_dir` (--output) is a non-empty folder that is not a kzoo run "
            f"(it has no kzoo run.json); kzoo never writes into or deletes such a folder, "
            f"with or without --overwrite. Choose a new folder. Received: "
            f"output_dir={output_dir!r}"
        )
    found = run_kind(run)
    if found != kind:
        # Each command's --overwrite replaces only its own kind of folder.
        raise ValueError(
            f"Argument `output_dir` (--output) is a `kzoo {found}` folder, not a `kzoo {kind}` "
            f"run; kzoo {kind} never writes into or deletes it, with or without --overwrite. "
            f"Choose a new folder. Received: output_dir={output_dir!r}"
        )
    if overwrite:
        if not dry_run:
            shutil.rmtree(output_dir)
        return NEW
    saved = {**(defaults or {}), **run["config"]}
    different = {k: (saved.get(k), v) for k, v in config_dict.items() if saved.get(k) != v}
    if different and not started(output_dir):
        # A start that failed before training: nothing to keep, the new settings win.
        return NEW
    if different:
        raise ValueError(
            f"Run directory {output_dir!r} was made with other settings "
            f"({', '.join(f'{k}: {a!r} there' for k, (a, _) in different.items())}); resuming "
            f"would mix runs. Use another --output or --overwrite. Received: "
            + ", ".join(f"{k}={b!r}" for k, (_, b) in different.items())
        )
    return FINISHED if os.path.isfile(os.path.join(output_dir, METRICS_FILE)) else RESUME


def start(output_dir, record):
    """Creates `output_dir` and writes its `run.json` (`record` holds `config` and `kzoo`).

    The record gets its `kind` (`config_kind` of its configuration) when it names none.
    """
    os.makedirs(output_dir, exist_ok=True)
    tidy(output_dir)
    record = {"kind": record.get("kind") or config_kind(record["config"]), **record}
    io.write_json(os.path.join(output_dir, RUN_FILE), record)


def tidy(output_dir):
    """Removes what a killed session of a run left that no session reads: the temporary
    files of its atomic writes and, once the run is finished (`metrics.json` written), the
    checkpoint its end was killed before dropping. `start` and a rerun of a finished run
    call it."""
    io.remove_temporary_files(output_dir)
    if os.path.isfile(os.path.join(output_dir, METRICS_FILE)):
        shutil.rmtree(os.path.join(output_dir, CHECKPOINT_DIR), ignore_errors=True)


def damaged(path, problem, advice):
    """The `ValueError` of a damaged run file: which file, what is wrong, how to recover."""
    return ValueError(f"Run file {path!r} is damaged ({problem}); {advice}.")


#: How to recover from a damaged run file, by what the run still has.
RESTART_ADVICE = ("rerun with --overwrite to start the run afresh (this deletes it), or "
                  "restore the file from a backup")


def read_json(path, *, advice=RESTART_ADVICE):
    """A JSON run file; one that cannot be read as JSON is a `ValueError` naming it."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise damaged(path, f"not JSON: {first}", advice) from None


def check_run_file(output_dir):
    """A `ValueError` naming `output_dir`'s `run.json` when it is there but is not JSON.

    Such a folder is neither resumed nor deleted (`--overwrite` included):
    kzoo cannot tell it from a user's folder. The message says so, rather
    than calling the run a folder "without a kzoo run.json".
    """
    if not isinstance(output_dir, (str, os.PathLike)) or not os.path.isdir(output_dir):
        return
    path = os.path.join(output_dir, RUN_FILE)
    if os.path.isfile(path):
        read_json(path, advice="restore it from a backup, or choose another --output: kzoo "
                               "cannot tell a folder whose run.json is unreadable from a "
                               "folder of yours, so it neither resumes it nor deletes it "
                               "(with or without --overwrite)")


def read_metrics(output_dir):
    """The parsed `metrics.json` of a finished run (a damaged one is a `ValueError` naming it)."""
    path = os.path.join(output_dir, METRICS_FILE)
    metrics = read_json(path, advice="the model is in model.keras beside it; " + RESTART_ADVICE)
    if not isinstance(metrics, dict):
        raise damaged(path, f"a JSON {type(metrics).__name__}, not kzoo's metrics",
                      RESTART_ADVICE)
    return metrics


def finish(output_dir, metrics):
    """Writes `metrics.json` (the run is complete) and drops the resume checkpoint."""
    io.write_json(os.path.join(output_dir, METRICS_FILE), metrics)
    shutil.rmtree(os.path.join(output_dir, CHECKPOINT_DIR), ignore_errors=True)


def say(message):
    """A progress line on stderr."""
    print(f"kzoo: {message}", file=sys.stderr, flush=True)
