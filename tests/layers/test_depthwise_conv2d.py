"""kzoo DepthwiseConv2D (native and im2col) against keras.layers.DepthwiseConv2D."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import DepthwiseConv2D
from kzoo.testing import run_layer_test
from layer_helpers import outputs_and_gradients
from layer_helpers import twin_layers as _twin_layers

IMPLEMENTATIONS = ["native", "im2col"]


def twin_layers(implementation, x_shape, **kwargs):
    """A built keras.layers.DepthwiseConv2D and a kzoo DepthwiseConv2D holding the same weights."""
    return _twin_layers(keras.layers.DepthwiseConv2D, DepthwiseConv2D, implementation, x_shape,
                        **kwargs)


# Keras decomposes strides with dilation itself, so (2, 2) is compared too.
@pytest.mark.parametrize(
    "padding, stride, dilation, multiplier",
    [("valid", 1, 1, 1), ("same", 2, 1, 2), ("valid", 2, 1, 1), ("same", 1, 2, 2),
     ("same", 2, 2, 1)],
)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_equals_keras_depthwise_conv2d(implementation, padding, stride, dilation, multiplier,
                                       rng):
    x = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    reference, ours = twin_layers(
        implementation, x.shape, kernel_size=(3, 2), strides=stride, padding=padding,
        dilation_rate=dilation, depth_multiplier=multiplier,
    )
    projection = rng.standard_normal(reference.compute_output_shape(x.shape)).astype("float32")
    want, want_grads = outputs_and_gradients(reference, x, projection)
    got, got_grads = outputs_and_gradients(ours, x, projection)
    npt.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for name, g, w in zip(["input", "kernel", "bias"], got_grads, want_grads):
        npt.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"gradient w.r.t. {name}")


def test_im2col_equals_native_with_unknown_spatial_size(rng):
    x = rng.standard_normal((2, 9, 9, 3)).astype("float32")
    native = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)
    native.build(x.shape)
    im2col = DepthwiseConv2D.from_config({**native.get_config(), "implementation": "im2col"})
    im2col.build(x.shape)
    im2col.set_weights(native.get_weights())
    spec = tf.TensorSpec((None, None, None, 3), "float32")
    for layer in (native, im2col):
        assert tuple(layer(keras.Input((None, None, 3))).shape) == (None, None, None, 6)
    got = tf.function(im2col).get_concrete_function(spec)(tf.constant(x))
    npt.assert_allclose(got, native(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("use_bias", [True, False])
def test_weights_match_keras_names_order_and_shapes(use_bias):
    reference, ours = twin_layers(
        "im2col", (1, 6, 6, 3), kernel_size=(3, 2), depth_multiplier=2, use_bias=use_bias
    )
    assert [w.name for w in ours.weights] == [w.name for w in reference.weights]
    assert [w.shape for w in ours.weights] == [(3, 2, 3, 2), (6,)][: 1 + use_bias]
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert ours.depthwise_kernel is ours.kernel


def test_config_has_keras_argument_names():
    config = DepthwiseConv2D(3, depthwise_initializer="ones").get_config()
    keras_config = keras.layers.DepthwiseConv2D(3).get_config()
    assert set(keras_config) - set(config) == {"data_format"}
    assert config["depthwise_initializer"]["class_name"] == "Ones"


def test_activation_and_regularizers(rng):
    x = rng.standard_normal((2, 6, 5, 2)).astype("float32")
    kwargs = dict(kernel_size=3, padding="same", activation="relu",
                  depthwise_regularizer="l2", bias_regularizer="l1")
    reference, ours = twin_layers("im2col", x.shape, **kwargs)
    npt.assert_allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)
    npt.assert_allclose(sum(ours.losses), sum(reference.losses), rtol=1e-5)


def test_loads_legacy_hdf5_weights_of_a_keras_model(tmp_path, rng):
    # keras.applications' .h5 files store each layer's get_weights() in order.
    def model(cls):
        inputs = keras.Input((7, 7, 3))
        return keras.Model(inputs, cls(3, depth_multiplier=2, padding="same", name="dw",
                     bias_initializer="random_normal")(inputs))

    reference, ours = model(keras.layers.DepthwiseConv2D), model(DepthwiseConv2D)
    path = str(tmp_path / "weights.h5")
    reference.save(path)  # the legacy HDF5 format
    ours.load_weights(path)
    x = rng.standard_normal((2, 7, 7, 3)).astype("float32")
    npt.assert_allclose(ours(x), reference(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_run_layer_test(implementation):
    run_layer_test(
        DepthwiseConv2D,
        {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2,
         "implementation": implementation},
        (2, 5, 5, 2),
        expected_output_shape=(2, 3, 3, 4),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        check_distribution=implementation == "im2col",
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize(
    "argument", ["kernel_size", "strides", "dilation_rate", "depth_multiplier"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_arguments_raise(argument, value):
    kwargs = {"kernel_size": 3, argument: value}
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}={value}"):
        DepthwiseConv2D(**kwargs)


@pytest.mark.parametrize(
    "argument, value",
    [("padding", "full"), ("implementation", "fft"), ("depth_multiplier", 1.5),
     ("depthwise_initializer", "no_such_initializer"), ("activation", "no_such")],
)
def test_bad_option_raises(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        DepthwiseConv2D(3, **{argument: value})


@pytest.mark.parametrize("shape", [(5, 5, 3), (1, 1, 5, 5, 3)])
def test_call_with_wrong_rank_raises(shape):
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape"):
        DepthwiseConv2D(3)(np.zeros(shape, "float32"))


def test_window_larger_than_valid_input_and_unknown_channels_raise():
    with pytest.raises(ValueError, match=r"(?s)kernel_size.*padding='valid'.*Received"):
        DepthwiseConv2D(3, dilation_rate=3)(np.zeros((1, 5, 6, 3), "float32"))
    with pytest.raises(ValueError, match=r"channel count.*Received: input_shape"):
        DepthwiseConv2D(3)(keras.Input((5, 5, None)))


def test_call_with_other_channel_count_than_built_raises():
    layer = DepthwiseConv2D(3)
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"(?s)channel.*Received: input_shape=\(1, 5, 5, 4\)"):
        layer(np.zeros((1, 5, 5, 4), "float32"))
