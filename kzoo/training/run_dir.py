"""Run directories: what `kzoo train` (and later finetune and tune) write into.

A run directory is a folder whose `run.json` kzoo wrote. kzoo only ever
writes into a new or empty folder or into one of its own runs, and
`overwrite=True` removes only a run directory (one holding kzoo's
`run.json`): a user's folder is never deleted or written into. Checks happen
before anything is written, so a start that fails leaves nothing behind.
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


def started(path):
    """Whether a run got as far as training (a checkpoint, history or metrics exists)."""
    return any(os.path.exists(os.path.join(path, name))
               for name in (CHECKPOINT_DIR, HISTORY_FILE, METRICS_FILE))


def prepare(output_dir, config_dict, *, overwrite=False, dry_run=False, defaults=None):
    """Decides what to do with `output_dir`, writing nothing (but `overwrite`'s removal).

    Args:
        output_dir: the run directory.
        config_dict: the run's resolved configuration (`TrainConfig.to_dict()`).
        overwrite: start afresh in an existing *run* directory (removed here).
        dry_run: only check; with `overwrite`, say `"new"` without removing.
        defaults: `{key: default}` (`TrainConfig.defaults()`): a key missing
            from the saved configuration (a `run.json` written before that
            option existed) counts as its default, so such a run still
            resumes, or reports itself finished.

    Returns:
        `"new"`, `"resume"` (same configuration, not finished) or `"finished"`.

    Raises:
        ValueError: `output_dir` is a file, lies under a file, is a non-empty
            folder that is not a kzoo run (with or without `overwrite`), or
            is a run made with other settings (without `overwrite`).
    """
    output_dir = _check_path(output_dir)
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return NEW
    run = read_run(output_dir)
    if run is None:
        raise ValueError(
            f"Argument `output_dir` (--output) is a non-empty folder that is not a kzoo run "
            f"(it has no kzoo run.json); kzoo never writes into or deletes such a folder, "
            f"with or without --overwrite. Choose a new folder. Received: "
            f"output_dir={output_dir!r}"
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
    """Creates `output_dir` and writes its `run.json` (`record` holds `config` and `kzoo`)."""
    os.makedirs(output_dir, exist_ok=True)
    io.write_json(os.path.join(output_dir, RUN_FILE), record)


def read_metrics(output_dir):
    with open(os.path.join(output_dir, METRICS_FILE)) as f:
        return json.load(f)


def finish(output_dir, metrics):
    """Writes `metrics.json` (the run is complete) and drops the resume checkpoint."""
    io.write_json(os.path.join(output_dir, METRICS_FILE), metrics)
    shutil.rmtree(os.path.join(output_dir, CHECKPOINT_DIR), ignore_errors=True)


def say(message):
    """A progress line on stderr."""
    print(f"kzoo: {message}", file=sys.stderr, flush=True)
