"""The training step's speed choices (issue 31): oneDNN in the training commands, the fused
BatchNorm kernel and XLA, each recorded in `run.json` and switchable."""

import json
import os
import subprocess
import sys

import keras
import pytest
from click.testing import CliRunner

from kzoo.cli import main
from kzoo.layers import BatchNorm
from kzoo.layers.batch_norm import set_batch_norm_impl
from kzoo.utils import runtime

TRAIN = ["train", "mlp", "--dataset", "digits", "--epochs", "1", "--validation-size", "100",
         "--model-arg", "hidden_units=[16]"]


def _record(run):
    with open(os.path.join(run, "run.json")) as f:
        return json.load(f)


def test_kzoo_train_turns_onednn_on_unless_the_environment_chose(tmp_path):
    """A real `kzoo` process: the library's process (this one) is left as TensorFlow set it,
    the command sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads."""
    env = {k: v for k, v in os.environ.items() if k != runtime.ONEDNN_ENV}
    run = str(tmp_path / "run")
    done = subprocess.run([sys.executable, "-m", "kzoo", *TRAIN, "--output", run], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = _record(run)
    assert record["runtime"]["onednn"] is True and record["runtime"]["onednn_env"] == "1"
    assert record["runtime"]["jit_compile"] is False
    assert record["config"]["batch_norm_impl"] == "fused"
    assert "oneDNN" not in done.stdout  # no hint when it is on


def test_the_choices_switch_and_are_recorded(tmp_path):
    run = str(tmp_path / "run")
    result = CliRunner().invoke(main, [*TRAIN, "--batch-norm-impl", "formula", "--jit-compile",
                                       "--output", run])
    assert result.exit_code == 0, result.output
    record = _record(run)
    assert record["config"]["batch_norm_impl"] == "formula"
    assert record["config"]["jit_compile"] is True and record["runtime"]["jit_compile"] is True
    assert "--batch-norm-impl formula" in record["command"] and "--jit-compile" in record["command"]
    # This process imported TensorFlow before kzoo: oneDNN is as TensorFlow left it.
    assert record["runtime"]["onednn"] == runtime.onednn_enabled()
    bad = CliRunner().invoke(main, [*TRAIN, "--batch-norm-impl", "fast", "--output", run + "2"])
    assert bad.exit_code != 0 and "fast" in bad.output


def test_set_batch_norm_impl_counts_the_layers_it_fuses():
    inputs = keras.Input((6, 6, 3))
    x = BatchNorm()(inputs)  # 4-D channels-last: fusable
    x = keras.layers.Flatten()(x)
    x = BatchNorm()(x)  # 2-D: the formula
    model = keras.Model(inputs, x)
    assert set_batch_norm_impl(model, "fused") == (2, 1)
    assert set_batch_norm_impl(model, "fused", replicas=2) == (2, 0)  # synchronized
    assert set_batch_norm_impl(model, "formula") == (2, 0)
    assert [layer.fused for layer in model.layers if isinstance(layer, BatchNorm)] == [False] * 2
    with pytest.raises(ValueError, match="batch_norm_impl.*Received: batch_norm_impl='fast'"):
        set_batch_norm_impl(model, "fast")


def test_the_onednn_hint_names_the_variable_only_when_it_is_off_by_default(monkeypatch):
    monkeypatch.setenv(runtime.ONEDNN_ENV, "0")
    assert runtime.onednn_hint() is None  # the user chose
    monkeypatch.delenv(runtime.ONEDNN_ENV)
    hint = runtime.onednn_hint()
    assert hint is None or runtime.ONEDNN_ENV in hint
    assert (hint is None) == (runtime.onednn_enabled() or not _x86())


def _x86():
    import platform

    return platform.machine().lower() in ("x86_64", "amd64")
