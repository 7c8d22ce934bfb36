"""kzoo DropPath (stochastic depth): its statistics in training, the identity at inference, and
keras.applications ConvNeXt's StochasticDepth on the same random draws."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.applications import convnext as keras_convnext
from numpy import testing as npt

from kzoo.layers import DropPath
from kzoo.testing import run_layer_test


def _dropped(y):
    """Per example (first axis): whether all its entries are zero."""
    return np.all(np.asarray(y).reshape(len(y), -1) == 0, axis=1)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_training_drops_whole_examples_with_probability_rate(rate, rng):
    n = 20_000
    x = rng.uniform(0.5, 1.5, (n, 3, 2, 2)).astype("float32")  # no zero entries
    y = np.asarray(DropPath(rate, seed=3)(x, training=True))
    dropped = _dropped(y)
    # Every example is kept or dropped whole: all zeros, or no zero at all.
    assert np.all(np.asarray(y)[~dropped] != 0)
    # The fraction dropped is `rate`, within 5 standard deviations of a binomial draw.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    # Kept examples are scaled by exactly 1 / (1 - rate).
    npt.assert_array_equal(y[~dropped], x[~dropped] / np.float32(1 - rate))
    # So the mean is preserved: E[y] = x.
    ones = np.ones((n, 4), "float32")
    mean = np.asarray(DropPath(rate, seed=4)(ones, training=True)).mean()
    assert abs(mean - 1.0) < 5 * np.sqrt(rate / (1 - rate) / n)


@pytest.mark.parametrize("training", [False, None])
def test_identity_at_inference(training, rng):
    x = rng.standard_normal((64, 5, 5, 3)).astype("float32")
    layer = DropPath(0.9)
    npt.assert_array_equal(layer(x, training=training), x)
    # In a model, predict() runs at inference; fit() would train.
    inputs = keras.Input((5, 5, 3))
    model = keras.Model(inputs, DropPath(0.9)(inputs))
    npt.assert_array_equal(model.predict(x, verbose=0), x)


def test_rate_zero_is_the_identity_in_training(rng):
    x = rng.standard_normal((16, 4)).astype("float32")
    npt.assert_array_equal(DropPath(0.0)(x, training=True), x)


def test_draws_differ_between_calls_and_repeat_with_the_seed(rng):
    x = np.ones((256, 2), "float32")
    layer = DropPath(0.5, seed=7)
    first, second = (_dropped(layer(x, training=True)) for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(_dropped(DropPath(0.5, seed=7)(x, training=True)), first)


def test_gradient_is_the_mask_over_keep(rng):
    x = tf.constant(rng.uniform(1, 2, (64, 3, 3, 2)).astype("float32"))
    layer = DropPath(0.25, seed=0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    grad = tape.gradient(y, x).numpy()
    kept = ~_dropped(y)
    expected = np.where(kept[:, None, None, None], np.float32(1 / 0.75), 0).astype("float32")
    npt.assert_allclose(grad, np.broadcast_to(expected, grad.shape), rtol=1e-6)


def test_equals_keras_applications_stochastic_depth_on_the_same_draws(monkeypatch, rng):
    """keras.applications' StochasticDepth keeps an example when floor(1 - rate + u) = 1: the
    same examples as `u >= rate`, and scales it the same."""
    rate, n = 0.3, 200
    x = rng.standard_normal((n, 4, 4, 3)).astype("float32")
    draws = rng.uniform(0, 1, (n, 1, 1, 1)).astype("float32")
    draws[np.abs(draws - rate) < 1e-3] = 0.9  # away from the rounding boundary
    fake = lambda shape, *args, **kwargs: tf.constant(draws)  # noqa: E731
    monkeypatch.setattr(keras.random, "uniform", fake)
    monkeypatch.setattr(keras_convnext.random, "uniform", fake)
    want = keras_convnext.StochasticDepth(rate)(x, training=True)
    got = DropPath(rate)(x, training=True)
    npt.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert np.array_equal(_dropped(got), draws.ravel() < rate)


def test_config_round_trip():
    layer = DropPath(0.2, seed=5, name="drop")
    config = layer.get_config()
    assert (config["rate"], config["seed"], config["name"]) == (0.2, 5, "drop")
    assert DropPath.from_config(config).get_config() == config


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_run_layer_test(rate):
    run_layer_test(
        DropPath,
        {"rate": rate, "seed": 1},
        (2, 3, 3, 2),
        expected_output_shape=(2, 3, 3, 2),
        supports_training_arg=True,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        # Random draws in training: finite differences need a fixed mask (rate 0).
        check_gradients=rate == 0,
        check_distribution=rate > 0,
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.1", None, True])
def test_rate_must_be_in_zero_one(rate):
    with pytest.raises(ValueError, match=r"`rate`.*\[0, 1\).*Received: rate="):
        DropPath(rate)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_seed_must_be_an_int(seed):
    with pytest.raises(ValueError, match=r"`seed`.*Received: seed="):
        DropPath(0.1, seed=seed)
