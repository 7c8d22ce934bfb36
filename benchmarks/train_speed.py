"""Training speed before and after the runtime choices of issue 31, side by side in one run.

`./scripts/run bench train_speed [--rounds N] [--models ...] [--quick]`

Each setting is a combination of two choices that `kzoo train` now makes by default:

- **oneDNN**: TensorFlow's oneDNN CPU kernels (`TF_ENABLE_ONEDNN_OPTS=1`), which its x86
  wheels leave off on CPUs without AVX-512 VNNI, BF16 or AMX, such as this machine's;
- **fused BatchNorm**: TensorFlow's `FusedBatchNormV3` kernel in training
  (`--batch-norm-impl fused`) instead of the formula written out as separate ops.

oneDNN is chosen when TensorFlow loads, so every setting runs in child processes of its own:
one `roofline` measurement per setting per round (`benchmarks/roofline.py`, one round:
the float32 matmul rate of that process and each model's training step, as `kzoo train`
runs it, in memory and on the input pipeline). The settings alternate within each round,
their order reversed every other round, so a slow spell of this shared machine weighs on
all of them alike; the medians over rounds are reported. `before` is how `kzoo train` ran
on this machine until these choices (the speed table's settings); `after` is how it runs
now. Each process's fraction of the matmul rate is against its own matmul (oneDNN speeds
up the matmul too).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_text, read_results,
                                   write_results)

NAME = "train_speed"
#: setting → (TF_ENABLE_ONEDNN_OPTS, --batch-norm-impl).
SETTINGS = {
    "before": ("0", "formula"),
    "onednn": ("1", "formula"),
    "fused": ("0", "fused"),
    "after": ("1", "fused"),
}
SETTING_LABELS = {"before": "before (Eigen kernels, BatchNorm formula)",
                  "onednn": "oneDNN only", "fused": "fused BatchNorm only",
                  "after": "after (oneDNN, fused BatchNorm: kzoo train's defaults)"}
MODELS = ("lenet", "resnet20", "resnet9", "mobilenet_v2")
#: Goals of issue 31: every small model's throughput >= 1.5x, the recipe at >= 0.6 of matmul.
GOAL_SPEEDUP, RECIPE_MODEL, GOAL_FRACTION = 1.5, "resnet9", 0.6


def measure(setting, models, steps, *, quick=False, log=print):
    """One roofline round of `models` under `setting`, in a child process: its results."""
    onednn, impl = SETTINGS[setting]
    with tempfile.TemporaryDirectory(prefix="kzoo-train-speed-") as out:
        command = [sys.executable, "-m", "benchmarks", "roofline", "--models", ",".join(models),
                   "--rounds", "1", "--steps", str(steps), "--profile-models", "",
                   "--matmul-sizes", "1024" if quick else "2048",
                   "--stream-elements", str(2**20 if quick else 2**22),
                   "--batch-norm-impl", impl, "--output-dir", out]
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if done.returncode != 0:
            raise RuntimeError(f"train_speed: the {setting!r} measurement failed "
                               f"(exit {done.returncode}):\n{done.stderr[-3000:]}")
        with open(os.path.join(out, "roofline.json"), encoding="utf-8") as f:
            results = json.load(f)
    if results["settings"].get("onednn") is not (onednn == "1"):
        raise RuntimeError(f"train_speed: the {setting!r} process ran with oneDNN "
                           f"{results['settings'].get('onednn')}, not as asked ({onednn})")
    return {"matmul_gflops": results["matmul_gflops"],
            "models": {r["model"]: {"memory": r["memory"]["images_per_s"],
                                    "pipeline": r["pipeline"]["images_per_s"],
                                    "fraction": r["memory"]["fraction_of_matmul"],
                                    "gflops": r["memory"]["gflops"], "batch": r["batch"]}
                       for r in results["models"]}}


#: `./scripts/run main`'s training command (scripts/run), timed by `--main-job`.
MAIN_JOB = ["train", "lenet", "--dataset", "fashion_mnist", "--epochs", "8", "--schedule",
            "cosine", "--learning-rate", "0.002"]


def main_job(settings=("before", "after"), rounds=1, log=print):
    """The main job's training under each setting, alternating, each a real `kzoo train`
    process into a temporary folder: `{setting: {"seconds", "test_accuracy"}}` (medians)."""
    out = {s: [] for s in settings}
    for r in range(rounds):
        for setting in (settings if r % 2 == 0 else settings[::-1]):
            onednn, impl = SETTINGS[setting]
            with tempfile.TemporaryDirectory(prefix="kzoo-main-job-") as folder:
                run = os.path.join(folder, "run")
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "kzoo", *MAIN_JOB, "--batch-norm-impl", impl,
                     "--output", run], capture_output=True, text=True,
                    env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn})
                seconds = time.perf_counter() - start
                if done.returncode != 0:
                    raise RuntimeError(f"train_speed: the main job under {setting!r} failed:\n"
                                       f"{done.stderr[-3000:]}")
                with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
                    accuracy = json.load(f)["test_accuracy"]
            out[setting].append((seconds, accuracy))
            log(f"train_speed: main job, {setting}: {seconds:.0f} s, test accuracy {accuracy:.4f}")
    return {s: {"seconds": round(statistics.median(x[0] for x in v), 1),
                "test_accuracy": statistics.median(x[1] for x in v), "runs": len(v)}
            for s, v in out.items()}


def summarize(rounds_data, settings, models):
    """Medians over rounds: `{model: {setting: {...}}}`, speedups of `after` over `before`."""
    rows = []
    for model in models:
        row = {"model": model, "settings": {}}
        for setting in settings:
            runs = [r[setting]["models"][model] for r in rounds_data]
            row["settings"][setting] = {
                key: round(statistics.median(run[key] for run in runs), 4 if key == "fraction"
                           else 1)
                for key in ("memory", "pipeline", "fraction", "gflops")}
            row["batch"] = runs[0]["batch"]
        if "before" in settings and "after" in settings:
            b, a = row["settings"]["before"], row["settings"]["after"]
            row["speedup_pipeline"] = round(a["pipeline"] / b["pipeline"], 3)
            row["speedup_memory"] = round(a["memory"] / b["memory"], 3)
        rows.append(row)
    matmul = {s: round(statistics.median(r[s]["matmul_gflops"] for r in rounds_data), 1)
              for s in settings}
    return rows, matmul


def verdict(rows):
    """Against issue 31's goals; None where a needed setting or model was not run."""
    speedups = {r["model"]: r.get("speedup_pipeline") for r in rows}
    met_speed = (None if any(v is None for v in speedups.values())
                 else all(v >= GOAL_SPEEDUP for v in speedups.values()))
    recipe = next((r for r in rows if r["model"] == RECIPE_MODEL), None)
    fraction = recipe["settings"].get("after", {}).get("fraction") if recipe else None
    slow = sorted(m for m, v in speedups.items() if v is not None and v < GOAL_SPEEDUP)
    text = []
    if met_speed is not None:
        text.append("throughput on the input pipeline, after / before: "
                    + ", ".join(f"{m} {v:.2f}×" for m, v in speedups.items())
                    + (f"; the {GOAL_SPEEDUP}× goal is met for every model" if met_speed else
                       f"; the {GOAL_SPEEDUP}× goal is not met for {', '.join(slow)}"))
    if fraction is not None:
        text.append(f"the recipe {RECIPE_MODEL} trains at {fraction:.2f} of its process's "
                    f"matmul rate (goal {GOAL_FRACTION}: "
                    f"{'met' if fraction >= GOAL_FRACTION else 'not met'})")
    return {"speedups": speedups, "speedup_met": met_speed, "recipe_fraction": fraction,
            "fraction_met": None if fraction is None else fraction >= GOAL_FRACTION,
            "text": "; ".join(text) or "nothing to compare"}


def run(*, models=MODELS, settings=tuple(SETTINGS), rounds=3, steps=8, quick=False,
        log=print):
    started = time.time()
    rounds_data = []
    for r in range(rounds):
        order = list(settings) if r % 2 == 0 else list(settings)[::-1]
        data = {}
        for setting in order:
            data[setting] = measure(setting, models, steps, quick=quick, log=log)
            log(f"train_speed: round {r + 1}/{rounds}, {setting}: "
                + ", ".join(f"{m} {v['pipeline']:.0f} img/s"
                            for m, v in data[setting]["models"].items())
                + f" ({time.time() - started:.0f} s)")
        rounds_data.append(data)
    rows, matmul = summarize(rounds_data, settings, models)
    return {"benchmark": NAME,
            "settings": {"models": list(models), "settings": list(settings), "rounds": rounds,
                         "steps": steps, "quick": quick,
                         "definitions": {s: {"TF_ENABLE_ONEDNN_OPTS": SETTINGS[s][0],
                                             "batch_norm_impl": SETTINGS[s][1]}
                                         for s in settings}},
            "machine": machine(), "matmul_gflops": matmul, "models": rows,
            "rounds_data": rounds_data, "verdict": verdict(rows),
            "seconds": round(time.time() - started, 1)}


def to_markdown(results):
    s, m = results["settings"], results["machine"]
    settings = s["settings"]
    lines = [f"Training steps of the small zoo models under {len(settings)} runtime settings "
             f"({machine_text(m)}, Python {m['python']}, TF {m['tensorflow']}); "
             f"{s['rounds']} rounds, each setting in a process of its own per round, "
             f"{s['steps']} steps per model; medians over rounds.", "",
             *(["**A smoke run (`--quick`): these numbers are not for keeping.**", ""]
               if s.get("quick") else []),
             f"**Verdict:** {verdict(results['models'])['text']}.", "",
             "#### Images per second on the input pipeline (as `kzoo train` runs)", "",
             "| model | batch | " + " | ".join(SETTING_LABELS[x] for x in settings)
             + (" | after / before |" if "speedup_pipeline" in results["models"][0] else " |"),
             "|---|---|" + "---|" * len(settings)
             + ("---|" if "speedup_pipeline" in results["models"][0] else "")]
    for r in results["models"]:
        cells = [f"{r['settings'][x]['pipeline']:.0f}" for x in settings]
        extra = f" | **{r['speedup_pipeline']:.2f}×**" if "speedup_pipeline" in r else ""
        lines.append(f"| `{r['model']}` | {r['batch']} | " + " | ".join(cells) + extra + " |")
    lines += ["", "#### The compute alone: in-memory steps against each process's matmul rate",
              "", "| model | " + " | ".join(
                  f"{x}: img/s, GFLOP/s, fraction" for x in settings) + " |",
              "|---|" + "---|" * len(settings)]
    for r in results["models"]:
        lines.append(f"| `{r['model']}` | " + " | ".join(
            f"{r['settings'][x]['memory']:.0f}, {r['settings'][x]['gflops']:.1f}, "
            f"{r['settings'][x]['fraction']:.2f}" for x in settings) + " |")
    lines.append("| float32 matmul rate (GFLOP/s) | " + " | ".join(
        f"{results['matmul_gflops'][x]:.1f}" for x in settings) + " |")
    job = results.get("main_job")
    if job:
        lines += ["", "#### The main job (`./scripts/run main`'s `kzoo train`, wall time of "
                  "the whole command)", "", "| setting | seconds | test accuracy | runs |",
                  "|---|---|---|---|"]
        lines += [f"| {SETTING_LABELS[x]} | {v['seconds']:.0f} | {v['test_accuracy']:.4f} | "
                  f"{v['runs']} |" for x, v in job.items()]
    lines += ["", f"The run took {results['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    if not os.path.exists(os.path.join(results_dir, f"{NAME}.json")):
        return ("No results yet: run `./scripts/run bench train_speed` and build the docs.\n\n"
                "| model | before | after |\n|---|---|---|\n| — | not measured | — |\n")
    return for_docs(to_markdown(read_results(NAME, results_dir)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks train_speed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help="roofline models, comma-separated")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=", ".join(SETTINGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per model per round")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round of 2 steps (numbers not for keeping)")
    parser.add_argument("--output-dir", default=RESULTS_DIR)
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--main-job", type=int, default=0, metavar="ROUNDS",
                        help="also time ./scripts/run main's training under before and after, "
                             "ROUNDS times each (about 2-3 min per run); with --only-main-job "
                             "the step results already written are kept")
    parser.add_argument("--only-main-job", action="store_true",
                        help="time the main job only, into the existing results file")
    args = parser.parse_args(argv)
    if args.main_job < 0 or (args.only_main_job and not args.main_job):
        parser.error(f"--main-job must be a positive number of rounds with --only-main-job; "
                     f"got {args.main_job}")
    if args.only_main_job:
        results = read_results(NAME, args.output_dir)
    else:
        results = _measure_steps(args, parser)
    if args.main_job:
        results["main_job"] = main_job(rounds=args.main_job)
    markdown = to_markdown(results)
    print(markdown)
    if not args.no_write:
        write_results(NAME, results, markdown, results_dir=args.output_dir)
    return results


def _measure_steps(args, parser):
    """The step measurements `main`'s flags ask for (a parser error on a bad flag)."""
    from benchmarks.roofline import MODELS as ROOFLINE_MODELS

    models = [x for x in args.models.split(",") if x]
    settings = [x for x in args.settings.split(",") if x]
    for flag, names, allowed in (("--models", models, ROOFLINE_MODELS),
                                 ("--settings", settings, SETTINGS)):
        unknown = [x for x in names if x not in allowed]
        if unknown or not names:
            parser.error(f"{flag}: expected some of {list(allowed)}, got {names}")
    if args.rounds < 1 or args.steps < 1:
        parser.error(f"--rounds and --steps must be positive: got {args.rounds}, {args.steps}")
    rounds, steps = (1, 2) if args.quick else (args.rounds, args.steps)
    return run(models=models, settings=settings, rounds=rounds, steps=steps, quick=args.quick)


if __name__ == "__main__":
    main()
