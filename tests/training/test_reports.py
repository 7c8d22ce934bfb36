"""training.reports: reading the run's history.csv."""

import numpy as np

from kzoo.training.reports import read_history


def test_history_without_validation_reads_keras_na_as_nan(tmp_path):
    # Keras's CSVLogger writes NA in the val_* columns when there is no validation data
    # (kzoo train/finetune --validation-size 0); a resumed epoch's row replaces the old one.
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                    "0,0.5,1.2,NA,NA\n"
                    "1,0.6,1.0,NA,NA\n"
                    "1,0.7,0.9,NA,NA\n")
    history = read_history(path)
    assert history["accuracy"] == [0.5, 0.7]
    assert all(np.isnan(history["val_loss"]))
