"""kzoo LayerScale against keras.applications ConvNeXt's LayerScale (whose weights load as they
are)."""

import keras
import numpy as np
import pytest
from keras.src.applications import convnext as keras_convnext
from numpy import testing as npt

from kzoo.layers import LayerScale
from kzoo.testing import run_layer_test
from layer_helpers import outputs_and_gradients


def test_equals_keras_applications_layer_scale_with_its_weights(rng):
    x = rng.standard_normal((2, 5, 4, 8)).astype("float32")
    reference = keras_convnext.LayerScale(1e-6, 8)
    reference.build(x.shape)
    reference.set_weights([rng.uniform(0.5, 1.5, 8).astype("float32")])
    ours = LayerScale(1e-6, 8)
    ours.build(x.shape)
    ours.set_weights(reference.get_weights())  # one weight, the same shape
    projection = rng.standard_normal(x.shape).astype("float32")
    want, want_grads = outputs_and_gradients(reference, x, projection)
    got, got_grads = outputs_and_gradients(ours, x, projection)
    npt.assert_allclose(got, want, rtol=1e-6)
    for name, g, w in zip(["input", "gamma"], got_grads, want_grads):
        npt.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"gradient w.r.t. {name}")


def test_one_weight_gamma_initialized_to_init_value():
    layer = LayerScale(1e-6, 16)
    layer.build((1, 3, 3, 16))
    assert [(w.name, tuple(w.shape), w.trainable) for w in layer.weights] == [
        ("gamma", (16,), True)]
    npt.assert_array_equal(layer.gamma.numpy(), np.full(16, 1e-6, "float32"))
    keras_layer = keras_convnext.LayerScale(1e-6, 16)
    keras_layer.build((1, 3, 3, 16))
    npt.assert_array_equal(layer.get_weights()[0], keras_layer.get_weights()[0])


def test_projection_dim_from_the_input(rng):
    layer = LayerScale(0.5)
    x = rng.standard_normal((3, 6)).astype("float32")
    npt.assert_allclose(layer(x), 0.5 * x, rtol=1e-7)
    assert layer.projection_dim == 6 and layer.get_config()["projection_dim"] == 6


def test_run_layer_test():
    run_layer_test(
        LayerScale,
        {"init_value": 0.1, "projection_dim": 3},
        (2, 4, 4, 3),
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=0,
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize("value", ["1e-6", None, True, float("nan"), float("inf")])
def test_init_value_must_be_a_finite_float(value):
    with pytest.raises(ValueError, match=r"`init_value`.*Received: init_value="):
        LayerScale(value, 4)


@pytest.mark.parametrize("value", [0, -3, 2.5, "4"])
def test_projection_dim_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match=r"`projection_dim`.*Received: projection_dim="):
        LayerScale(1e-6, value)


def test_input_of_another_size_raises():
    with pytest.raises(ValueError, match=r"projection_dim=4.*Received: input_shape=\(2, 5\)"):
        LayerScale(1e-6, 4)(np.zeros((2, 5), "float32"))
    layer = LayerScale(1e-6)
    layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"built for a last axis of 4.*Received: input_shape"):
        layer(np.zeros((2, 5), "float32"))
