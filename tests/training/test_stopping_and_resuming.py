"""A run that stops early says so; a run that cannot resume says why and keeps its files."""

import json
import os
import re

import pytest
from click.testing import CliRunner

from kzoo.cli import main
from kzoo.training import TrainConfig, run_dir
from kzoo.training.fit import check_resume

TRAIN = ["train", "mlp", "--dataset", "digits", "--epochs", "3", "--batch-size", "64",
         "--validation-size", "100", "--model-arg", "hidden_units=[8]"]
CONFIG = TrainConfig("mlp", "digits", epochs=3, batch_size=64, validation_size=100,
                     model_kwargs={"hidden_units": [8]})


@pytest.mark.filterwarnings("ignore:ExplosionGuard:RuntimeWarning")  # what it stops, said below
def test_a_run_stopped_by_the_explosion_guard_says_so(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, TRAIN + ["--optimizer", "sgd", "--learning-rate", "1000",
                                               "--output", str(run)])
    assert result.exit_code == 0, result.output
    last = [line for line in result.output.splitlines() if line.startswith("test accuracy")]
    assert len(last) == 1
    assert "STOPPED EARLY after 1 of 3 epochs: Training stopped at epoch 1" in last[0]
    assert "learning rate" in last[0] and last[0].endswith(f"run directory {run}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["epochs_run"] == 1
    assert metrics["stopped_early"].startswith("Training stopped at epoch 1, batch ")
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 1


def _killed_run(tmp_path, epochs_recorded, checkpoint_epoch=None, weights=True):
    """A run directory of CONFIG as a session killed after `epochs_recorded` epochs leaves it,
    its checkpoint at `checkpoint_epoch` (None: no checkpoint); `weights=False` loses the
    checkpoint's weights file."""
    path = tmp_path / "run"
    run_dir.start(str(path), {"config": CONFIG.resolved().to_dict(), "kzoo": "test"})
    (path / "history.csv").write_text(
        "epoch,accuracy,loss\n" + "".join(f"{e},0.5,1.0\n" for e in range(epochs_recorded)))
    if checkpoint_epoch is not None:
        checkpoint = path / "checkpoint"
        checkpoint.mkdir()
        name = f"epoch-{checkpoint_epoch}.weights.h5"
        (checkpoint / "training_metadata.json").write_text(
            json.dumps({"epoch": checkpoint_epoch, "batch": 0, "weights": name}))
        if weights:
            (checkpoint / name).write_bytes(b"weights")
    return path


def _files(path):
    return {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("checkpoint_epoch, weights, match", [
    (None, True, r"history\.csv records 2 completed epochs, but its checkpoint .* is missing"),
    (2, False, r"checkpoint .*training_metadata\.json' names the weights of epoch 2, "
               r".*epoch-2\.weights\.h5', which are missing"),
])
def test_a_run_whose_checkpoint_is_lost_is_not_restarted(tmp_path, checkpoint_epoch, weights,
                                                         match):
    run = _killed_run(tmp_path, 2, checkpoint_epoch, weights)
    before = _files(run)
    result = CliRunner().invoke(main, TRAIN + ["--output", str(run)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert re.search(match, errors[0]), errors[0]
    assert "--overwrite" in errors[0] and "nothing was changed" in errors[0]
    assert _files(run) == before  # the history is untouched


@pytest.mark.parametrize("recorded, checkpoint_epoch", [
    (0, None),  # killed in its first epoch
    (1, None),  # killed between the first history row and the first checkpoint
    (3, 2),  # killed between a history row and its checkpoint: that epoch is repeated
    (3, 3),
])
def test_what_a_kill_leaves_still_resumes(tmp_path, recorded, checkpoint_epoch):
    check_resume(str(_killed_run(tmp_path, recorded, checkpoint_epoch)))


def test_a_damaged_checkpoint_record_is_named(tmp_path):
    run = _killed_run(tmp_path, 2, 2)
    (run / "checkpoint" / "training_metadata.json").write_text('{"epoch": 2, "weig')
    with pytest.raises(ValueError, match=r"Run file .*training_metadata\.json' is damaged "
                                         r"\(not JSON: Unterminated.*--overwrite"):
        check_resume(str(run))
    assert os.path.isfile(run / "history.csv")
