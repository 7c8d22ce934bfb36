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
import dataclasses
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

from benchmarks.results_io import RESULTS_DIR

NAME = "tuning"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", "tuning")
METHODS = ("random", "coarse_to_fine", "hyperband")
REPLICA_CONFIGS = ("default", "mirrored1", "mirrored2")
REPLICA_MARK = "KZOO_REPLICA_RESULT "

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


def log(message):
    print(f"[tuning bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- searches

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


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_logged(argv, log_path):
    """Runs `argv` with its output appended to `log_path`; returns (returncode, seconds)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.time()
    with open(log_path, "a") as out:
        out.write(f"\n$ {shlex.join(argv)}\n")
        out.flush()
        code = subprocess.call(argv, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    return code, time.time() - start


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
    code, seconds = _run_logged(argv, os.path.join(runs_dir, f"{method}.log"))
    _append_json_line(os.path.join(runs_dir, f"{method}.invocations.jsonl"),
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


def _append_json_line(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _read_json_lines(path):
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


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


def curve(trials, budget):
    """Best-so-far validation accuracy against cumulative trial CPU and wall seconds.

    Every trial's time counts (diverged and failed ones too); only completed
    trials with a validation accuracy can be the best. A point is within the
    budget when the cumulative CPU time at its trial's end is ≤ `budget`.
    """
    points, cpu, wall, best = [], 0.0, 0.0, None
    for t in trials:
        cpu += t.get("cpu_seconds") or 0.0
        wall += t.get("seconds") or 0.0
        if t["status"] == "completed" and t.get("val_accuracy") is not None:
            if best is None or t["val_accuracy"] > best:
                best = t["val_accuracy"]
        points.append({"trial_id": t["trial_id"], "stage": t.get("stage", 1),
                       "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
                       "val_accuracy": t.get("val_accuracy"), "status": t["status"],
                       "best": best, "within_budget": cpu <= budget})
    return points


def summarize(method, trials, budget, goal):
    """One method's numbers: trials, CPU used, best within the budget, time to `goal`."""
    points = curve(trials, budget)
    within = [(p, t) for p, t in zip(points, trials) if p["within_budget"]]
    done = [(p, t) for p, t in within
            if t["status"] == "completed" and t.get("val_accuracy") is not None]
    winner = max(done, key=lambda pt: pt[1]["val_accuracy"], default=(None, None))[1]
    overall = [t for t in trials if t["status"] == "completed" and t.get("val_accuracy")
               is not None]
    reached = next((p for p in points if p["within_budget"] and p["best"] is not None
                    and p["best"] >= goal), None)
    counts = {s: sum(t["status"] == s for t in trials) for s in ("completed", "diverged",
                                                                 "failed")}
    return {
        "method": method, "trials": len(trials), "trials_within_budget": len(within),
        **{f"trials_{k}": v for k, v in counts.items()},
        "epochs": sum(t.get("epochs") or 0 for t in trials),
        "cpu_seconds": points[-1]["cpu_seconds"] if points else 0.0,
        "wall_seconds": points[-1]["wall_seconds"] if points else 0.0,
        "best_val_accuracy": winner["val_accuracy"] if winner else None,
        "best_val_accuracy_overall": max((t["val_accuracy"] for t in overall), default=None),
        "winner": winner and {k: winner[k] for k in ("trial_id", "stage", "values",
                                                     "val_accuracy", "epochs")},
        "goal_cpu_seconds": reached["cpu_seconds"] if reached else None,
        "goal_wall_seconds": reached["wall_seconds"] if reached else None,
        "curve": points,
    }


# ---------------------------------------------------------------- winners

def winner_config(out, winner):
    """The `TrainConfig` that reproduces `winner` (a trial record) of the search in `out`.

    The search's `best.json` holds the full `kzoo train` config of its best
    trial; the winner within the budget may be another trial, so its values
    and its stage's epochs replace those (builder arguments go to
    `model_kwargs`), as `kzoo.tuning` does for `best.json`.
    """
    from kzoo.training.config import TrainConfig

    with open(os.path.join(out, "best.json")) as f:
        best = json.load(f)
    with open(os.path.join(out, "run.json")) as f:
        stages = json.load(f)["config"]["stages"]
    base = TrainConfig.from_dict(best["config"])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = winner["values"]
    return dataclasses.replace(
        base, **{k: v for k, v in values.items() if k in fields},
        epochs=stages[winner["stage"] - 1][1],
        model_kwargs={**base.model_kwargs,
                      **{k: v for k, v in values.items() if k not in fields}}).resolved()


def retrain_winner(method, summary, runs_dir):
    """Retrains a method's winner with `kzoo train` (outside the budget); its metrics or None."""
    out = search_dir(runs_dir, method)
    if summary["winner"] is None or not os.path.isfile(os.path.join(out, "best.json")):
        return None
    run = os.path.join(out, "winner")
    config = winner_config(out, summary["winner"])
    command = config.command(run)
    metrics_path = os.path.join(run, "metrics.json")
    seconds = None
    if not os.path.isfile(metrics_path):
        argv = [sys.executable, "-m"] + shlex.split(command)
        log(f"{method}: retraining the winner: {shlex.join(argv)}")
        code, seconds = _run_logged(argv, os.path.join(runs_dir, f"{method}.retrain.log"))
        if code != 0 or not os.path.isfile(metrics_path):
            log(f"{method}: retraining failed (exit {code}); see {method}.retrain.log")
            return {"command": command, "error": f"exit {code}"}
        _append_json_line(os.path.join(runs_dir, f"{method}.retrain.jsonl"),
                          {"seconds": round(seconds, 1)})
    with open(metrics_path) as f:
        metrics = json.load(f)
    runs = _read_json_lines(os.path.join(runs_dir, f"{method}.retrain.jsonl"))
    return {"command": command, "test_accuracy": metrics.get("test_accuracy"),
            "best_val_accuracy": metrics.get("best_val_accuracy"),
            "seconds": runs[-1]["seconds"] if runs else None, "run_dir": run}


# ---------------------------------------------------------------- replicas

def replica_worker(config, settings):
    """In a fresh process: steps/s of one strategy configuration; prints one JSON line."""
    from kzoo import distribute  # the CPU split must precede every TF op

    if config == "default":
        strategy = distribute.get_strategy("default")
    elif config.startswith("mirrored"):
        strategy = distribute.get_strategy("mirrored", cpu_replicas=int(config[len("mirrored"):]))
    else:
        raise ValueError(f"Argument `config` must be one of {list(REPLICA_CONFIGS)}. "
                         f"Received: config={config!r}")
    import keras
    import numpy as np
    import tensorflow as tf

    from kzoo.data import catalog
    from kzoo.training.config import TrainConfig
    from kzoo.training.trainer import build_zoo_model

    batch, warmup, steps = (settings["replica_batch"], settings["replica_warmup"],
                            settings["replica_steps"])
    train_config = TrainConfig(settings["replica_model"], settings["replica_dataset"],
                               batch_size=batch).resolved()
    spec = catalog.get_spec(train_config.dataset)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * 8, *spec.shape)).astype("float32")
    labels = rng.integers(0, spec.num_classes, size=(batch * 8,)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(
        batch, drop_remainder=True).prefetch(2)
    with strategy.scope():
        model = build_zoo_model(train_config)
        model.compile(optimizer=train_config.make_optimizer(warmup + steps),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    marks = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            if batch_index + 1 in (warmup, warmup + steps):
                marks[batch_index + 1] = (time.perf_counter(), time.process_time())

    model.fit(data, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[Clock()])
    (w0, c0), (w1, c1) = marks[warmup], marks[warmup + steps]
    result = {"config": config, "replicas": strategy.num_replicas_in_sync,
              "devices": [d.name for d in tf.config.list_logical_devices("CPU")],
              "global_batch": batch, "steps": steps, "seconds": w1 - w0,
              "steps_per_second": steps / (w1 - w0), "cpu_seconds_per_step": (c1 - c0) / steps}
    print(REPLICA_MARK + json.dumps(result), flush=True)


def run_replicas(settings, runs_dir, configs=REPLICA_CONFIGS):
    """Each configuration in its own process, interleaved `replica_repeats` times (cached)."""
    cache = os.path.join(runs_dir, "replicas.jsonl")
    keys = ("replica_model", "replica_dataset", "replica_batch", "replica_steps",
            "replica_warmup")
    wanted = {k: settings[k] for k in keys}
    done = [r for r in _read_json_lines(cache) if r.get("settings") == wanted]
    for repeat in range(settings["replica_repeats"]):
        for config in configs:
            if any(r["config"] == config and r["repeat"] == repeat for r in done):
                continue
            argv = [sys.executable, "-m", "benchmarks.tuning", "--replica-worker", config,
                    *[f"--{k.replace('_', '-')}={settings[k]}" for k in keys]]
            log(f"replicas: {config}, repeat {repeat}")
            proc = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLICA_MARK)]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"The replica worker {config} failed (exit "
                                   f"{proc.returncode}): {proc.stderr[-2000:]}")
            record = {**json.loads(lines[-1][len(REPLICA_MARK):]), "repeat": repeat,
                      "settings": wanted}
            _append_json_line(cache, record)
            done.append(record)
    return done


def replica_summary(records):
    """Median steps/s per configuration and the 2-replica ratios."""
    by = {}
    for r in records:
        by.setdefault(r["config"], []).append(r)
    rows = {c: {"runs": len(rs), "replicas": rs[0]["replicas"],
                "steps_per_second": [round(r["steps_per_second"], 3) for r in rs],
                "median_steps_per_second": statistics.median(r["steps_per_second"] for r in rs),
                "median_cpu_seconds_per_step": statistics.median(r["cpu_seconds_per_step"]
                                                                 for r in rs)}
            for c, rs in by.items()}

    def ratio(a, b):
        if a in rows and b in rows:
            return rows[a]["median_steps_per_second"] / rows[b]["median_steps_per_second"]
        return None

    def paired(a, b):
        """Median over repeats of a/b within the same repeat (measured back to back)."""
        runs = {(r["config"], r["repeat"]): r["steps_per_second"] for r in records}
        ratios = [runs[(a, k)] / runs[(b, k)] for (c, k) in runs if c == a and (b, k) in runs]
        return statistics.median(ratios) if ratios else None

    def cpu_ratio(a, b):
        if a in rows and b in rows:
            return (rows[a]["median_cpu_seconds_per_step"]
                    / rows[b]["median_cpu_seconds_per_step"])
        return None

    return {"configs": rows, "ratio_mirrored2_over_default": ratio("mirrored2", "default"),
            "ratio_mirrored2_over_mirrored1": ratio("mirrored2", "mirrored1"),
            "ratio_mirrored1_over_default": ratio("mirrored1", "default"),
            "paired_ratio_mirrored2_over_default": paired("mirrored2", "default"),
            "paired_ratio_mirrored2_over_mirrored1": paired("mirrored2", "mirrored1"),
            "cpu_per_step_ratio_mirrored2_over_default": cpu_ratio("mirrored2", "default")}


# ---------------------------------------------------------------- report

def verdict(summaries, goal, budget, methods):
    """Whether the best method reaches `goal` within the budget; undecided while any is missing."""
    ran = [s for s in summaries if s["trials"]]
    best = max((s for s in ran if s["best_val_accuracy"] is not None),
               key=lambda s: s["best_val_accuracy"], default=None)
    missing = [m for m in methods if m not in {s["method"] for s in summaries if s["finished"]}]
    met = best is not None and best["best_val_accuracy"] >= goal
    minutes = budget / 60
    if best is None:
        text = f"no method completed a trial within {minutes:.3g} CPU-minutes"
    else:
        text = (f"best within {minutes:.3g} CPU-minutes: {best['method']} "
                f"{best['best_val_accuracy']:.4f} (goal ≥ {goal})")
    if met:
        state = "met"
    elif missing:
        state = "undecided"
        text += f"; searches not finished: {', '.join(missing)}"
    else:
        state = "not met"
    return {"met": True if met else (None if missing else False), "state": state,
            "best_method": best and best["method"], "text": f"{text} — {state}",
            "missing": missing}


def _fmt(value, spec, empty="—"):
    return empty if value is None else format(value, spec)


def to_markdown(results):
    s, budget = results["settings"], results["settings"]["budget_cpu_seconds"]
    goal = s["goal"]
    m = results["machine"]
    lines = [
        f"Hyperparameter search of `{s['model']}` on `{s['dataset']}` (space `{s['space']}`), "
        f"the same budget of {budget:g} CPU seconds ({budget / 60:.3g} CPU-minutes of trial "
        f"process time) per method ({m['cpus']} CPUs, TF {m['tensorflow']}; validation "
        f"accuracy on {results['validation_size']:,} held-out training images).",
        "",
        f"Methods: random = {s['random_max_trials']} trials max of {s['random_epochs']} "
        f"epochs; coarse-to-fine = stages `{s['stages']}` (random search per stage, the "
        f"budget split by planned trials × epochs); hyperband = max_epochs "
        f"{s['hyperband_epochs']}, factor 3. A trial counts if the cumulative CPU time at "
        f"its end is within the budget; winners retrained with their `kzoo train` command "
        f"(outside the budget) and measured on the test set.",
        "",
        f"| method | trials run (within budget) | epochs | CPU s used | trial wall s | "
        f"best val accuracy within budget | CPU s to {goal} | wall s to {goal} | "
        f"winner | winner test accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["methods"]:
        w, rt = r["winner"], r.get("retrain") or {}
        winner = "—" if w is None else (
            f"stage {w['stage']} trial {w['trial_id']}: "
            + ", ".join(f"{k}={_fmt(v, '.3g') if isinstance(v, float) else v}"
                        for k, v in w["values"].items()))
        status = "" if r["finished"] else " (unfinished)"
        lines.append(
            f"| {r['method']}{status} | {r['trials']} ({r['trials_within_budget']}) | "
            f"{r['epochs']} | {r['cpu_seconds']:.0f} | {r['wall_seconds']:.0f} | "
            f"{_fmt(r['best_val_accuracy'], '.4f')} | {_fmt(r['goal_cpu_seconds'], '.0f')} | "
            f"{_fmt(r['goal_wall_seconds'], '.0f')} | {winner} | "
            f"{_fmt(rt.get('test_accuracy'), '.4f')} |")
    v = results["verdict"]
    lines += ["", f"**Goal** (the best method ≥ {goal} validation accuracy within "
              f"{budget / 60:.3g} CPU-minutes): {v['text']}."]
    over = [r for r in results["methods"] if r["best_val_accuracy_overall"] is not None
            and r["best_val_accuracy"] is not None
            and r["best_val_accuracy_overall"] > r["best_val_accuracy"]]
    for r in over:
        lines.append(f"- {r['method']}: a trial past the budget reached "
                     f"{r['best_val_accuracy_overall']:.4f} (not counted).")
    retrains = [r for r in results["methods"] if (r.get("retrain") or {}).get("command")]
    if retrains:
        lines += ["", "Winners' `kzoo train` commands:", ""]
        for r in retrains:
            rt = r["retrain"]
            extra = (f" (val {rt['best_val_accuracy']:.4f}, {rt['seconds']:.0f} s)"
                     if rt.get("best_val_accuracy") is not None and rt.get("seconds") else "")
            lines.append(f"- {r['method']}: `{rt['command']}`{extra}")
    rep = results.get("replicas")
    if rep and rep["configs"]:
        lines += ["", f"Replicas: `{s['replica_model']}` training steps per second, global "
                  f"batch {s['replica_batch']}, {s['replica_steps']} steps after "
                  f"{s['replica_warmup']} warm-up, a fresh process per run, configurations "
                  f"interleaved (median of runs):", "",
                  "| strategy | replicas | runs | steps/s (median) | runs' steps/s | "
                  "CPU s per step |", "|---|---|---|---|---|---|"]
        for c in REPLICA_CONFIGS:
            row = rep["configs"].get(c)
            if row:
                lines.append(f"| {c} | {row['replicas']} | {row['runs']} | "
                             f"{row['median_steps_per_second']:.2f} | "
                             f"{', '.join(f'{x:.2f}' for x in row['steps_per_second'])} | "
                             f"{row['median_cpu_seconds_per_step']:.3f} |")
        lines += ["", f"2-replica MirroredStrategy / 1 replica (default strategy): "
                  f"{_fmt(rep['ratio_mirrored2_over_default'], '.3f')}× steps per second; "
                  f"/ 1-replica MirroredStrategy: "
                  f"{_fmt(rep['ratio_mirrored2_over_mirrored1'], '.3f')}×; 1-replica "
                  f"MirroredStrategy / default: "
                  f"{_fmt(rep['ratio_mirrored1_over_default'], '.3f')}×. Median of the "
                  f"per-repeat ratios (runs back to back): 2 replicas / default "
                  f"{_fmt(rep.get('paired_ratio_mirrored2_over_default'), '.3f')}×, / "
                  f"1-replica MirroredStrategy "
                  f"{_fmt(rep.get('paired_ratio_mirrored2_over_mirrored1'), '.3f')}×; CPU "
                  f"time per step, 2 replicas / default: "
                  f"{_fmt(rep.get('cpu_per_step_ratio_mirrored2_over_default'), '.3f')}×."]
    elif results.get("replicas_skipped"):
        lines += ["", "Replicas: not measured in this run."]
    lines += ["", "![best validation accuracy against CPU time](tuning.png)"]
    return "\n".join(lines) + "\n"


def plot(results, path):
    """Best-so-far validation accuracy against cumulative CPU time and trial wall time."""
    from kzoo.training.reports import pyplot
    from kzoo.utils.io import atomic_path

    plt = pyplot()
    s = results["settings"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, key, label in ((axes[0], "cpu_seconds", "cumulative trial CPU time (min)"),
                           (axes[1], "wall_seconds", "cumulative trial wall time (min)")):
        for i, r in enumerate(results["methods"]):
            pts = [p for p in r["curve"] if p["best"] is not None]
            if not pts:
                continue
            xs = [p[key] / 60 for p in pts]
            ys = [p["best"] for p in pts]
            ax.step(xs, ys, where="post", color=f"C{i}", label=r["method"])
            inside = [p for p in pts if p["within_budget"]]
            ax.scatter([p[key] / 60 for p in pts if p["val_accuracy"] is not None],
                       [p["val_accuracy"] for p in pts if p["val_accuracy"] is not None],
                       color=f"C{i}", s=10, alpha=0.4)
            if len(inside) < len(pts):
                ax.axvline(inside[-1][key] / 60 if inside else 0, color=f"C{i}",
                           linestyle=":", alpha=0.5)
        ax.axhline(s["goal"], color="k", linestyle="--", linewidth=0.8,
                   label=f"goal {s['goal']}")
        if key == "cpu_seconds":
            ax.axvline(s["budget_cpu_seconds"] / 60, color="r", linestyle="--",
                       linewidth=0.8, label="budget")
        done = [p["best"] for r in results["methods"] for p in r["curve"]
                if p["best"] is not None]
        if done:
            # The last 0.1 below the goal: early chance-level trials would squash the rest.
            ax.set_ylim(max(min(done) - 0.01, s["goal"] - 0.1),
                        min(1.0, max(max(done), s["goal"]) + 0.005))
        ax.set_xlabel(label)
        ax.set_ylabel("best validation accuracy so far")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{s['model']} on {s['dataset']}: {s['budget_cpu_seconds']:g} CPU s per "
                 f"method (dots: each trial; the axis starts 0.1 below the goal)",
                 fontsize=10)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def machine():
    import tensorflow as tf

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__}


def build_results(settings, runs_dir, methods, retrained=None, replicas=None):
    budget, goal = settings["budget_cpu_seconds"], settings["goal"]
    summaries = []
    validation_size = settings["validation_size"]
    for method in methods:
        out = search_dir(runs_dir, method)
        summary = summarize(method, read_trials(out), budget, goal)
        summary["finished"] = os.path.isfile(os.path.join(out, "metrics.json"))
        summary["command"] = shlex.join(tune_argv(method, settings, out)[1:])
        summary["process_seconds"] = round(sum(
            r["seconds"] for r in _read_json_lines(os.path.join(runs_dir,
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


def report(results, results_dir):
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


def main(argv=None):
    ns, settings, methods = parse_args(argv)
    if ns.replica_worker:
        replica_worker(ns.replica_worker, settings)
        return
    runs_dir = ns.runs_dir
    os.makedirs(runs_dir, exist_ok=True)
    if not (ns.report_only or ns.skip_search):
        run_searches(methods, settings, runs_dir, parallel=ns.parallel)
        report(build_results(settings, runs_dir, methods), ns.results_dir)
    retrained = {}
    if ns.retrain:
        summaries = build_results(settings, runs_dir, methods)["methods"]
        if ns.report_only:
            summaries = [s for s in summaries if os.path.isfile(os.path.join(
                search_dir(runs_dir, s["method"]), "winner", "metrics.json"))]
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(len(summaries) if ns.parallel else 1) as pool:
            futures = {s["method"]: pool.submit(retrain_winner, s["method"], s, runs_dir)
                       for s in summaries}
            retrained = {method: future.result() for method, future in futures.items()}
        report(build_results(settings, runs_dir, methods, retrained), ns.results_dir)
    replicas = None
    if not ns.skip_replicas:
        if ns.report_only:
            keys = ("replica_model", "replica_dataset", "replica_batch", "replica_steps",
                    "replica_warmup")
            wanted = {k: settings[k] for k in keys}
            replicas = [r for r in _read_json_lines(os.path.join(runs_dir, "replicas.jsonl"))
                        if r.get("settings") == wanted] or None
        else:
            replicas = run_replicas(settings, runs_dir)
    final = build_results(settings, runs_dir, methods, retrained, replicas)
    report(final, ns.results_dir)
    print(to_markdown(final))


if __name__ == "__main__":
    main()
