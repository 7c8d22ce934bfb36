"""kzoo BatchNorm against keras.layers.BatchNormalization and the paper's formula."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import BatchNorm
from kzoo.testing import run_layer_test


def twins(x_shape, axis, rng, **kwargs):
    reference = keras.layers.BatchNormalization(axis=axis, **kwargs)
    reference.build(x_shape)
    ours = BatchNorm(axis=axis, **kwargs)
    ours.build(x_shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in reference.weights]
    weights[3] = np.abs(weights[3]) + 0.1  # a variance
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


@pytest.mark.parametrize("axis", [-1, 1])
def test_same_outputs_and_moving_statistics_as_keras_over_steps(axis, rng):
    shape = (8, 4, 5, 3)
    reference, ours = twins(shape, axis, rng, momentum=0.9)
    assert [w.name for w in ours.weights] == [w.name for w in reference.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    for _ in range(5):
        x = rng.normal(2.0, 3.0, size=shape).astype("float32")
        npt.assert_allclose(ours(x, training=True), reference(x, training=True),
                            rtol=1e-5, atol=1e-5)
    for got, want in zip(ours.get_weights(), reference.get_weights()):
        npt.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    x = rng.normal(size=shape).astype("float32")
    npt.assert_allclose(ours(x, training=False), reference(x, training=False),
                        rtol=1e-5, atol=1e-5)


def test_training_formula_biased_variance_and_moving_update(rng):
    x = rng.normal(1.0, 2.0, size=(16, 3)).astype("float32")
    layer = BatchNorm(momentum=0.8, epsilon=1e-3, gamma_initializer="ones")
    y = layer(x, training=True).numpy()
    mean, var = x.mean(0), x.var(0)  # biased variance (ddof=0)
    npt.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    npt.assert_allclose(layer.moving_mean.numpy(), 0.8 * 0 + 0.2 * mean, rtol=1e-5)
    npt.assert_allclose(layer.moving_variance.numpy(), 0.8 * 1 + 0.2 * var, rtol=1e-5)


def test_frozen_layer_runs_in_inference_mode(rng):
    x = rng.normal(3.0, 1.0, size=(8, 2)).astype("float32")
    layer = BatchNorm()
    layer.build(x.shape)
    layer.trainable = False
    before = [w.copy() for w in layer.get_weights()]
    y = layer(x, training=True).numpy()
    npt.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-5)  # moving stats 0 / 1
    for got, want in zip(layer.get_weights(), before):
        npt.assert_array_equal(got, want)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_statistics_stay_float32_under_mixed_precision(policy, rng):
    layer = BatchNorm(dtype=policy)
    x = rng.normal(100.0, 50.0, size=(32, 4)).astype("float32")
    y = layer(x, training=True)
    assert y.dtype == keras.mixed_precision.Policy(policy).compute_dtype
    assert all(w.dtype == "float32" for w in layer.weights)
    npt.assert_allclose(layer.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-2)


@pytest.mark.parametrize("synchronized", [False, True])
def test_run_layer_test(synchronized):
    run_layer_test(BatchNorm, {"synchronized": synchronized}, (4, 3, 3, 2),
                   supports_training_arg=True, expected_num_trainable_weights=2,
                   expected_num_non_trainable_weights=2, check_distribution=True)


def test_synchronized_statistics_span_both_replicas(rng):
    devices = tf.config.list_logical_devices("CPU")[:2]
    if len(devices) < 2:
        pytest.skip("needs two logical CPU devices (tests/conftest.py)")
    from kzoo.testing import two_replica_strategy

    strategy = two_replica_strategy()
    # Replica 0 sees zeros, replica 1 sees fours: only a cross-replica mean is 2.
    x = np.concatenate([np.zeros((4, 1)), np.full((4, 1), 4.0)]).astype("float32")
    results = {}
    for synchronized in (False, True):
        with strategy.scope():
            layer = BatchNorm(synchronized=synchronized, momentum=0.0, center=False,
                              scale=False)
            layer.build((None, 1))
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(x).batch(8))
        batch = next(iter(dataset))
        outputs = strategy.run(lambda b: layer(b, training=True), args=(batch,))
        first_replica = strategy.experimental_local_results(outputs)[0].numpy()
        results[synchronized] = (float(layer.moving_mean.numpy()[0]),
                                 float(layer.moving_variance.numpy()[0]), first_replica)
    # Synchronized: one global batch, mean 2 and variance 4; zeros map to -2/sqrt(4 + eps).
    mean, variance, zeros_out = results[True]
    assert (mean, variance) == (pytest.approx(2.0), pytest.approx(4.0))
    npt.assert_allclose(zeros_out, -2.0 / np.sqrt(4.0 + 1e-3), rtol=1e-5)
    # Unsynchronized: each replica normalizes alone (variance 0, outputs 0); the moving
    # statistics average the replicas' updates.
    mean, variance, zeros_out = results[False]
    assert (mean, variance) == (pytest.approx(2.0), pytest.approx(0.0))
    npt.assert_allclose(zeros_out, 0.0, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"momentum": -0.1}, {"epsilon": 0},
                                    {"axis": "channels"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        BatchNorm(**kwargs)
