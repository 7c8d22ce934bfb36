"""Im2Col against `tf.image.extract_patches` and a NumPy loop."""

import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import Im2Col, im2col
from kzoo.testing import run_layer_test


def extract_patches(x, kernel_size, strides, dilation_rate, padding):
    """The reference: TensorFlow's own patch extraction (and its autodiff gradient)."""
    return tf.image.extract_patches(
        x,
        sizes=[1, *kernel_size, 1],
        strides=[1, *strides, 1],
        rates=[1, *dilation_rate, 1],
        padding=padding.upper(),
    )


def patches_and_input_gradient(fn, x, projection):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        patches = fn(x)
        objective = tf.reduce_sum(patches * projection)
    return patches.numpy(), tape.gradient(objective, x).numpy()


@pytest.mark.parametrize("size", [6, 7], ids=["even", "odd"])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_equals_extract_patches_forward_and_gradient(padding, stride, dilation, size, rng):
    x = rng.standard_normal((2, size, size + 1, 3)).astype("float32")
    kernel_size, strides, rates = (3, 2), (stride, stride), (dilation, dilation)
    expected = extract_patches(x, kernel_size, strides, rates, padding)
    projection = rng.standard_normal(expected.shape).astype("float32")

    got, got_grad = patches_and_input_gradient(
        lambda t: Im2Col(kernel_size, strides, padding, rates)(t), x, projection
    )
    want, want_grad = patches_and_input_gradient(
        lambda t: extract_patches(t, kernel_size, strides, rates, padding), x, projection
    )
    assert got.shape == want.shape
    npt.assert_allclose(got, want, rtol=0, atol=0)  # a pure gather: exact
    npt.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kernel_size, strides, padding, expected",
    [
        ((3, 3), (1, 1), "valid", (2, 5, 4, 27)),
        ((3, 3), (1, 1), "same", (2, 7, 6, 27)),
        ((2, 3), (2, 2), "valid", (2, 3, 2, 18)),
        ((2, 3), (2, 2), "same", (2, 4, 3, 18)),
        ((1, 1), (3, 1), "valid", (2, 3, 6, 3)),
    ],
)
def test_output_shape(kernel_size, strides, padding, expected):
    layer = Im2Col(kernel_size, strides=strides, padding=padding)
    x = np.zeros((2, 7, 6, 3), "float32")
    assert tuple(layer(x).shape) == expected
    assert layer.compute_output_shape((2, 7, 6, 3)) == expected
    assert layer.compute_output_shape((None, 7, 6, None)) == (None, *expected[1:3], None)


def test_patch_ordering_is_kh_kw_channels():
    # A patch is the window read row by row, each cell's channels together.
    x = np.arange(2 * 4 * 5 * 3, dtype="float32").reshape(2, 4, 5, 3)
    kh, kw = 2, 3
    patches = im2col(tf.constant(x), (kh, kw)).numpy()
    for b in range(2):
        for i in range(4 - kh + 1):
            for j in range(5 - kw + 1):
                npt.assert_array_equal(
                    patches[b, i, j], x[b, i:i + kh, j:j + kw, :].reshape(-1)
                )


def test_same_padding_puts_the_extra_cell_at_the_end():
    # TensorFlow's rule: total padding 1 for a 2-wide window goes after the input.
    x = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    patches = Im2Col(2, padding="same")(x).numpy()
    npt.assert_array_equal(patches[0, 0, 0], [1, 2, 4, 5])
    npt.assert_array_equal(patches[0, 2, 2], [9, 0, 0, 0])


def test_unknown_batch_and_spatial_sizes_in_tf_function(rng):
    x = rng.standard_normal((3, 7, 6, 2)).astype("float32")
    layer = Im2Col(3, strides=2, padding="same", dilation_rate=1)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
    npt.assert_array_equal(traced(x), extract_patches(x, (3, 3), (2, 2), (1, 1), "same"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2, "padding": "same"},
        {"kernel_size": (3, 2), "strides": 2, "dilation_rate": 1},
    ],
)
def test_run_layer_test(kwargs):
    run_layer_test(Im2Col, kwargs, (2, 5, 4, 2))


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize(
    "argument, value",
    [("kernel_size", 0), ("kernel_size", (2, -1)), ("kernel_size", (2,)),
     ("strides", 0), ("dilation_rate", -1), ("padding", "full")],
)
def test_bad_arguments_raise(argument, value):
    kwargs = {"kernel_size": 2, argument: value}
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        Im2Col(**kwargs)


def test_window_larger_than_valid_input_raises():
    with pytest.raises(ValueError, match=r"(?s)larger than the input.*Received: input_shape"):
        Im2Col(3, dilation_rate=2)(np.zeros((1, 4, 6, 1), "float32"))


def test_call_with_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"inputs.*rank 4.*Received: input"):
        Im2Col(2)(np.zeros((4, 4, 1), "float32"))
