"""The methods' searches: their `kzoo tune` command lines, run (or resumed) as subprocesses,
and the trial records they leave in `<runs_dir>/<method>/`."""

import json
import os
import shlex
import sys
import time

from benchmarks.tuning.processes import append_json_line, log, run_logged

METHODS = ("random", "coarse_to_fine", "hyperband")


def tune_argv(method, settings, output_dir):
    """The `python -m kzoo tune` command line of one method's search."""
    s = settings
    argv = [sys.executable, "-m", "kzoo", "tune", s["model"], "--dataset", s["dataset"],
            "--space", s["space"], "--seed", str(s["seed"]), "--output", output_dir,
            "--budget-cpu-seconds", repr(float(s["budget_cpu_seconds"])), "--no-retrain"]
    if s["validation_size"] is not None:
        argv += ["--validation-size", str(s["validation_size"])]
    if method == "random":
        argv += ["--algorithm", "random", "--max-trials", str(s["random_max_trials"]),
                 "--epochs", str(s["random_epochs"])]
    elif method == "coarse_to_fine":
        argv += ["--algorithm", "random", "--stages", s["stages"]]
    elif method == "hyperband":
        argv += ["--algorithm", "hyperband", "--max-trials", str(s["hyperband_max_trials"]),
                 "--epochs", str(s["hyperband_epochs"])]
    else:
        raise ValueError(f"Argument `method` must be one of {list(METHODS)}. "
                         f"Received: method={method!r}")
    return argv


def search_dir(runs_dir, method):
    return os.path.join(runs_dir, method)


def run_search(method, settings, runs_dir):
    """Runs (or resumes) one method's search in its own process; a finished one is skipped."""
    out = search_dir(runs_dir, method)
    if os.path.isfile(os.path.join(out, "metrics.json")):
        log(f"{method}: search already finished in {out}")
        return
    argv = tune_argv(method, settings, out)
    log(f"{method}: {shlex.join(argv)}")
    code, seconds = run_logged(argv, os.path.join(runs_dir, f"{method}.log"))
    append_json_line(os.path.join(runs_dir, f"{method}.invocations.jsonl"),
                     {"returncode": code, "seconds": round(seconds, 1), "ended": time.time()})
    log(f"{method}: search process exited {code} after {seconds:.0f} s")


def run_searches(methods, settings, runs_dir, parallel=False):
    """Every method's search; with `parallel`, all at once (each is its own process anyway,
    and the budget is CPU time, which sharing the cores does not change much)."""
    if not parallel:
        for method in methods:
            run_search(method, settings, runs_dir)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(methods)) as pool:
        for future in [pool.submit(run_search, m, settings, runs_dir) for m in methods]:
            future.result()


def read_trials(out):
    """Every `kzoo_trial.json` of a search directory, in the order the trials ended."""
    records = []
    if not os.path.isdir(out):
        return records
    for stage in sorted(os.listdir(out)):
        stage_dir = os.path.join(out, stage)
        if not (stage.startswith("stage") and os.path.isdir(stage_dir)):
            continue
        for name in sorted(os.listdir(stage_dir)):
            path = os.path.join(stage_dir, name, "kzoo_trial.json")
            if name.startswith("trial_") and os.path.isfile(path):
                with open(path) as f:
                    records.append(json.load(f))
    return sorted(records, key=lambda r: r.get("finished_at", 0.0))
