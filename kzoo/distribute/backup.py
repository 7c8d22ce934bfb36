"""`EpochBackup`: the last completed epoch on disk, crash-safe, written by the chief alone."""

import glob
import json
import os
import re

import keras

from kzoo.distribute.loop import is_chief
from kzoo.utils import io

METADATA_FILE = "training_metadata.json"
#: The weights file of Keras's `BackupAndRestore`, read when resuming its runs.
KERAS_WEIGHTS_FILE = "latest.weights.h5"


class EpochBackup(keras.callbacks.Callback):
    """Saves the training state after every epoch and resumes from it, like `BackupAndRestore`.

    After each epoch the model's and optimizer's variables go to a new file
    `epoch-<N>.weights.h5` (`model.save_weights`), and then
    `training_metadata.json` (`{"epoch": N, "weights": "epoch-<N>.weights.h5"}`,
    N the count of completed epochs) is replaced atomically: that file is the
    commit, so a kill at any moment leaves the previous epoch's state whole
    (Keras's `BackupAndRestore` overwrites its one weights file in place, and
    a kill during the write leaves a file that cannot be read). At the start
    of training the state named there is loaded and `model._initial_epoch`
    set, which both `model.fit` and `kzoo.distribute.fit_distributed` start
    from. A backup of Keras's `BackupAndRestore` (`latest.weights.h5`) is
    resumed too.

    Under multi-worker training every worker restores, but only the chief
    writes (the variables are the same on every worker): `backup_dir` must
    be readable by every worker (one machine, or a shared file system).

    Args:
        backup_dir: the folder of the backup (created when first written).
        write: whether this process writes the backup. Defaults to
            `kzoo.distribute.is_chief()` (from `TF_CONFIG`).

    Examples:
        >>> backup = kzoo.distribute.EpochBackup("runs/mlp/checkpoint")
        >>> model.fit(dataset, epochs=10, callbacks=[backup])  # rerun to resume
    """

    def __init__(self, backup_dir, *, write=None):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(f"Argument `backup_dir` must be a folder path. "
                             f"Received: backup_dir={backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.write = is_chief() if write is None else bool(write)

    def _read_metadata(self):
        path = os.path.join(self.backup_dir, METADATA_FILE)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)

    def on_train_begin(self, logs=None):
        metadata = self._read_metadata()
        if metadata is None:
            return
        weights = os.path.join(self.backup_dir, metadata.get("weights", KERAS_WEIGHTS_FILE))
        if os.path.isfile(weights):
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                with self.model.distribute_strategy.scope():
                    optimizer.build(self.model.trainable_variables)
            self.model.load_weights(weights)
        self.model._initial_epoch = int(metadata["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        name = f"epoch-{epoch + 1}.weights.h5"
        with io.atomic_path(os.path.join(self.backup_dir, name), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        # The commit: from here on a resume starts after this epoch.
        io.write_json(os.path.join(self.backup_dir, METADATA_FILE),
                      {"epoch": epoch + 1, "batch": 0, "weights": name})
        # Only the backup's own earlier epochs: never another file in the folder.
        for old in glob.glob(os.path.join(glob.escape(self.backup_dir),
                                          "epoch-*.weights.h5")):
            if (re.fullmatch(r"epoch-\d+\.weights\.h5", os.path.basename(old))
                    and os.path.basename(old) != name):
                os.remove(old)
