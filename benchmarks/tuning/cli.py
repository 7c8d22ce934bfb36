"""Hyperparameter search under one CPU-time budget, and the cost of 2-replica MirroredStrategy.

Two parts (issue 12):

- `search`: LeNet on Fashion-MNIST over the `lenet` space, the same CPU-time
  budget (`--budget-cpu-seconds`, default 1,200 = 20 CPU-minutes) for three
  methods: random search (`--random-max-trials` trials of `--random-epochs`),
  coarse-to-fine (`--stages`, random search per stage) and Hyperband
  (`--hyperband-epochs` = its `max_epochs`, factor 3). Each search is its own
  `python -m kzoo tune ... --budget-cpu-seconds B --no-retrain` subprocess
  into `benchmarks/runs/tuning/<method>/`, so the methods are independent and
  an interrupted benchmark resumes (the same command resumes the search;
  completed trials are not run again). The budget counts the trials' process
  CPU time (all threads; `cpu_seconds` in each `kzoo_trial.json`); loading the
  data and starting the process are outside it, and so is the last trial of a
  stage, which may overrun: a trial counts as "within the budget" here only if
  the cumulative CPU time at its end is ≤ the budget. Best-so-far validation
  accuracy (5,000 held-out training images by default) is plotted against
  cumulative trial CPU time and trial wall time. Each method's winner (its
  best completed trial within the budget) is then retrained with the
  `kzoo train` command that reproduces it (outside the budget) into
  `<method>/winner/` and measured on the test set.
- `replicas`: training steps per second of the same model and global batch on
  random images under the default strategy, `MirroredStrategy` on 1 logical
  CPU and on 2 logical CPUs (`kzoo.distribute.get_strategy("mirrored",
  cpu_replicas=N)`), each measured in a fresh subprocess (logical devices must
  be configured before TensorFlow initialises), `--replica-steps` timed steps
  after `--replica-warmup`, the configurations interleaved `--replica-repeats`
  times; the ratio of medians is the cost of the machinery on a CPU.

Writes `benchmarks/results/tuning.{json,md,png}` (or `--results-dir`).

    python -m benchmarks tuning [--budget-cpu-seconds 1200] [--stages 16x1,4x8]
        [--methods random,coarse_to_fine,hyperband] [--hyperband-epochs 9] [--parallel]
        [--skip-replicas] [--report-only] [--quick]
"""

import argparse
import json
import os
import shlex

from benchmarks.results_io import RESULTS_DIR, machine
from benchmarks.tuning.budget import retrain_winner, summarize, verdict
from benchmarks.tuning.processes import ROOT, read_json_lines
from benchmarks.tuning.replicas import (REPLICA_CONFIGS, cached_replicas, replica_summary,
                                        replica_worker, run_replicas)
from benchmarks.tuning.report import plot, to_markdown
from benchmarks.tuning.searches import METHODS, read_trials, run_searches, search_dir, tune_argv

NAME = "tuning"
RUNS_DIR = os.path.join(ROOT, "benchmarks", "runs", "tuning")

DEFAULTS = {
    "model": "lenet", "dataset": "fashion_mnist", "space": "lenet", "seed": 0,
    "validation_size": None, "budget_cpu_seconds": 1200.0, "goal": 0.915,
    "random_max_trials": 200, "random_epochs": 2,
    "stages": "16x1,4x8",
    "hyperband_max_trials": 200, "hyperband_epochs": 9,
    "replica_model": "lenet", "replica_dataset": "fashion_mnist", "replica_batch": 128,
    "replica_steps": 300, "replica_warmup": 20, "replica_repeats": 5,
}
# Seconds-scale settings for the smoke test (digits, mlp); the directories are the caller's.
QUICK = {
    "model": "mlp", "dataset": "digits", "space": "mlp", "validation_size": 200,
    "budget_cpu_seconds": 10.0, "random_max_trials": 2, "random_epochs": 1,
    "stages": "2x1,1x2", "hyperband_max_trials": 3, "hyperband_epochs": 2,
    "replica_model": "mlp", "replica_dataset": "digits", "replica_batch": 32,
    "replica_steps": 5, "replica_warmup": 2, "replica_repeats": 1,
}


def build_results(settings, runs_dir, methods, retrained=None, replicas=None):
    """Every method's summary from its run directory, the verdict and the replicas."""
    budget, goal = settings["budget_cpu_seconds"], settings["goal"]
    summaries = []
    validation_size = settings["validation_size"]
    for method in methods:
        out = search_dir(runs_dir, method)
        summary = summarize(method, read_trials(out), budget, goal)
        summary["finished"] = os.path.isfile(os.path.join(out, "metrics.json"))
        summary["command"] = shlex.join(tune_argv(method, settings, out)[1:])
        summary["process_seconds"] = round(sum(
            r["seconds"] for r in read_json_lines(os.path.join(runs_dir,
                                                               f"{method}.invocations.jsonl"))), 1)
        summary["retrain"] = (retrained or {}).get(method)
        if os.path.isfile(os.path.join(out, "run.json")):
            with open(os.path.join(out, "run.json")) as f:
                validation_size = json.load(f)["config"]["validation_size"]
        summaries.append(summary)
    return {"benchmark": NAME, "machine": machine(), "settings": settings,
            "validation_size": validation_size, "methods": summaries,
            "verdict": verdict(summaries, goal, budget, methods),
            "replicas": replica_summary(replicas) if replicas else None,
            "replicas_skipped": not replicas}


def write_report(results, results_dir):
    """`tuning.{png,json,md}` in `results_dir`."""
    from kzoo.utils import io

    os.makedirs(results_dir, exist_ok=True)
    plot(results, os.path.join(results_dir, f"{NAME}.png"))
    io.write_json(os.path.join(results_dir, f"{NAME}.json"), results)
    io.write_text(os.path.join(results_dir, f"{NAME}.md"), to_markdown(results))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="seconds-scale smoke settings (mlp on digits); flags given win")
    parser.add_argument("--methods", default=",".join(METHODS))
    for key, value in DEFAULTS.items():
        kind = float if key == "budget_cpu_seconds" or key == "goal" else (
            int if isinstance(value, int) or key == "validation_size" else str)
        parser.add_argument("--" + key.replace("_", "-"), type=kind, default=None,
                            help=f"default {value!r} ({QUICK.get(key, value)!r} with --quick)")
    parser.add_argument("--runs-dir", default=RUNS_DIR)
    parser.add_argument("--results-dir", default=RESULTS_DIR)
    parser.add_argument("--no-retrain", dest="retrain", action="store_false",
                        help="do not retrain the winners")
    parser.add_argument("--parallel", action="store_true",
                        help="run the methods' searches (and retrainings) at the same time")
    parser.add_argument("--skip-replicas", action="store_true")
    parser.add_argument("--skip-search", action="store_true",
                        help="run no search (report what the run directories hold)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing; write the results from what is cached")
    parser.add_argument("--replica-worker", choices=REPLICA_CONFIGS, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    settings = {**DEFAULTS, **(QUICK if ns.quick else {})}
    for key in DEFAULTS:
        if getattr(ns, key) is not None:
            settings[key] = getattr(ns, key)
    methods = [m for m in ns.methods.split(",") if m]
    if set(methods) - set(METHODS):
        parser.error(f"--methods must be some of {METHODS}. Received: {ns.methods!r}")
    return ns, settings, methods


def retrain_winners(ns, settings, methods):
    """Each method's winner retrained (only the cached ones with `--report-only`)."""
    import concurrent.futures

    runs_dir = ns.runs_dir
    summaries = build_results(settings, runs_dir, methods)["methods"]
    if ns.report_only:
        summaries = [s for s in summaries if os.path.isfile(os.path.join(
            search_dir(runs_dir, s["method"]), "winner", "metrics.json"))]
    with concurrent.futures.ThreadPoolExecutor(len(summaries) if ns.parallel else 1) as pool:
        futures = {s["method"]: pool.submit(retrain_winner, s["method"], s, runs_dir)
                   for s in summaries}
        return {method: future.result() for method, future in futures.items()}


def main(argv=None):
    ns, settings, methods = parse_args(argv)
    if ns.replica_worker:
        replica_worker(ns.replica_worker, settings)
        return
    runs_dir = ns.runs_dir
    os.makedirs(runs_dir, exist_ok=True)
    if not (ns.report_only or ns.skip_search):
        run_searches(methods, settings, runs_dir, parallel=ns.parallel)
        write_report(build_results(settings, runs_dir, methods), ns.results_dir)
    retrained = {}
    if ns.retrain:
        retrained = retrain_winners(ns, settings, methods)
        write_report(build_results(settings, runs_dir, methods, retrained), ns.results_dir)
    replicas = None
    if not ns.skip_replicas:
        if ns.report_only:
            replicas = cached_replicas(settings, runs_dir) or None
        else:
            replicas = run_replicas(settings, runs_dir)
    final = build_results(settings, runs_dir, methods, retrained, replicas)
    write_report(final, ns.results_dir)
    print(to_markdown(final))

