"""kzoo SeparableConv2D (native and im2col) against keras.layers.SeparableConv2D."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import SeparableConv2D
from kzoo.testing import run_layer_test
from layer_helpers import outputs_and_gradients
from layer_helpers import twin_layers as _twin_layers

IMPLEMENTATIONS = ["native", "im2col"]


def twin_layers(implementation, x_shape, **kwargs):
    """A built keras.layers.SeparableConv2D and a kzoo SeparableConv2D holding the same weights."""
    return _twin_layers(keras.layers.SeparableConv2D, SeparableConv2D, implementation, x_shape,
                        **kwargs)


@pytest.mark.parametrize(
    "padding, stride, dilation, multiplier",
    [("valid", 1, 1, 1), ("same", 2, 1, 2), ("same", 1, 2, 1), ("valid", 2, 2, 2)],
)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_equals_keras_separable_conv2d(implementation, padding, stride, dilation, multiplier,
                                       rng):
    x = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    reference, ours = twin_layers(
        implementation, x.shape, filters=4, kernel_size=(3, 2), strides=stride,
        padding=padding, dilation_rate=dilation, depth_multiplier=multiplier,
    )
    projection = rng.standard_normal(reference.compute_output_shape(x.shape)).astype("float32")
    want, want_grads = outputs_and_gradients(reference, x, projection)
    got, got_grads = outputs_and_gradients(ours, x, projection)
    npt.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    names = ["input", "depthwise_kernel", "pointwise_kernel", "bias"]
    for name, g, w in zip(names, got_grads, want_grads):
        npt.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"gradient w.r.t. {name}")


def test_im2col_equals_native_with_unknown_spatial_size(rng):
    x = rng.standard_normal((2, 9, 9, 3)).astype("float32")
    native = SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2,
                             bias_initializer="random_normal")
    native.build(x.shape)
    im2col = SeparableConv2D.from_config({**native.get_config(), "implementation": "im2col"})
    im2col.build(x.shape)
    im2col.set_weights(native.get_weights())
    for layer in (native, im2col):
        assert tuple(layer(keras.Input((None, None, 3))).shape) == (None, None, None, 5)
    spec = tf.TensorSpec((None, None, None, 3), "float32")
    got = tf.function(im2col).get_concrete_function(spec)(tf.constant(x))
    npt.assert_allclose(got, native(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_bias", [True, False])
def test_weights_match_keras_names_order_and_shapes(use_bias):
    reference, ours = twin_layers(
        "im2col", (1, 6, 6, 3), filters=5, kernel_size=(3, 2), depth_multiplier=2,
        use_bias=use_bias,
    )
    assert [w.name for w in ours.weights] == [w.name for w in reference.weights]
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert [w.name for w in ours.weights] == (
        ["depthwise_kernel", "pointwise_kernel", "bias"][: 2 + use_bias]
    )
    assert ours.pointwise_kernel.shape == (1, 1, 6, 5)


def test_config_has_keras_argument_names():
    config = SeparableConv2D(2, 3).get_config()
    keras_config = keras.layers.SeparableConv2D(2, 3).get_config()
    assert set(keras_config) - set(config) == {"data_format"}


def test_loads_legacy_hdf5_weights_of_a_keras_model(tmp_path, rng):
    # keras.applications' .h5 files store each layer's get_weights() in order.
    def model(cls):
        inputs = keras.Input((7, 7, 3))
        return keras.Model(inputs, cls(4, 3, depth_multiplier=2, name="sep",
                     bias_initializer="random_normal")(inputs))

    reference, ours = model(keras.layers.SeparableConv2D), model(SeparableConv2D)
    path = str(tmp_path / "weights.h5")
    reference.save(path)  # the legacy HDF5 format
    ours.load_weights(path)
    x = rng.standard_normal((2, 7, 7, 3)).astype("float32")
    npt.assert_allclose(ours(x), reference(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_run_layer_test(implementation):
    run_layer_test(
        SeparableConv2D,
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
         "depth_multiplier": 2, "activation": "tanh", "implementation": implementation},
        (2, 5, 5, 2),
        expected_output_shape=(2, 3, 3, 3),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=0,
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize(
    "argument", ["filters", "kernel_size", "strides", "dilation_rate", "depth_multiplier"]
)
def test_non_positive_arguments_raise(argument):
    kwargs = {"filters": 2, "kernel_size": 3, argument: 0}
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}=0"):
        SeparableConv2D(**kwargs)


@pytest.mark.parametrize(
    "argument, value",
    [("padding", "causal"), ("implementation", "fft"),
     ("pointwise_regularizer", "no_such_regularizer")],
)
def test_bad_option_raises(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        SeparableConv2D(2, 3, **{argument: value})


def test_call_with_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape"):
        SeparableConv2D(2, 3)(np.zeros((5, 5, 3), "float32"))
