"""kzoo MaxPool2D and AvgPool2D (native and im2col) against Keras's pooling layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import AvgPool2D, MaxPool2D
from kzoo.testing import run_layer_test

IMPLEMENTATIONS = ["native", "im2col"]
PAIRS = [(MaxPool2D, keras.layers.MaxPooling2D), (AvgPool2D, keras.layers.AveragePooling2D)]
PAIR_IDS = ["max", "avg"]
WINDOWS = [(2, None), (3, 2), ((2, 3), 1), (3, (1, 2))]


def output_and_input_gradient(layer, x, projection):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        objective = tf.reduce_sum(y * projection)
    return y.numpy(), tape.gradient(objective, x).numpy()


@pytest.mark.parametrize("pool_size, strides", WINDOWS)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("ours_cls, keras_cls", PAIRS, ids=PAIR_IDS)
def test_equals_keras_forward_and_gradient(
    ours_cls, keras_cls, implementation, padding, pool_size, strides, rng
):
    x = rng.standard_normal((2, 7, 6, 3)).astype("float32")
    reference = keras_cls(pool_size, strides=strides, padding=padding)
    ours = ours_cls(pool_size, strides=strides, padding=padding, implementation=implementation)
    projection = rng.standard_normal(reference.compute_output_shape(x.shape)).astype("float32")
    want, want_grad = output_and_input_gradient(reference, x, projection)
    got, got_grad = output_and_input_gradient(ours, x, projection)
    assert got.shape == want.shape
    assert ours.compute_output_shape(x.shape) == want.shape
    npt.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(got_grad))
    npt.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_avg_same_padding_ignores_padded_cells(implementation):
    # The mean of a window of ones is one, also where the window hangs over the edge.
    out = AvgPool2D(3, strides=2, padding="same", implementation=implementation)(
        np.ones((1, 6, 5, 2), "float32")
    )
    npt.assert_allclose(out, np.ones((1, 3, 3, 2)), rtol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_max_same_padding_never_picks_a_padded_cell(implementation):
    # With all inputs negative, a padded zero would win the max.
    x = -1.0 - np.arange(30, dtype="float32").reshape(1, 5, 6, 1)
    out = MaxPool2D(2, padding="same", implementation=implementation)(x).numpy()
    assert np.all(out < 0)
    # The last window holds row 4 (row 5 is padding) and columns 4 and 5.
    npt.assert_array_equal(out[0, -1, -1, 0], x[0, 4, 4, 0])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("ours_cls", [MaxPool2D, AvgPool2D], ids=PAIR_IDS)
def test_run_layer_test(ours_cls, implementation):
    run_layer_test(
        ours_cls,
        {"pool_size": 3, "strides": 2, "padding": "same", "implementation": implementation},
        (2, 5, 4, 2),
        expected_output_shape=(2, 3, 2, 2),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize("ours_cls", [MaxPool2D, AvgPool2D], ids=PAIR_IDS)
@pytest.mark.parametrize(
    "argument, value",
    [("pool_size", 0), ("pool_size", -2), ("pool_size", (2, 0)), ("pool_size", True),
     ("strides", 0), ("strides", (1, -1)), ("padding", "full"),
     ("implementation", "fft")],
)
def test_bad_arguments_raise(ours_cls, argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        ours_cls(**{argument: value})


@pytest.mark.parametrize("ours_cls", [MaxPool2D, AvgPool2D], ids=PAIR_IDS)
def test_window_larger_than_valid_input_raises(ours_cls):
    with pytest.raises(ValueError, match=r"(?s)larger than the input.*Received: input_shape"):
        ours_cls(4)(np.zeros((1, 3, 5, 1), "float32"))


@pytest.mark.parametrize("ours_cls", [MaxPool2D, AvgPool2D], ids=PAIR_IDS)
def test_call_with_wrong_rank_raises(ours_cls):
    with pytest.raises(ValueError, match=r"inputs.*rank 4.*Received: input"):
        ours_cls(2)(np.zeros((4, 4, 1), "float32"))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_avg_im2col_under_mixed_precision(policy):
    """The XLA-compiled window sums run in the policy's compute dtype, and equal Keras's
    average pool (in float32) within that dtype's precision."""
    x = np.random.default_rng(3).random((3, 11, 9, 4)).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        out = AvgPool2D(3, strides=2, padding="same", implementation="im2col")(x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == policy.split("_")[1]
    want = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)
    npt.assert_allclose(np.asarray(out, "float32"), want, atol=2e-2 if "bf" in policy else 2e-3)
