"""applications/finetune_fashion_to_digits.py: the shipped LeNet fine-tuned on the digits.

One run as a user runs it (a subprocess on `sys.executable`, a small budget),
then its saved models are checked: the fine-tuned one starts from the
shipped checkpoint (linear mode keeps its features bit for bit), the scratch
one has the same architecture with fresh weights, both take raw 8×8 pixels.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from application_helpers import last_line, load_program, program_path

import kzoo


# Heavy (about 9 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_runs_as_a_script_and_compares_with_scratch(tmp_path):
    output = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, str(program_path("finetune_fashion_to_digits")), "--mode", "linear",
         "--epochs", "3", "--labels-per-class", "3", "--seed", "1", "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = last_line(completed.stdout)
    assert line.startswith("result: fine-tuned (linear) ") and " scratch " in line, line
    assert "classifier: input (8, 8, 1)" in completed.stderr  # resized to 28x28 in the model

    result = json.loads((output / "result.json").read_text())
    assert result["train_images"] == 30 and result["test_images"] == 359
    assert result["mode"] == "linear" and result["epochs"] == 3
    for key in ("finetuned_accuracy", "scratch_accuracy"):
        assert 0.0 <= result[key] <= 1.0
        assert f"{result[key]:.4f}" in line

    finetuned = keras.saving.load_model(output / "finetuned.keras")
    scratch = keras.saving.load_model(output / "scratch.keras")
    shipped = kzoo.create_model("lenet", weights="fashion_mnist", include_top=False)
    # Linear mode: the checkpoint's convolutions are untouched; scratch has its own.
    for name in ("block1_conv", "block2_conv"):
        for a, b in zip(finetuned.get_layer(name).get_weights(),
                        shipped.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(scratch.get_layer("block1_conv").get_weights()[0],
                              shipped.get_layer("block1_conv").get_weights()[0])
    # The same architecture: raw-pixel scaling, 8x8 -> 28x28, LeNet features, the same head.
    assert ([(type(layer).__name__, layer.name) for layer in finetuned.layers]
            == [(type(layer).__name__, layer.name) for layer in scratch.layers])
    assert finetuned.count_params() == scratch.count_params()
    assert scratch.get_layer("scale").get_config()["scale"] == pytest.approx(1 / 255)
    assert shipped.get_layer("scale").get_config()["scale"] == pytest.approx(1 / 255)

    images = kzoo.data.load_arrays("digits", "test")[0][:5].astype("float32")  # raw 0-255
    for model in (finetuned, scratch):
        assert model.predict(images, verbose=0).shape == (5, 10)


def test_bad_options_are_usage_errors(capsys):
    program = load_program("finetune_fashion_to_digits")
    for argv in (["--mode", "everything"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            program.main(argv)
        assert exit_info.value.code == 2
    assert "--mode" in capsys.readouterr().err
