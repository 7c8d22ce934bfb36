"""The KerasTuner side: a HyperModel built on `TrainConfig` + `create_model`, and tuners.

`ZooHyperModel.build(hp)` turns a trial's values into a `TrainConfig` (the
`kzoo train` options) and builder arguments, and builds and compiles the zoo
model exactly as `kzoo train` does (same seed, same preprocessing, same
optimizer), so the best trial's `kzoo train` command reproduces it. `fit`
trains on the search's data with kzoo's `ExplosionGuard`.

The tuners are KerasTuner's own (`RandomSearch`, `GridSearch`, `Hyperband`,
`BayesianOptimization`) with one addition: each trial leaves a record
(`kzoo_trial.json` in its trial directory: values, status, validation
accuracy and loss, epochs, seconds) written atomically by the process that
ran it, which is what `trials.csv` is made from, also when several worker
processes share one search directory.
"""

import json
import math
import os
import sys
import time

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from kzoo.callbacks import ExplosionGuard
from kzoo.training import run_dir
from kzoo.training.fit import ema_callbacks
from kzoo.training.config import _takes_momentum as takes_momentum
from kzoo.tuning.space import CONFIG_PARAMETERS
from kzoo.utils import io

ALGORITHMS = ("random", "grid", "hyperband", "bayesian")
"""The search algorithms, KerasTuner's `RandomSearch`, `GridSearch`, `Hyperband` and
`BayesianOptimization`."""
RECORD_FILE = "kzoo_trial.json"
STATUSES = ("completed", "diverged", "failed")


def _save_json_atomically(path, obj, _keras_tuner_save_json=None):
    """KerasTuner's `utils.save_json(path, obj)`, written atomically (local paths).

    KerasTuner writes its state (`oracle.json`, `tuner0.json`, each trial's
    `trial.json`) in place, so a search killed during a write leaves an empty
    or truncated file, and resuming it fails on that file. kzoo writes a
    temporary file beside it and renames it (`kzoo.utils.io.write_text`).
    Remote paths (`gs://...`) keep KerasTuner's writer.
    """
    path = str(path)
    if "://" in path:
        return _keras_tuner_save_json(path, obj)
    text = json.dumps(obj)
    io.write_text(path, text)
    return text


def _install_atomic_save_json():
    """Routes KerasTuner's `save_json` (one function: every `Stateful.save` and the
    build configs go through it) to `_save_json_atomically`."""
    import functools

    from keras_tuner.src import utils as keras_tuner_utils

    current = keras_tuner_utils.save_json
    if getattr(current, "kzoo_atomic", False):
        return
    atomic = functools.partial(_save_json_atomically, _keras_tuner_save_json=current)
    atomic.kzoo_atomic = True
    keras_tuner_utils.save_json = atomic


_install_atomic_save_json()


def damaged_state_files(stage_dir):
    """The JSON files of a KerasTuner project directory that do not parse (e.g. an
    empty `trial.json` left by a search killed by an older kzoo mid-write)."""
    damaged = []
    for root, _, names in os.walk(stage_dir):
        for name in names:
            if not name.endswith(".json"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path) as f:
                    json.load(f)
            except (OSError, ValueError):
                damaged.append(path)
    return sorted(damaged)


class ZooHyperModel(keras_tuner.HyperModel):
    """Builds and fits the zoo model of a trial.

    Args:
        base_config: the `TrainConfig` every trial starts from (model,
            dataset, seed, validation size, and the options not searched).
        space: the `kzoo.tuning.Space` of this stage.
        data: the search's `kzoo.training.trainer.RunData` (loaded once).
        precision: a Keras dtype policy name, set inside every build (KerasTuner
            clears the Keras session, and with it the global policy, before
            each trial).
    """

    def __init__(self, base_config, space, data, *, precision="float32"):
        super().__init__(name="kzoo")
        self.base_config = base_config
        self.space = space
        self.data = data
        self.precision = precision
        self.last_fit = None
        #: Replicas in sync of the tuner's strategy (set by `make_tuner`).
        self.replicas = 1

    def config_for(self, values):
        """The `TrainConfig` of a trial's values (builder arguments in `model_kwargs`)."""
        import dataclasses

        fields = {k: v for k, v in values.items() if k in CONFIG_PARAMETERS}
        builder = {k: v for k, v in values.items() if k not in CONFIG_PARAMETERS}
        optimizer = fields.get("optimizer", self.base_config.optimizer)
        if "momentum" in fields and not takes_momentum(optimizer):
            # A searched momentum applies to the trials whose optimizer has one.
            fields["momentum"] = None
        return dataclasses.replace(
            self.base_config, **fields,
            model_kwargs={**self.base_config.model_kwargs, **builder}).resolved()

    def values(self, hp):
        return {name: hp.values[name] for name in self.space.names if name in hp.values}

    def build(self, hp):
        from kzoo.training.trainer import build_zoo_model

        keras.mixed_precision.set_global_policy(self.precision)
        config = self.config_for(self.space.declare(hp))
        keras.utils.set_random_seed(config.seed)
        model = build_zoo_model(config, self.data.mean, self.data.std)
        steps = int(np.ceil(len(self.data.train[0]) / config.batch_size))
        model.compile(optimizer=config.make_optimizer(steps), loss=config.make_loss(),
                      metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, epochs=1, initial_epoch=0, callbacks=(), verbose=0,
            **kwargs):
        config = self.config_for(self.values(hp))
        train_ds, validation_ds = self.data.pipelines(config, self.replicas)
        guard = ExplosionGuard()
        # As kzoo train: validation of the averaged weights when the trial uses --ema.
        history = model.fit(train_ds, validation_data=validation_ds, epochs=epochs,
                            initial_epoch=initial_epoch,
                            callbacks=[*callbacks, guard, *ema_callbacks(model)],
                            verbose=verbose, shuffle=False)
        self.last_fit = {"guard": guard, "history": history.history, "config": config,
                         "epochs": len(history.epoch)}
        return history


class _Recording:
    """Mixed into a KerasTuner tuner: every trial writes its record and a progress line."""

    stage = None
    progress = None
    #: CPU seconds this stage may spend (None: no budget); see `on_trial_end`.
    budget_cpu_seconds = None

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.budget_cpu_seconds is None:
            return
        stage_dir = os.path.dirname(self.get_trial_dir(trial.trial_id))
        spent = sum(r.get("cpu_seconds", 0.0) for r in read_records(stage_dir))
        if spent >= self.budget_cpu_seconds:
            # The oracle stops at max_trials: no new trial once the budget is spent.
            self.oracle.max_trials = len(self.oracle.trials)

    def run_trial(self, trial, *args, **kwargs):
        start = time.time()
        self._cpu_start = time.process_time()
        self.hypermodel.last_fit = None
        values = {name: trial.hyperparameters.values.get(name)
                  for name in self.hypermodel.space.names}
        try:
            super().run_trial(trial, *args, **kwargs)
        except Exception as e:
            self.record(trial, values, status="failed", seconds=time.time() - start,
                        reason=" ".join(f"{type(e).__name__}: {e}".split())[:500])
            raise
        fit = self.hypermodel.last_fit
        history = fit["history"]
        accuracy = [_finite(a) for a in history.get("val_accuracy", [])]
        best = int(np.nanargmax(accuracy)) if any(a is not None for a in accuracy) else None
        val_accuracy = accuracy[best] if best is not None else None
        losses = history.get("val_loss", [])
        val_loss = _finite(losses[best]) if best is not None and best < len(losses) else None
        guard = fit["guard"]
        self.record(trial, values, status="diverged" if guard.stopped else "completed",
                    seconds=time.time() - start, val_accuracy=val_accuracy, val_loss=val_loss,
                    epochs=fit["epochs"], reason=guard.reason)
        # What the oracle ranks by: a diverged trial keeps what it reached.
        return {"val_accuracy": val_accuracy if val_accuracy is not None else 0.0,
                "val_loss": val_loss if val_loss is not None else float(1e9)}

    def record(self, trial, values, *, status, seconds, val_accuracy=None, val_loss=None,
               epochs=0, reason=None):
        record = {"trial_id": trial.trial_id, "stage": self.stage.number, "values": values,
                  "val_accuracy": val_accuracy, "val_loss": val_loss, "epochs": epochs,
                  "seconds": round(seconds, 2), "status": status, "reason": reason,
                  "tuner_id": self.tuner_id,
                  "cpu_seconds": round(time.process_time() - self._cpu_start, 2),
                  "finished_at": time.time(),
                  "replicas": strategy_replicas(self.distribution_strategy),
                  "precision": self.hypermodel.precision}
        io.write_json(os.path.join(self.get_trial_dir(trial.trial_id), RECORD_FILE), record)
        if self.progress:
            self.progress(record)


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def read_records(stage_dir):
    """The trial records of one stage directory, in trial order."""
    records = []
    if not os.path.isdir(stage_dir):
        return records
    for name in sorted(os.listdir(stage_dir)):
        path = os.path.join(stage_dir, name, RECORD_FILE)
        if name.startswith("trial_") and os.path.isfile(path):
            records.append(run_dir.read_json(path, advice=(
                f"remove its trial folder {os.path.dirname(path)!r} (that trial runs again), "
                f"or rerun with --overwrite to start the search afresh (this deletes it)")))
    return records


def retry_unfinished_trials(oracle):
    """Queues for a rerun exactly the trials a reloaded oracle holds as started, not ended.

    KerasTuner starts a trial by writing its `trial.json` (status RUNNING),
    then `oracle.json` (which lists it as ongoing), and ends one by writing
    both again, `oracle.json` still listing it as ongoing (it is dropped from
    the list after that write); on reload it reruns the trials listed as
    ongoing. So a search killed between the two writes of a start left a
    RUNNING trial the oracle does not list, which KerasTuner counts against
    `max_trials` but never runs (the search ended a trial short), and one
    killed just after an end reran that ended trial. Here a RUNNING trial is
    queued and an ended one (in the oracle's `end_order`) unqueued. Only a
    chief's or a single process's oracle is reloaded from disk (a worker's is
    the chief's, over gRPC): others are left alone.

    Hyperband is the exception for a trial its oracle never recorded as
    started (not in `start_order`): its brackets, not the queue, decide which
    trials run, so a queued one would be run on top of the bracket's (a
    search one trial longer than an uninterrupted one). That trial is dropped
    from the reloaded oracle instead; the bracket creates it again under the
    same id, from the same saved random state.
    """
    queue = getattr(oracle, "_retry_queue", None)
    if not isinstance(oracle, keras_tuner.Oracle) or not isinstance(queue, list):
        return
    ended = set(getattr(oracle, "end_order", None) or ())
    queue[:] = [trial_id for trial_id in queue if trial_id not in ended]
    ongoing = {trial.trial_id for trial in oracle.ongoing_trials.values()}
    started = set(getattr(oracle, "start_order", None) or ())
    bracketed = isinstance(oracle, keras_tuner.oracles.HyperbandOracle)
    for trial_id, trial in sorted(oracle.trials.items()):
        if (trial.status == "RUNNING" and trial_id not in ended and trial_id not in queue
                and trial_id not in ongoing):
            if bracketed and trial_id not in started:
                del oracle.trials[trial_id]
            else:
                queue.append(trial_id)


def _resumable(tuner):
    """Makes a new or reloaded tuner's project resume whatever kills the search.

    KerasTuner reloads a project only when the tuner's own state file
    (`tuner0.json`) exists, and writes it first when the first trial has
    ended: a search killed before that, even just after its oracle recorded
    trial 0 as ended, ran trial 0 again with new values, losing it. The file
    is written here, before any trial (an oracle saved without it is
    reloaded first), and unfinished trials are queued
    (`retry_unfinished_trials`). A worker's oracle is the chief's: left alone.
    """
    oracle = tuner.oracle
    if not isinstance(oracle, keras_tuner.Oracle):
        return
    new = not os.path.isfile(os.path.join(tuner.project_dir, f"{tuner.tuner_id}.json"))
    if new and os.path.isfile(os.path.join(tuner.project_dir, "oracle.json")):
        oracle.reload()
    retry_unfinished_trials(oracle)
    if new:
        tuner.save()


def make_tuner(algorithm, hypermodel, *, stage, directory, seed=0, strategy=None,
               progress=None, max_consecutive_failed_trials=3, budget_cpu_seconds=None):
    """The KerasTuner tuner of `algorithm` for one stage, in `directory/stage.name`.

    `hyperband` spends at most `stage.epochs` epochs on a trial (its
    `max_epochs`, reduction factor 3) and stops after `stage.trials` trials.
    With `budget_cpu_seconds`, no trial starts once the stage's trials have
    used that much CPU time (this process's, all threads; summed over the
    trial records, so a resumed stage counts what it spent before).
    """
    classes = {"random": keras_tuner.RandomSearch, "grid": keras_tuner.GridSearch,
               "hyperband": keras_tuner.Hyperband,
               "bayesian": keras_tuner.BayesianOptimization}
    if algorithm not in classes:
        raise ValueError(f"Argument `algorithm` must be one of {list(ALGORITHMS)}. "
                         f"Received: algorithm={algorithm!r}")
    damaged = damaged_state_files(os.path.join(directory, stage.name))
    if damaged:
        raise ValueError(f"Argument `directory`: the search in {directory} cannot resume: "
                         f"KerasTuner's state file(s) {damaged} do not parse (written when "
                         f"a search was killed mid-write). Rerun with `--overwrite` to "
                         f"start afresh, or remove those trial folders.")
    cls = type(f"Kzoo{classes[algorithm].__name__}", (_Recording, classes[algorithm]), {})
    common = dict(objective=keras_tuner.Objective("val_accuracy", "max"), seed=seed,
                  directory=directory, project_name=stage.name, overwrite=False,
                  distribution_strategy=strategy,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if algorithm == "hyperband":
        tuner = cls(hypermodel, max_epochs=max(stage.epochs, 2), factor=3,
                    hyperband_iterations=1, **common)
        tuner.oracle.max_trials = stage.trials
    else:
        tuner = cls(hypermodel, max_trials=stage.trials, **common)
    _resumable(tuner)
    tuner.stage, tuner.progress = stage, progress
    tuner.budget_cpu_seconds = budget_cpu_seconds
    hypermodel.replicas = strategy_replicas(strategy)
    return tuner


def say(message):
    print(f"kzoo tune: {message}", file=sys.stderr, flush=True)


def strategy_replicas(strategy):
    return (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
