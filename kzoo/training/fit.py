"""Fitting into a run directory: the callbacks that make a run resumable and logged.

Keras's `fit` trains, except under `MultiWorkerMirroredStrategy`, where it
fails (Keras 3.15) and `kzoo.distribute.fit_distributed`, a `strategy.run`
loop with `fit`'s callback contract, trains instead; there only the chief
writes (history, TensorBoard logs, the checkpoint).
"""

import os
import sys
import time

import keras
import tensorflow as tf

from kzoo import distribute
from kzoo.callbacks import ExplosionGuard
from kzoo.training import run_dir


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


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit(model, train_ds, validation_ds, *, epochs, output_dir, callbacks=(), verbose="auto",
        epoch_data=None):
    """`model.fit` with the run directory's callbacks; returns the seconds it took.

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
    """
    if verbose == "auto":
        # Progress bars on a terminal; one line per epoch in logs and pipes.
        verbose = 1 if sys.stdout.isatty() else 2
    start = time.time()
    strategy = model.distribute_strategy
    if is_multi_worker(strategy):
        chief = distribute.is_chief(strategy)
        distribute.fit_distributed(
            model, epoch_data or train_ds, epochs=epochs, validation_data=validation_ds,
            callbacks=run_callbacks(output_dir, callbacks, chief=chief), verbose=verbose)
        if uses_ema(model):
            # What Keras's fit does at its end (the loop's validation was of the raw weights).
            model.optimizer.finalize_variable_values(model.trainable_weights)
        return time.time() - start
    # The dataset shuffles itself (seeded), so fit must not.
    model.fit(train_ds, validation_data=validation_ds, epochs=epochs,
              callbacks=[*ema_callbacks(model), *run_callbacks(output_dir, callbacks)],
              verbose=verbose, shuffle=False)
    return time.time() - start
