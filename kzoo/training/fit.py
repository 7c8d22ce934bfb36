"""Fitting into a run directory: the callbacks that make a run resumable and logged.

Keras's `fit` trains, except under `MultiWorkerMirroredStrategy`, where it
fails (Keras 3.15) and `kzoo.distribute.fit_distributed`, a `strategy.run`
loop with `fit`'s callback contract, trains instead; there only the chief
writes (history, TensorBoard logs, the checkpoint).
"""

import glob
import os
import sys
import time

import keras
import tensorflow as tf

from kzoo import distribute
from kzoo.callbacks import ExplosionGuard
from kzoo.callbacks.progress import progress_verbosity
from kzoo.distribute.backup import KERAS_WEIGHTS_FILE, METADATA_FILE
from kzoo.training import reports, run_dir


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch) to the logs, so history.csv keeps it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = round(time.time() - self._start, 2)


class TrimHistory(keras.callbacks.Callback):
    """Drops the rows of `history.csv` for epochs this fit runs again.

    The history row of an epoch is written just before its checkpoint: a
    run killed between the two repeats that epoch when resumed. On the first
    epoch of a fit, rows of that epoch or later are cut off the file (in
    place, so the `CSVLogger`'s open appending handle stays valid).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self._trimmed = False

    def on_train_begin(self, logs=None):
        self._trimmed = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._trimmed or not os.path.isfile(self.path):
            return
        self._trimmed = True
        with open(self.path, "rb+") as f:
            f.readline()  # the header
            while True:
                offset, line = f.tell(), f.readline()
                if not line:
                    return
                if int(line.split(b",", 1)[0]) >= epoch:
                    f.truncate(offset)
                    return


def uses_ema(model):
    """Whether `model`'s optimizer (or the one a loss-scale optimizer wraps) averages weights."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return bool(getattr(optimizer, "use_ema", False))


def ema_callbacks(model):
    """`[keras.callbacks.SwapEMAWeights()]` when `model` averages its weights, else `[]`.

    It swaps the averaged weights into the model for every evaluation (so
    `fit`'s validation is of the averaged weights) and back afterwards; at
    `on_epoch_end` the model holds its raw weights, with the average in the
    optimizer, which is what the epoch backup saves. `swap_on_epoch=True` is
    not used: it leaves the averages in the model during `on_epoch_end`, so a
    backup written there would resume with raw and averaged weights
    exchanged, and a run stopped early (`ExplosionGuard`) would end on the
    raw weights (Keras 3.15 reconciles the swap only after the last epoch).
    At the end of `fit` Keras's `optimizer.finalize_variable_values` leaves
    the averaged weights in the model.
    """
    return [keras.callbacks.SwapEMAWeights()] if uses_ema(model) else []


def run_callbacks(output_dir, extra=(), *, phase=None, chief=True):
    """The run directory's callbacks, then `extra`.

    Order matters: the timer fills the logs before the history row is
    written, and the checkpoint is written after it and before the user's
    callbacks (which may stop or interrupt the run). A run of several fits
    (the phases of fine-tuning) keeps one checkpoint per `phase`. A worker
    that is not the chief (`chief=False`, multi-worker training) writes
    nothing: it only restores the chief's checkpoint.
    """
    checkpoint = os.path.join(output_dir, run_dir.CHECKPOINT_DIR)
    if phase is not None:
        checkpoint = os.path.join(checkpoint, phase)
    if not chief:
        return [EpochTimer(), ExplosionGuard(), distribute.EpochBackup(checkpoint, write=False),
                *extra]
    history = os.path.join(output_dir, run_dir.HISTORY_FILE)
    return [
        EpochTimer(),
        TrimHistory(history),
        keras.callbacks.CSVLogger(history, append=True),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
        ExplosionGuard(),
        distribute.EpochBackup(checkpoint, write=True),
        *extra,
    ]


def completed_epochs(output_dir):
    """Epochs the run's `history.csv` records as completed (0 without one)."""
    path = os.path.join(output_dir, run_dir.HISTORY_FILE)
    if not os.path.isfile(path):
        return 0
    epochs = reports.read_history(path).get("epoch", [])
    return int(max(epochs)) + 1 if epochs else 0


def checkpointed_epochs(output_dir):
    """Epochs the run's checkpoint holds (the most of its phases' backups; 0 without one).

    A backup whose metadata cannot be read, or that names a weights file that
    is not there, is a `ValueError` saying so.
    """
    checkpoint = os.path.join(output_dir, run_dir.CHECKPOINT_DIR)
    epochs = 0
    pattern = os.path.join(glob.escape(checkpoint), "**", METADATA_FILE)
    for path in sorted(glob.glob(pattern, recursive=True)):
        metadata = run_dir.read_json(path)
        epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise run_dir.damaged(path, f"no epoch count in it: {metadata!r}",
                                  run_dir.RESTART_ADVICE)
        weights = os.path.join(os.path.dirname(path), metadata.get("weights", KERAS_WEIGHTS_FILE))
        if not os.path.isfile(weights):
            raise ValueError(
                f"Run directory {output_dir!r} cannot resume: its checkpoint "
                f"{path!r} names the weights of epoch {epoch}, {weights!r}, which are missing. "
                f"Restore that file, or rerun with --overwrite to start the run afresh (this "
                f"deletes it); nothing was changed.")
        epochs = max(epochs, epoch)
    return epochs


def check_resume(output_dir):
    """A `ValueError` unless the run in `output_dir` can resume where its history says.

    `history.csv` lists the completed epochs; the checkpoint must hold the
    last one, or the one before (a run killed between an epoch's history row
    and its checkpoint repeats that epoch). A run whose checkpoint is lost
    would otherwise restart from scratch and cut its history: it is refused
    before anything is touched, saying what is missing and what to do.
    """
    recorded = completed_epochs(output_dir)
    saved = checkpointed_epochs(output_dir)
    if recorded > saved + 1:
        checkpoint = os.path.join(output_dir, run_dir.CHECKPOINT_DIR)
        held = f"holds epoch {saved} only" if saved else "is missing"
        raise ValueError(
            f"Run directory {output_dir!r} cannot resume: its {run_dir.HISTORY_FILE} records "
            f"{recorded} completed epochs, but its checkpoint ({checkpoint!r}) {held}, so the "
            f"weights to resume from are gone. Restore the checkpoint folder, or rerun with "
            f"--overwrite to start the run afresh (this deletes it); nothing was changed.")


def stop_reason(callbacks):
    """Why a fit that ran `callbacks` ended early: an `ExplosionGuard`'s reason, else None."""
    for callback in callbacks:
        if isinstance(callback, ExplosionGuard) and callback.stopped:
            return callback.reason
    return None


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit(model, train_ds, validation_ds, *, epochs, output_dir, callbacks=(), verbose="auto",
        epoch_data=None, batch_size=None):
    """`model.fit` with the run directory's callbacks.

    Returns `(seconds, stopped_early)`: the seconds it took, and why it ended
    before `epochs` (the `ExplosionGuard`'s reason, e.g. `"Training stopped
    at epoch 16, batch 3: loss=... exceeds 3 x its first value ..."`), or
    None when it ran every epoch.

    A run interrupted (crash, kill, Ctrl-C) resumes from its last completed
    epoch the next time the same run directory is fitted. Under
    `MultiWorkerMirroredStrategy` (the strategy whose scope built `model`)
    `kzoo.distribute.fit_distributed` trains instead, on `epoch_data`
    (`epoch -> dataset`, the same batches on every worker) when given.

    A model whose optimizer averages its weights (`use_ema=True`) is
    validated on the averages (`ema_callbacks`; under multi-worker training
    the loop validates the raw weights) and ends holding them. The backup
    holds the optimizer's variables, the average and the step count among
    them, so a resumed run continues the same average.

    `verbose="auto"` prints kzoo's `Progress` (progress within the epoch, the
    epoch's and the run's ETA; plain lines when stdout is not a terminal),
    with `batch_size` for its images/s; `0`, `1` and `2` are Keras's own.
    """
    start = time.time()
    strategy = model.distribute_strategy
    if is_multi_worker(strategy):
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2  # the loop's own Keras progress
        chief = distribute.is_chief(strategy)
        used = run_callbacks(output_dir, callbacks, chief=chief)
        distribute.fit_distributed(
            model, epoch_data or train_ds, epochs=epochs, validation_data=validation_ds,
            callbacks=used, verbose=verbose)
        if uses_ema(model):
            # What Keras's fit does at its end (the loop's validation was of the raw weights).
            model.optimizer.finalize_variable_values(model.trainable_weights)
        return time.time() - start, stop_reason(used)
    # The dataset shuffles itself (seeded), so fit must not.
    verbose, progress = progress_verbosity(verbose, batch_size=batch_size)
    used = [*ema_callbacks(model), *run_callbacks(output_dir, callbacks), *progress]
    model.fit(train_ds, validation_data=validation_ds, epochs=epochs, callbacks=used,
              verbose=verbose, shuffle=False)
    return time.time() - start, stop_reason(used)
