"""kzoo Conv2D (native and im2col) against keras.layers.Conv2D."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import Conv2D
from kzoo.testing import run_layer_test
from layer_helpers import outputs_and_gradients
from layer_helpers import twin_layers as _twin_layers

IMPLEMENTATIONS = ["native", "im2col"]


def twin_layers(implementation, x_shape, **kwargs):
    """A built keras.layers.Conv2D and a kzoo Conv2D holding the same weights."""
    return _twin_layers(keras.layers.Conv2D, Conv2D, implementation, x_shape,
                        **kwargs)


# Keras's Conv2D lacks strides and dilation together: see the dilated-kernel test.
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_equals_keras_conv2d(implementation, padding, stride, dilation, rng):
    x = rng.standard_normal((2, 8, 7, 3)).astype("float32")
    reference, ours = twin_layers(
        implementation, x.shape, filters=4, kernel_size=(3, 2), strides=stride,
        padding=padding, dilation_rate=dilation,
    )
    projection = rng.standard_normal(reference.compute_output_shape(x.shape)).astype("float32")
    want, want_grads = outputs_and_gradients(reference, x, projection)
    got, got_grads = outputs_and_gradients(ours, x, projection)
    npt.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for name, g, w in zip(["input", "kernel", "bias"], got_grads, want_grads):
        npt.assert_allclose(g, w, rtol=1e-4, atol=1e-4, err_msg=f"gradient w.r.t. {name}")


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_im2col_strides_with_dilation_equals_dilated_kernel(padding, rng):
    # Reference: a dilation of d is the kernel with d - 1 zeros inserted between taps.
    x = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    ours = Conv2D(4, 3, strides=2, dilation_rate=2, padding=padding, implementation="im2col")
    ours.build(x.shape)
    kernel = rng.standard_normal(ours.kernel.shape).astype("float32")
    ours.set_weights([kernel, np.zeros(4, "float32")])
    dilated = np.zeros((5, 5, 3, 4), "float32")
    dilated[::2, ::2] = kernel
    want = tf.nn.conv2d(x, dilated, strides=2, padding=padding.upper())
    npt.assert_allclose(ours(x), want, rtol=1e-4, atol=1e-4)


def test_native_strides_with_dilation_raises():
    with pytest.raises(ValueError, match=r"(?s)strides.*dilation_rate.*im2col.*Received"):
        Conv2D(4, 3, strides=2, dilation_rate=2, implementation="native")


@pytest.mark.parametrize("use_bias", [True, False])
def test_weights_match_keras_names_order_and_shapes(use_bias):
    reference, ours = twin_layers(
        "im2col", (1, 6, 6, 3), filters=5, kernel_size=(3, 2), use_bias=use_bias
    )
    assert [w.name for w in ours.weights] == [w.name for w in reference.weights]
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert [w.name for w in ours.trainable_weights] == (
        ["kernel", "bias"] if use_bias else ["kernel"]
    )


def test_activation_and_symbolic_unknown_spatial_size(rng):
    x = rng.standard_normal((2, 6, 5, 2)).astype("float32")
    reference, ours = twin_layers(
        "im2col", x.shape, filters=3, kernel_size=3, padding="same", activation="relu"
    )
    npt.assert_allclose(ours(x), reference(x), rtol=1e-4, atol=1e-4)
    symbolic = ours(keras.Input((None, None, 2)))
    assert tuple(symbolic.shape) == (None, None, None, 3)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_run_layer_test(implementation):
    run_layer_test(
        Conv2D,
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
         "implementation": implementation},
        (2, 5, 5, 2),
        expected_output_shape=(2, 3, 3, 3),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        check_distribution=True,
    )


def test_run_layer_test_im2col_dilated_strided_with_activation():
    run_layer_test(
        Conv2D,
        {"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2,
         "activation": "tanh", "use_bias": False, "implementation": "im2col"},
        (2, 6, 5, 2),
        expected_output_shape=(2, 2, 2, 2),
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize("argument", ["filters", "kernel_size", "strides", "dilation_rate"])
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_arguments_raise(argument, value):
    kwargs = {"filters": 2, "kernel_size": 3, argument: value}
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}={value}"):
        Conv2D(**kwargs)


@pytest.mark.parametrize("filters", [True, False, 2.5, None, "4"])
def test_filters_must_be_an_int(filters):
    with pytest.raises(ValueError, match=r"`filters`.*Received: filters="):
        Conv2D(filters, 3)


@pytest.mark.parametrize("kernel_size", [(3,), (3, 3, 3), 2.5, True, (3, 0)])
def test_kernel_size_must_be_positive_int_pair(kernel_size):
    with pytest.raises(ValueError, match=r"`kernel_size`.*Received: kernel_size="):
        Conv2D(2, kernel_size)


@pytest.mark.parametrize(
    "argument, value",
    [("padding", "full"), ("padding", "causal"), ("padding", None),
     ("implementation", "fft")],
)
def test_unknown_option_raises(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        Conv2D(2, 3, **{argument: value})


@pytest.mark.parametrize("kernel_size, dilation", [(6, 1), (3, 3)])
def test_window_larger_than_valid_input_raises(kernel_size, dilation):
    layer = Conv2D(2, kernel_size, dilation_rate=dilation)
    message = r"(?s)kernel_size.*padding='valid'.*Received: input_shape"
    with pytest.raises(ValueError, match=message):
        layer(np.zeros((1, 5, 6, 3), "float32"))


def test_build_with_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape=\(5, 5, 3\)"):
        Conv2D(2, 3).build((5, 5, 3))


def test_unknown_channel_count_raises():
    with pytest.raises(ValueError, match=r"channel count.*Received: input_shape"):
        Conv2D(2, 3)(keras.Input((5, 5, None)))


@pytest.mark.parametrize("shape", [(5, 5, 3), (1, 1, 5, 5, 3)])
def test_call_with_wrong_rank_raises(shape):
    with pytest.raises(ValueError, match=r"inputs.*rank 4.*Received: input"):
        Conv2D(2, 3)(np.zeros(shape, "float32"))


def test_call_with_other_channel_count_than_built_raises():
    layer = Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"(?s)channel.*Received: input\w*=\(1, 5, 5, 4\)"):
        layer(np.zeros((1, 5, 5, 4), "float32"))


def test_call_with_other_channel_count_than_built_raises_some_value_error():
    # What holds today, whatever the wording: a ValueError, not a TensorFlow error.
    layer = Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"(?i)received.*\(1, 5, 5, 4\)"):
        layer(np.zeros((1, 5, 5, 4), "float32"))
