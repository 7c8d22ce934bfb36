"""The CPU-budget accounting: best-so-far curves, each method's numbers and winner within
the budget, the verdict on the goal, and the winners retrained with `kzoo train`."""

import dataclasses
import json
import os
import shlex
import sys

from benchmarks.tuning.processes import append_json_line, log, read_json_lines, run_logged
from benchmarks.tuning.searches import search_dir


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
        code, seconds = run_logged(argv, os.path.join(runs_dir, f"{method}.retrain.log"))
        if code != 0 or not os.path.isfile(metrics_path):
            log(f"{method}: retraining failed (exit {code}); see {method}.retrain.log")
            return {"command": command, "error": f"exit {code}"}
        append_json_line(os.path.join(runs_dir, f"{method}.retrain.jsonl"),
                         {"seconds": round(seconds, 1)})
    with open(metrics_path) as f:
        metrics = json.load(f)
    runs = read_json_lines(os.path.join(runs_dir, f"{method}.retrain.jsonl"))
    return {"command": command, "test_accuracy": metrics.get("test_accuracy"),
            "best_val_accuracy": metrics.get("best_val_accuracy"),
            "seconds": runs[-1]["seconds"] if runs else None, "run_dir": run}
