"""The report of the tuning benchmark: the Markdown table and the best-so-far plot."""

from benchmarks.results_io import RESULTS_DIR, for_docs, machine_note, machine_text, read_results
from benchmarks.tuning.replicas import REPLICA_CONFIGS


def _fmt(value, spec, empty="—"):
    return empty if value is None else format(value, spec)


def to_markdown(results):
    """The Markdown report: the methods' table, the verdict, the winners' commands, the
    replicas."""
    s, budget = results["settings"], results["settings"]["budget_cpu_seconds"]
    goal = s["goal"]
    m = results["machine"]
    lines = [
        f"Hyperparameter search of `{s['model']}` on `{s['dataset']}` (space `{s['space']}`), "
        f"the same budget of {budget:g} CPU seconds ({budget / 60:.3g} CPU-minutes of trial "
        f"process time) per method ({machine_text(m)}, TF {m['tensorflow']}; validation "
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
    lines += [_method_row(r) for r in results["methods"]]
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
    lines += _replica_lines(results)
    lines += ["", "![best validation accuracy against CPU time](tuning.png)"]
    return "\n".join(lines) + "\n"


def _method_row(r):
    """One method's row of the table: its numbers, its winner and the winner's test accuracy."""
    w, rt = r["winner"], r.get("retrain") or {}
    winner = "—" if w is None else (
        f"stage {w['stage']} trial {w['trial_id']}: "
        + ", ".join(f"{k}={_fmt(v, '.3g') if isinstance(v, float) else v}"
                    for k, v in w["values"].items()))
    status = "" if r["finished"] else " (unfinished)"
    return (f"| {r['method']}{status} | {r['trials']} ({r['trials_within_budget']}) | "
            f"{r['epochs']} | {r['cpu_seconds']:.0f} | {r['wall_seconds']:.0f} | "
            f"{_fmt(r['best_val_accuracy'], '.4f')} | {_fmt(r['goal_cpu_seconds'], '.0f')} | "
            f"{_fmt(r['goal_wall_seconds'], '.0f')} | {winner} | "
            f"{_fmt(rt.get('test_accuracy'), '.4f')} |")


def _replica_lines(results):
    """The replicas' table and ratios (or the note that they were skipped)."""
    rep, s = results.get("replicas"), results["settings"]
    lines = []
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
    return lines


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables and verdict: `results/tuning.json` through `to_markdown`
    (the page shows the plot itself)."""
    results = read_results("tuning", results_dir)
    note = machine_note(results["machine"])
    return for_docs(to_markdown(results)) + (f"\n{note}" if note else "")


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

