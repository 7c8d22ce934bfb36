"""`kzoo demo`: the short digits run of a CNN made of kzoo layers."""

import numpy as np
import pytest

from kzoo import layers
from kzoo.cli.demo import build_demo_model, run_demo


# Heavy (about 7 s; the default run's budget): `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_demo_learns_digits_and_round_trips(capsys):
    accuracy = run_demo(epochs=2, seed=0)
    assert accuracy > 0.8  # 10 classes: chance is 0.1
    out = capsys.readouterr().out
    assert ".keras round trip identical" in out
    assert "1438 training and 359 test images" in out  # kzoo.data's fixed digits split


def test_demo_model_is_the_documented_stack_of_kzoo_layers():
    model = build_demo_model()
    kinds = [type(layer) for layer in model.layers]
    for kind in (layers.Conv2D, layers.BatchNorm, layers.MaxPool2D, layers.Maxout, layers.Affine):
        assert kind in kinds
    assert all(l.implementation == "im2col" for l in model.layers if isinstance(l, layers.Conv2D))
    # Parameters by the formulas: conv 3·3·1·32+32, BatchNorm 4·32, conv 3·3·32·64+64,
    # Maxout 0, affine (4·4·32)·128+128, affine 128·10+10.
    expected = (9 * 32 + 32) + 4 * 32 + (9 * 32 * 64 + 64) + (512 * 128 + 128) + (128 * 10 + 10)
    assert model.count_params() == expected
    assert model(np.zeros((2, 8, 8, 1), "float32")).shape == (2, 10)
