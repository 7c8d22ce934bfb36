"""kzoo Affine against keras.layers.Dense and the formula XW + b."""

import keras
import numpy as np
import pytest
from numpy import testing as npt

from kzoo.layers import Affine
from kzoo.testing import run_layer_test


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_equals_keras_dense_and_numpy(shape, activation, rng):
    x = rng.standard_normal(shape).astype("float32")
    dense = keras.layers.Dense(3, activation=activation, bias_initializer="random_normal")
    dense.build(x.shape)
    ours = Affine(3, activation=activation)
    ours.build(x.shape)
    ours.set_weights(dense.get_weights())
    assert [w.name for w in ours.weights] == [w.name for w in dense.weights] == ["kernel", "bias"]
    npt.assert_allclose(ours(x), dense(x), rtol=1e-6, atol=1e-6)
    kernel, bias = dense.get_weights()
    expected = x @ kernel + bias
    if activation == "relu":
        expected = np.maximum(expected, 0)
    npt.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)


def test_without_bias_has_one_weight(rng):
    layer = Affine(2, use_bias=False)
    x = rng.standard_normal((3, 4)).astype("float32")
    npt.assert_allclose(layer(x), x @ layer.get_weights()[0], rtol=1e-6)
    assert len(layer.weights) == 1


def test_run_layer_test():
    run_layer_test(Affine, {"units": 3, "activation": "tanh"}, (4, 5),
                   expected_output_shape=(4, 3), expected_num_trainable_weights=2,
                   check_distribution=True)


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "8"])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units.*Received"):
        Affine(units)


def test_rank_one_or_other_width_is_a_value_error(rng):
    with pytest.raises(ValueError, match="Received"):
        Affine(2).build((5,))
    layer = Affine(2)
    layer.build((None, 4))
    with pytest.raises(ValueError):
        layer(rng.standard_normal((3, 6)).astype("float32"))
