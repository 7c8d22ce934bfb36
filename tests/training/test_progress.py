"""Progress: within the epoch, the epoch's and the run's ETA; plain lines off a terminal."""

import io
import re
import warnings

import click
import pytest
from click.testing import CliRunner

import kzoo
from kzoo.callbacks.progress import format_duration
from kzoo.cli import main
from kzoo.cli.main import KzooGroup


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run_epoch(progress, clock, epoch, *, seconds, steps=10, logs=None):
    """Drives one epoch of `steps` batches taking `seconds` in all, on the fake clock."""
    progress.on_epoch_begin(epoch)
    for batch in range(steps):
        clock.now += seconds / steps
        progress.on_train_batch_end(batch, {"loss": 0.5})
    progress.on_epoch_end(epoch, logs or {"loss": 0.25, "accuracy": 0.875,
                                          "val_loss": 0.5, "val_accuracy": 0.75,
                                          "epoch_seconds": seconds})


def test_plain_lines_and_the_eta_arithmetic_off_a_terminal():
    stream, clock = io.StringIO(), FakeClock()
    progress = kzoo.callbacks.Progress(stream, interval=4, batch_size=8, clock=clock)
    progress.set_params({"epochs": 3, "steps": 10})
    progress.on_train_begin()
    _run_epoch(progress, clock, 0, seconds=10.0)
    _run_epoch(progress, clock, 1, seconds=20.0)
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # Epoch 1: lines at 4 s and 8 s (at most every `interval`), then the epoch's line.
    assert lines[0] == "Epoch 1/3 - step 4/10 - 8 images/s - loss 0.5000 - ETA 6s"
    assert lines[1] == "Epoch 1/3 - step 8/10 - 8 images/s - loss 0.5000 - ETA 2s"
    # The run's ETA: 2 epochs left x 10 s.
    assert lines[2] == ("Epoch 1/3 - 10s - loss 0.2500 - accuracy 0.8750 - val_loss 0.5000 - "
                        "val_accuracy 0.7500 - run ETA 20s")
    # Epoch 2 (20 s): 1 epoch left x the mean epoch time, 15 s.
    assert lines[-1].startswith("Epoch 2/3 - 20s - loss 0.2500")
    assert lines[-1].endswith("run ETA 15s")
    assert len(lines) == 3 + 5 + 1  # epoch 2: lines at 4, 8, 12, 16, 20 s
    assert progress.epoch_seconds == [10.0, 20.0]


def test_one_redrawn_line_on_a_terminal_with_the_run_eta_of_all_phases():
    stream, clock = io.StringIO(), FakeClock()
    progress = kzoo.callbacks.Progress(stream, terminal=True, total_epochs=30, clock=clock)
    progress.set_params({"epochs": 15, "steps": 10})  # a phase: epochs 1..15 of 30
    progress.on_train_begin()
    _run_epoch(progress, clock, 0, seconds=10.0)
    text = stream.getvalue()
    assert "\x1b" not in text  # redrawn with \r alone
    assert text.count("\r") >= 10 and text.count("\n") == 1
    assert "Epoch 1/30 - step 10/10 - 1 steps/s - loss 0.5000 - ETA 0s" in text
    assert text.endswith("run ETA 4m50s\n")  # 29 epochs x 10 s


def test_format_duration_and_bad_arguments():
    assert [format_duration(s) for s in (0, 42.4, 185, 7620, float("nan"))] == [
        "0s", "42s", "3m05s", "2h07m", "?"]
    with pytest.raises(ValueError, match=r"`interval` must be a finite number > 0. "
                                         r"Received: interval=0"):
        kzoo.callbacks.Progress(interval=0)
    with pytest.raises(ValueError, match=r"Received: total_epochs=0"):
        kzoo.callbacks.Progress(total_epochs=0)


def test_kzoo_train_prints_the_eta_of_each_epoch_without_escape_codes(tmp_path):
    result = CliRunner().invoke(main, ["train", "mlp", "--dataset", "digits", "--epochs", "2",
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "\x1b" not in output and "\r" not in output, repr(output)
    assert re.search(r"^Epoch 1/2 - \d+s - loss [\d.]+ - accuracy [\d.]+ .*- run ETA \d+s$",
                     output, re.M), output
    assert re.search(r"^Epoch 2/2 - .*run ETA 0s$", output, re.M), output
    assert "Epoch 1/2\n" not in output  # not Keras's own per-epoch logger


def test_the_command_line_prints_each_warning_once_without_its_source_line():
    group = KzooGroup()

    @group.command()
    def warn():
        for _ in range(2):
            warnings.warn("the same warning", UserWarning)
        warnings.warn("the same warning", UserWarning)  # another line: Python would repeat it
        with warnings.catch_warnings():  # resets Python's registries
            pass
        warnings.warn("the same warning", UserWarning)
        warnings.warn("deprecated thing", FutureWarning)
        click.echo("done")

    before = warnings.showwarning
    result = CliRunner().invoke(group, ["warn"])
    assert result.exit_code == 0, result.output
    assert result.output.count("kzoo: warning: the same warning\n") == 1, result.output
    assert "kzoo: warning: FutureWarning: deprecated thing\n" in result.output
    assert "warnings.warn(" not in result.output and ".py:" not in result.output
    assert warnings.showwarning is before  # restored after the command
