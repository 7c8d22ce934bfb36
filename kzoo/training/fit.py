"""Fitting into a run directory: the callbacks that make a run resumable and logged."""

import os
import sys
import time

import keras

from kzoo.callbacks import ExplosionGuard
from kzoo.training import run_dir


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch) to the logs, so history.csv keeps it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = round(time.time() - self._start, 2)


def run_callbacks(output_dir, extra=(), *, phase=None):
    """The run directory's callbacks, then `extra`.

    Order matters: the timer fills the logs before the history row is
    written, and the checkpoint is written after it and before the user's
    callbacks (which may stop or interrupt the run). A run of several fits
    (the phases of fine-tuning) keeps one checkpoint per `phase`.
    """
    checkpoint = os.path.join(output_dir, run_dir.CHECKPOINT_DIR)
    if phase is not None:
        checkpoint = os.path.join(checkpoint, phase)
    return [
        EpochTimer(),
        keras.callbacks.CSVLogger(os.path.join(output_dir, run_dir.HISTORY_FILE), append=True),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
        ExplosionGuard(),
        keras.callbacks.BackupAndRestore(checkpoint, delete_checkpoint=False),
        *extra,
    ]


def fit(model, train_ds, validation_ds, *, epochs, output_dir, callbacks=(), verbose="auto"):
    """`model.fit` with the run directory's callbacks; returns the seconds it took.

    A run interrupted (crash, kill, Ctrl-C) resumes from its last completed
    epoch the next time the same run directory is fitted.
    """
    if verbose == "auto":
        # Progress bars on a terminal; one line per epoch in logs and pipes.
        verbose = 1 if sys.stdout.isatty() else 2
    start = time.time()
    # The dataset shuffles itself (seeded), so fit must not.
    model.fit(train_ds, validation_data=validation_ds, epochs=epochs,
              callbacks=run_callbacks(output_dir, callbacks), verbose=verbose, shuffle=False)
    return time.time() - start
