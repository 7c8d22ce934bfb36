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


@pytest.mark.parametrize("kwargs", [{"synchronized": False}, {"synchronized": True},
                                    {"fused": False}])
def test_run_layer_test(kwargs):
    run_layer_test(BatchNorm, kwargs, (4, 3, 3, 2),
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


def _step(layer, x):
    """Outputs and the gradients of a weighted sum of them (x, gamma, beta), traced."""
    weights = tf.constant(np.linspace(-1, 1, x.size).reshape(x.shape).astype("float32"))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        return y, tape.gradient(loss, [x, layer.gamma, layer.beta])

    return step, step.get_concrete_function(tf.TensorSpec(x.shape, tf.float32))


@pytest.mark.parametrize("shape", [(8, 4, 5, 3), (2, 1, 1, 6)])
def test_fused_kernel_gives_the_formulas_results(shape, rng):
    """TensorFlow's fused kernel (the default on 4-D channels-last inputs) against the
    formula written out (`fused=False`): outputs, gradients and moving statistics agree to
    float32 round-off, including its unbiased variance turned back into the biased one
    (2 values per channel: a factor of 2 if it were not)."""
    layers = {fused: BatchNorm(momentum=0.5, fused=fused) for fused in (None, False)}
    weights = [rng.uniform(0.5, 1.5, shape[-1]).astype("float32"),
               rng.normal(size=shape[-1]).astype("float32"),
               np.zeros(shape[-1], "float32"), np.ones(shape[-1], "float32")]
    for layer in layers.values():
        layer.build(shape)
        layer.set_weights(weights)
    results = {}
    for fused, layer in layers.items():
        step, concrete = _step(layer, np.zeros(shape, "float32"))
        ops_run = {op.type for op in concrete.graph.get_operations()}
        assert ("FusedBatchNormV3" in ops_run) == (fused is None), ops_run
        results[fused] = [step(tf.constant(rng_x)) for rng_x in
                          np.random.default_rng(3).normal(2.0, 3.0, (3, *shape)).astype("float32")]
    for (y1, grads1), (y2, grads2) in zip(results[None], results[False]):
        npt.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
        for g1, g2 in zip(grads1, grads2):
            npt.assert_allclose(g1, g2, rtol=1e-4, atol=1e-4)
    for got, want in zip(layers[None].get_weights(), layers[False].get_weights()):
        npt.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fused_kernel_under_mixed_precision(rng):
    layer = BatchNorm(dtype="mixed_float16")
    x = rng.normal(100.0, 50.0, size=(16, 3, 3, 4)).astype("float32")
    y = layer(x, training=True)
    assert y.dtype == "float16"
    npt.assert_allclose(layer.moving_mean.numpy(), 0.01 * x.mean((0, 1, 2)), rtol=1e-3)
    npt.assert_allclose(layer.moving_variance.numpy(), 0.99 + 0.01 * x.var((0, 1, 2)),
                        rtol=1e-3)


@pytest.mark.parametrize("kwargs,shape,reason", [
    ({}, (4, 3), "4-D channels-last"), ({"axis": 1}, (4, 3, 5, 5), "4-D channels-last"),
    ({"epsilon": 1e-6}, (4, 3, 5, 5), "epsilon"),
    ({"synchronized": True}, (4, 3, 5, 5), "synchronized"),
    ({"dtype": "float64"}, (4, 3, 5, 5), "float32")])
def test_fused_true_refuses_where_the_kernel_does_not_apply(kwargs, shape, reason):
    with pytest.raises(ValueError, match=reason):
        BatchNorm(fused=True, **kwargs).build(shape)
    BatchNorm(**kwargs).build(shape)  # the default falls back to the formula there


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"momentum": -0.1}, {"epsilon": 0},
                                    {"axis": "channels"}, {"fused": "yes"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        BatchNorm(**kwargs)
