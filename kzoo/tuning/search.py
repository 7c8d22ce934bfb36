"""`kzoo.tuning.search`: a hyperparameter search with KerasTuner into one directory.

The search directory:

    run.json          the search's arguments (a different search here is refused)
    stage1/, stage2/  KerasTuner's project per stage (oracle, trials), each trial's
                      kzoo_trial.json, and the stage's space.json
    logs/             TensorBoard logs with the hparams plugin, per stage and trial
    trials.csv        every trial: trial_id, stage, values, val_accuracy,
                      val_loss, epochs, seconds, status
    search.png        validation accuracy against each hyperparameter
    best.json         the best trial's values and the `kzoo train` command that
                      reproduces it
    best/             that command's run directory (the best model retrained)
    metrics.json      the search is complete

Rerunning the same search resumes: KerasTuner reloads each stage's oracle,
completed trials are not run again and an interrupted one starts over.
"""

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kzoo.callbacks.progress import format_duration
from kzoo.training import run_dir
from kzoo.training.config import TrainConfig
from kzoo.tuning import results, space as space_module, stages as stages_module
from kzoo.tuning.tuner import ALGORITHMS, make_tuner, read_records, say
from kzoo.utils import io
from kzoo.version import __version__

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
SPACE_FILE = "space.json"
BEST_RUN = "best"


def _role():
    """`"single"`, `"chief"` or `"worker"` (KerasTuner's distributed mode, from the env)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if not os.environ.get(name):
            raise ValueError(f"KERASTUNER_ORACLE_IP is set, so KerasTuner's distributed mode "
                             f"is on, but {name} is not. Received: {name}="
                             f"{os.environ.get(name)!r}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def resolve_strategy(strategy, cpu_replicas=None):
    """A `tf.distribute.Strategy`, `None`, or a name for `kzoo.distribute.get_strategy`."""
    if strategy is None and cpu_replicas is None:
        return None
    if strategy is None or isinstance(strategy, str):
        from kzoo import distribute

        strategy = distribute.get_strategy(strategy or "auto", cpu_replicas=cpu_replicas)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise ValueError(
            "Argument `strategy`: KerasTuner runs a trial under a single-worker strategy "
            "only (default, one_device, mirrored); to search on several machines, use its "
            "chief/worker protocol (`workers=`, or KERASTUNER_* variables on each machine). "
            "Received: strategy='multi_worker'")
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    raise ValueError(f"Argument `strategy` must be a tf.distribute.Strategy or a strategy "
                     f"name. Received: strategy={strategy!r}")


def search(model, *, dataset, space, algorithm="random", max_trials=10, epochs=2,
           output_dir, stages=None, strategy=None, seed=0, precision="float32",
           validation_size=None, top_k=stages_module.TOP_K, retrain_best=True,
           base_options=None, workers=0, cpu_replicas=None, budget_cpu_seconds=None,
           overwrite=False, download=False, verbose=0):
    """Searches hyperparameters of `model` on `dataset` with KerasTuner; returns the trials.

    Every trial builds and trains the zoo model as `kzoo train` would with the
    trial's values (same seed, split, preprocessing and optimizer), under
    `strategy`, with kzoo's `ExplosionGuard`: a trial whose loss becomes
    non-finite or exceeds 3× its first value is stopped, recorded as
    `diverged`, and the search goes on. With `stages`, stage 1 searches the
    whole space and each later stage a space narrowed around the `top_k` best
    trials of the stage before (`kzoo.tuning.narrow`).

    Args:
        model: a registered model name.
        dataset: a dataset name (`kzoo.data.list_datasets()`).
        space: a preset name (`kzoo.tuning.list_spaces()`), a TOML file, a
            dict or a `kzoo.tuning.Space`; checked before any trial runs.
        algorithm: `"random"`, `"grid"`, `"hyperband"` or `"bayesian"`.
        max_trials: trials of the single stage (without `stages`), at most
            10,000.
        epochs: epochs per trial of the single stage (hyperband: at most), at
            most 10,000.
        output_dir: the search directory (new, empty, or this search's own).
        stages: `"40x2,10x8"`: coarse to fine, trials × epochs per stage
            (each at most 10,000).
        strategy: a `tf.distribute.Strategy` or a `kzoo.distribute` strategy
            name; every trial is built and trained under it (the batch size is
            the global batch).
        seed: the seed of every trial's weights, split and shuffle, and of the
            search algorithm.
        precision: `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`, set
            inside every trial's build.
        validation_size: held-out training images that rank the trials
            (default: `kzoo train`'s).
        top_k: best trials a stage's space is narrowed around.
        retrain_best: retrain the best trial's `kzoo train` command into
            `output_dir/best`.
        base_options: further `kzoo train` options fixed for every trial
            (`{"augment": "flip"}`); the space's values win.
        workers: with N > 0, this process becomes KerasTuner's chief (serving
            the oracle, training nothing) and starts N local worker processes
            that run the trials (`kzoo.tuning.launcher`); a worker that dies is
            started again and its trial rerun.
        cpu_replicas: split the CPU into this many logical devices for
            `strategy` (`kzoo.distribute.get_strategy`), in every process.
        budget_cpu_seconds: stop starting trials once the search has used this
            much CPU time (trials' process time, all threads), shared among the
            stages in proportion to their planned trials × epochs; the last
            trial of a stage may overrun it. `max_trials` / `stages` stay caps.
        overwrite: start afresh when `output_dir` is a kzoo search (never another
            command's run, never a folder kzoo did not make).
        download: let tensorflow-datasets download a missing dataset.
        verbose: Keras `fit` verbosity inside trials.

    Returns:
        The trial records, a list of dicts with `trial_id`, `stage`, `values`,
        `val_accuracy`, `val_loss`, `epochs`, `seconds`, `status`.

    Examples:
        >>> trials = kzoo.tuning.search("lenet", dataset="fashion_mnist", space="lenet",
        ...                             algorithm="random", max_trials=40, epochs=2,
        ...                             stages="40x2,10x8", output_dir="runs/tune-lenet")
        >>> max(t["val_accuracy"] or 0 for t in trials)
    """
    # Before any TF op: splitting the CPU must precede TF's initialisation.
    strategy_name = strategy if isinstance(strategy, str) or strategy is None else None
    strategy = resolve_strategy(strategy, cpu_replicas)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"Argument `workers` must be an int >= 0. Received: workers={workers!r}")
    plan = _plan(model, dataset=dataset, space=space, algorithm=algorithm,
                 max_trials=max_trials, epochs=epochs, stages=stages, seed=seed,
                 precision=precision, validation_size=validation_size, top_k=top_k,
                 base_options=base_options, budget_cpu_seconds=budget_cpu_seconds)
    role = _role()
    output_dir = os.fspath(output_dir)
    if workers:
        if role != "single":
            raise ValueError(f"Argument `workers`: this process is already a KerasTuner "
                             f"{role} (KERASTUNER_TUNER_ID is set); start workers from a "
                             f"plain process. Received: workers={workers}")
        from kzoo.tuning import launcher

        argv = [output_dir] + (["--strategy", strategy_name] if strategy_name else []) + (
            ["--cpu-replicas", str(cpu_replicas)] if cpu_replicas else [])
        return launcher.run_distributed(
            lambda ready: _search(plan, output_dir, "chief", strategy, overwrite, download,
                                  retrain_best, top_k, verbose, on_ready=ready),
            argv, workers, output_dir)
    return _search(plan, output_dir, role, strategy, overwrite, download, retrain_best, top_k,
                   verbose)


def _search(plan, output_dir, role, strategy, overwrite, download, retrain_best, top_k,
            verbose, on_ready=None):
    model = plan["config"].model
    if role == "worker":
        if overwrite:
            raise ValueError("Argument `overwrite`: only the chief (or a single process) may "
                             "start a search afresh; a worker joins the chief's search.")
        _check_worker_dir(output_dir, plan["record"])
    else:
        status = run_dir.prepare(output_dir, plan["record"], overwrite=overwrite,
                                 dry_run=True, kind=run_dir.TUNE)
        if status == run_dir.FINISHED:
            say(f"{output_dir} is a finished search; its trials:")
            return all_records(output_dir, plan["stages"])
    data = _load_data(plan["config"], download)
    if role != "worker":
        run_dir.prepare(output_dir, plan["record"], overwrite=overwrite, kind=run_dir.TUNE)
        run_dir.start(output_dir, {"config": plan["record"], "kzoo": __version__,
                                   "kind": run_dir.TUNE, "tensorflow": tf.__version__,
                                   "keras": keras.__version__})
    if on_ready is not None:
        on_ready()
    tf.config.experimental.enable_op_determinism()
    first = plan["space"]
    previous = first
    for i, stage in enumerate(plan["stages"]):
        if role == "worker" and _stage_over(output_dir, plan["stages"], i):
            continue  # a restarted worker: the chief has moved past this stage
        stage_space = _stage_space(output_dir, stage, first, previous, role, top_k, model)
        _run_stage(output_dir, stage, stage_space, plan, data, strategy, role, verbose)
        previous = stage_space
    records = all_records(output_dir, plan["stages"])
    if role == "worker":
        return records
    return _finish(output_dir, plan, records, strategy, retrain_best, download)


def _plan(model, *, dataset, space, algorithm, max_trials, epochs, stages, seed, precision,
          validation_size, top_k, base_options, budget_cpu_seconds=None):
    """Every argument checked, before anything is loaded or written."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"Argument `algorithm` must be one of {list(ALGORITHMS)}. "
                         f"Received: algorithm={algorithm!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"Argument `precision` must be one of {list(PRECISIONS)}. "
                         f"Received: precision={precision!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"Argument `top_k` must be an int >= 1. Received: top_k={top_k!r}")
    parsed = stages_module.parse_stages(stages, max_trials=max_trials, epochs=epochs)
    stages_module.check_counts(stages, parsed)
    base_options = dict(base_options or {})
    bad = sorted(set(base_options) & {"model", "dataset", "epochs", "seed", "validation_size"})
    if bad:
        raise ValueError(f"Argument `base_options` cannot set {bad}: they are arguments of "
                         f"search itself. Received: base_options={base_options!r}")
    try:
        config = TrainConfig(model, dataset, epochs=parsed[0].epochs, seed=seed,
                             validation_size=validation_size, **base_options).resolved()
    except TypeError as e:
        raise ValueError(f"Argument `base_options`: {e}. Received: "
                         f"base_options={base_options!r}") from None
    if config.validation_size < 1:
        raise ValueError(f"Argument `validation_size` must be >= 1: trials are ranked on the "
                         f"validation split. Received: validation_size={validation_size!r}")
    if budget_cpu_seconds is not None and (
            isinstance(budget_cpu_seconds, bool)
            or not isinstance(budget_cpu_seconds, (int, float)) or not budget_cpu_seconds > 0):
        raise ValueError(f"Argument `budget_cpu_seconds` must be a number > 0. "
                         f"Received: budget_cpu_seconds={budget_cpu_seconds!r}")
    checked = space_module.load_space(space, model)
    record = {"model": model, "dataset": dataset, "space": checked.to_dict(),
              "algorithm": algorithm,
              "stages": [[s.trials, s.epochs] for s in parsed], "seed": seed,
              "precision": precision, "validation_size": config.validation_size,
              "top_k": top_k, "base_options": base_options}
    if budget_cpu_seconds is not None:
        record["budget_cpu_seconds"] = budget_cpu_seconds
    planned = sum(s.trials * s.epochs for s in parsed)
    budgets = [None if budget_cpu_seconds is None else
               budget_cpu_seconds * s.trials * s.epochs / planned for s in parsed]
    return {"stages": parsed, "space": checked, "config": config, "record": record,
            "algorithm": algorithm, "seed": seed, "precision": precision, "budgets": budgets}


def _stage_over(output_dir, stages, i):
    """Whether the chief has finished stage `i` (the next one's space, or the end, exists)."""
    if i + 1 < len(stages):
        return os.path.isfile(os.path.join(output_dir, stages[i + 1].name, SPACE_FILE))
    return os.path.isfile(os.path.join(output_dir, run_dir.METRICS_FILE))


def _check_worker_dir(output_dir, record):
    run = run_dir.read_run(output_dir) if os.path.isdir(output_dir) else None
    if run is not None and run.get("config") != record:
        raise ValueError(f"Argument `output_dir`: {output_dir!r} holds another search; this "
                         f"worker's arguments differ from the chief's. Received: "
                         f"output_dir={output_dir!r}")


def _load_data(config, download):
    from kzoo.training.trainer import load_data

    # Statistics for every trial (a space may choose normalize="standardize").
    data = load_data(dataclasses.replace(config, normalize="standardize"), download=download)
    return data


def _stage_space(output_dir, stage, first, previous, role, top_k, model):
    """Stage 1: the space. Later: narrowed around the stage before's best trials; written
    to `stageN/space.json` by the chief (workers wait for it)."""
    path = os.path.join(output_dir, stage.name, SPACE_FILE)
    if os.path.isfile(path) or (role == "worker" and stage.number > 1):
        deadline = time.time() + 3600
        while not os.path.isfile(path):
            if time.time() > deadline:
                raise RuntimeError(f"No {path} from the chief within an hour.")
            time.sleep(1)
        return space_module.parse(run_dir.read_json(path, advice=(
            "delete it (the chief writes it again, narrowed from the trials of the stage "
            "before), or rerun with --overwrite to start the search afresh (this deletes it)")),
            model, source=path)
    if stage.number == 1:
        result = first
    else:
        done = [r for r in read_records(os.path.join(output_dir, f"stage{stage.number - 1}"))
                if r["status"] == "completed" and r["val_accuracy"] is not None]
        done.sort(key=lambda r: -r["val_accuracy"])
        result = stages_module.narrow(previous, [r["values"] for r in done[:top_k]],
                                      original=first)
        say(f"{stage.name}: space narrowed around the best {min(top_k, len(done))} of "
            f"{len(done)} completed trials: "
            + "; ".join(f"{p.name} {_describe(p)}" for p in result.parameters))
    if role != "worker":
        io.write_json(path, result.to_dict())
    return result


def _describe(p):
    if p.type == "choice":
        return "in " + ", ".join(map(str, p.values))
    return f"{p.min:.4g}..{p.max:.4g}"


def _run_stage(output_dir, stage, stage_space, plan, data, strategy, role, verbose):
    from kzoo.tuning.tuner import ZooHyperModel

    base = dataclasses.replace(plan["config"], epochs=stage.epochs)
    hypermodel = ZooHyperModel(base, stage_space, data, precision=plan["precision"])
    done = {r["trial_id"] for r in read_records(os.path.join(output_dir, stage.name))}
    timed = []  # this session's trials, whose times the ETA averages

    def progress(record):
        done.add(record["trial_id"])
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in record["values"].items())
        result = (f"val_accuracy {record['val_accuracy']:.4f}"
                  if record["val_accuracy"] is not None else "no validation result")
        timed.append(record)
        left = search_eta(timed, plan["stages"], stage, len(done))
        say(f"{stage.name} trial {record['trial_id']} ({len(done)}/{stage.trials}): {values} "
            f"-> {result}, {record['status']}, {record['epochs']} epochs, "
            f"{record['seconds']:.0f} s, search ETA {format_duration(left)}"
            + (f" [{record['tuner_id']}]" if role == "worker" else ""))
        if role == "single":  # the chief writes it at the end; workers never do
            results.write_csv(os.path.join(output_dir, results.CSV_FILE),
                              all_records(output_dir, plan["stages"]), plan["space"].names)

    tuner = make_tuner(plan["algorithm"], hypermodel, stage=stage, directory=output_dir,
                       seed=plan["seed"] + stage.number - 1, strategy=strategy,
                       progress=progress,
                       budget_cpu_seconds=plan["budgets"][stage.number - 1])
    if role != "worker":
        # Hyperband's brackets decide how many trials run and for how long, within these caps.
        upto = "at most " if plan["algorithm"] == "hyperband" else ""
        say(f"{stage.name}: {upto}{stage.trials} trials of {upto}{stage.epochs} epochs, "
            f"{plan['algorithm']} search"
            + (f", {len(done)} done before" if done else "")
            + (", serving the oracle to workers" if role == "chief" else ""))
    board = keras.callbacks.TensorBoard(os.path.join(output_dir, "logs", stage.name),
                                        write_graph=False, profile_batch=0)
    tuner.search(epochs=stage.epochs, callbacks=[board], verbose=verbose)


def search_eta(records, stages, stage, done):
    """Seconds left of the search: the trials left in `stage` × the mean trial time of
    `records` (this stage's trials so far), plus each later stage's trials × epochs × the
    mean seconds per epoch of those trials. Trials run in parallel (workers) are counted
    one after the other, and hyperband's shorter trials as their stage's epochs: a rough
    figure, which is what an ETA is."""
    if not records:
        return None
    seconds = sum(r["seconds"] for r in records)
    left = max(stage.trials - done, 0) * seconds / len(records)
    per_epoch = seconds / max(sum(r["epochs"] for r in records), 1)
    for later in stages[stage.number:]:
        left += later.trials * later.epochs * per_epoch
    return left


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def all_records(output_dir, stages):
    records = []
    for stage in stages:
        records += read_records(os.path.join(output_dir, stage.name))
    return records


def best_config(plan, record):
    """The `TrainConfig` that reproduces a trial (its stage's epochs)."""
    stage = plan["stages"][record["stage"] - 1]
    from kzoo.tuning.tuner import ZooHyperModel

    hm = ZooHyperModel(dataclasses.replace(plan["config"], epochs=stage.epochs), plan["space"],
                       None)
    return hm.config_for(record["values"])


def _finish(output_dir, plan, records, strategy, retrain_best, download):
    names = plan["space"].names
    results.write_csv(os.path.join(output_dir, results.CSV_FILE), records, names)
    results.plot(os.path.join(output_dir, results.PLOT_FILE), records, plan["space"],
                 plan["stages"])
    counts = {s: sum(r["status"] == s for r in records) for s in ("completed", "diverged",
                                                                   "failed")}
    best = results.best_record(records)
    summary = {"trials": len(records), **counts, "seconds": round(sum(r["seconds"]
                                                                      for r in records), 1)}
    if best is None:
        say(f"no trial completed ({counts}); see {results.CSV_FILE}")
        run_dir.finish(output_dir, summary)
        return records
    config = best_config(plan, best)
    best_dir = os.path.join(output_dir, BEST_RUN)
    best_json = {"trial_id": best["trial_id"], "stage": best["stage"],
                 "values": best["values"], "val_accuracy": best["val_accuracy"],
                 "val_loss": best["val_loss"], "epochs": config.epochs,
                 "command": config.command(best_dir), "config": config.to_dict()}
    io.write_json(os.path.join(output_dir, results.BEST_FILE), best_json)
    say(f"best: stage {best['stage']} trial {best['trial_id']}, val_accuracy "
        f"{best['val_accuracy']:.4f}; reproduce with: {best_json['command']}")
    if retrain_best:
        from kzoo.training import train

        metrics = train(config, best_dir, strategy=strategy, download=download, verbose=0)
        best_json["retrained"] = {"test_accuracy": metrics["test_accuracy"],
                                  "best_val_accuracy": metrics.get("best_val_accuracy"),
                                  "run_dir": best_dir}
        io.write_json(os.path.join(output_dir, results.BEST_FILE), best_json)
        say(f"best retrained in {best_dir}: test accuracy {metrics['test_accuracy']:.4f}")
    summary["best"] = best_json
    run_dir.finish(output_dir, summary)
    return records
