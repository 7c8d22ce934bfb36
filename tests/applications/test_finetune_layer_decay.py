"""applications/finetune_layer_decay.py, offline: ConvNeXt-T from a written weight file.

The weight file is a random-init kzoo `convnext_tiny` (no top) saved with
`save_weights` (`.weights.h5`); the data are 3 digits per class (30 images,
scikit-learn's, resized to 32×32 RGB inside the model), one epoch of phase 2.
The printed per-stage learning rates are checked against the formula and
against kzoo's own per-layer multipliers (`fine_tune`'s `_multipliers`), and
the weights themselves: with Adam, two steps move no weight more than
2 × its learning rate, so the stem (the most decayed stage) and the last
stage each moved by about their own rate from the file's values.
"""

import json
import re
import sys

import keras
import numpy as np
import pytest
from application_helpers import last_line, load_program

import kzoo
from kzoo.transfer import freezing

SIZE = 32
DECAY = 0.7
LR = 1e-3
STAGE_LINE = re.compile(
    r"^\s+(stage|head) (\d+): lr ([0-9.e+-]+)\s+\(x ([0-9.e+-]+), (\d+) layers")


@pytest.fixture(scope="module")
def convnext_weights(tmp_path_factory):
    keras.utils.set_random_seed(7)
    reference = kzoo.create_model("convnext_tiny", weights=None, include_top=False,
                                  input_shape=(SIZE, SIZE, 3))
    path = tmp_path_factory.mktemp("weights") / "convnext_tiny_notop.weights.h5"
    reference.save_weights(path)
    keras.backend.clear_session()
    return str(path)


def _kzoo_stage_multipliers(classes):
    """{stage: {multipliers}} from kzoo's own fine_tune planning on the same classifier."""
    fine_tune_module = sys.modules["kzoo.transfer.fine_tune"]
    base = kzoo.create_model("convnext_tiny", weights=None, include_top=False,
                             input_shape=(SIZE, SIZE, 3))
    model = kzoo.transfer.classifier(base, classes, input_shape=(8, 8, 1))
    multipliers = fine_tune_module._multipliers(model, base_lr_factor=1.0, layer_decay=DECAY)
    stage_of = freezing.stage_of_layers(model)
    by_stage = {}
    for name, multiplier in multipliers.items():
        by_stage.setdefault(stage_of[name], set()).add(multiplier)
    return by_stage


# Heavy (45-70 s: ConvNeXt-T built, trained for 2 steps, evaluated on 359 digits, saved):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_runs_offline_and_decays_the_learning_rate_per_stage(tmp_path, convnext_weights,
                                                             capsys):
    program = load_program("finetune_layer_decay")
    output = tmp_path / "out"
    result = program.main(["--data", "digits", "--labels-per-class", "3", "--weights",
                           convnext_weights, "--image-size", str(SIZE), "--epochs", "1",
                           "--layer-decay", str(DECAY), "--learning-rate", str(LR),
                           "--test-images", "0", "--seed", "0", "--output", str(output)])
    printed = capsys.readouterr().out
    line = last_line(printed)
    assert line.startswith("result: test accuracy ") and "layer decay 0.7" in line, line
    assert "checked: the optimizer fine_tune built gives every stage these rates" in printed

    # The printed rates: lr × decay ** (n - stage), the head (stage n) at lr.
    printed_stages = [(kind, int(stage), float(lr), float(mult), int(count))
                      for kind, stage, lr, mult, count in
                      (m.groups() for m in map(STAGE_LINE.match, printed.splitlines()) if m)]
    assert [kind for kind, *_ in printed_stages] == ["stage"] * 4 + ["head"]
    n = printed_stages[-1][1]
    assert n == 5  # ConvNeXt-T: input normalization (stage 0, no weights), stem + 4 stages
    for kind, stage, lr, mult, count in printed_stages:
        assert lr == pytest.approx(LR * DECAY ** (n - stage), rel=1e-4)
        assert mult == pytest.approx(DECAY ** (n - stage), rel=1e-3)
        assert count > 0
    assert [s for _, s, *_ in printed_stages] == [1, 2, 3, 4, 5]

    # kzoo's own planning gives every layer of a stage that stage's multiplier.
    kzoo_stages = _kzoo_stage_multipliers(10)
    assert sorted(kzoo_stages) == [1, 2, 3, 4]
    for kind, stage, lr, mult, count in printed_stages[:-1]:
        (expected,) = kzoo_stages[stage]
        assert LR * expected == pytest.approx(lr, rel=1e-4)

    # result.json: the same rates, planned and applied by the optimizer fine_tune compiled.
    saved = json.loads((output / "result.json").read_text())
    assert saved["accuracy"] == result["accuracy"] and 0.0 <= result["accuracy"] <= 1.0
    assert result["train_images"] == 30 and result["evaluation_images"] == 359
    assert result["phases"] == [{"name": "full", "epochs": 1}]
    for row in saved["stages"]:
        assert row["learning_rate"] == pytest.approx(LR * DECAY ** (n - row["stage"]))
        assert row["applied_multiplier"] == pytest.approx(row["multiplier"], rel=1e-9)

    # The weights came from the file and moved by their stage's rate (2 Adam steps: at most
    # 2 × lr each): the stem by ~2.4e-4, the last stage by ~7e-4, never by the head's 1e-3.
    model = keras.saving.load_model(output / "model.keras")
    start = kzoo.create_model("convnext_tiny", weights=convnext_weights, include_top=False,
                              input_shape=(SIZE, SIZE, 3))
    rates = {row["first"]: row["learning_rate"] for row in saved["stages"]}
    for name in ("convnext_tiny_stem", "convnext_tiny_downsampling_block_2"):
        moved = max(float(np.abs(a - b).max()) for a, b in
                    zip(model.get_layer(name).get_weights(), start.get_layer(name).get_weights()))
        assert 0.5 * rates[name] <= moved <= 2.05 * rates[name], (name, moved, rates[name])

    digits = kzoo.data.load_arrays("digits", "test")[0][:4].astype("float32")  # raw 8x8 pixels
    probabilities = model.predict(digits, verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_options_are_usage_errors(tmp_path, capsys):
    program = load_program("finetune_layer_decay")
    for argv in (["--layer-decay", "1.5"], ["--model", "resnet50"], ["--epochs", "0"],
                 ["--weights", str(tmp_path / "missing.h5")],
                 ["--epochs", "2", "--head-epochs", "2"]):
        with pytest.raises(SystemExit) as exit_info:
            program.main(argv)
        assert exit_info.value.code == 2, argv
    errors = capsys.readouterr().err
    assert "--layer-decay must be in (0, 1]" in errors and "no such file" in errors
