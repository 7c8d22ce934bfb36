"""The run directory's backup survives a kill at any moment (kzoo.distribute.EpochBackup)."""

import csv
import os

import keras
import pytest

from kzoo.training import TrainConfig, train

CONFIG = dict(model="mlp", dataset="digits", epochs=3, batch_size=64, validation_size=100,
              model_kwargs={"hidden_units": [16]})


class _Interrupt(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_a_kill_between_history_and_backup_or_inside_a_save_is_harmless(tmp_path):
    run = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[_Interrupt()])
    backup = os.path.join(run, "checkpoint")
    assert sorted(os.listdir(backup)) == ["epoch-2.weights.h5", "training_metadata.json"]
    history = os.path.join(run, "history.csv")
    with open(history) as f:
        rows = f.read().splitlines()
    # As a kill would leave them: epoch 2's history row written but its backup not
    # committed, and a torn weights file of that epoch.
    with open(history, "a") as f:
        f.write(rows[-1].replace("1,", "2,", 1) + "\n")
    with open(os.path.join(backup, "epoch-3.weights.h5"), "wb") as f:
        f.write(b"torn")
    resumed = _Interrupt()
    train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[resumed])
    assert resumed.seen == [2]
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2]  # the stale row of epoch 2 was dropped, then written anew
    assert not os.path.exists(backup)  # finished
