"""LayerwiseOptimizer: a variable with multiplier m moves as the plain optimizer at lr × m."""

import os

import keras
import numpy as np
import pytest

import kzoo
from kzoo.transfer import LayerwiseOptimizer, ScaledSchedule

OPTIMIZERS = {
    "adam": lambda lr: keras.optimizers.Adam(lr),
    "sgd_momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
    "adamw": lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.01),
}


def _variable(value, layer):
    with keras.name_scope(layer):
        return keras.Variable(value, name="kernel")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_group_moves_as_the_plain_optimizer_at_the_scaled_rate(name, rng):
    make = OPTIMIZERS[name]
    initial = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(5,)).astype("float32"),
               rng.normal(size=(2,)).astype("float32")]
    grads = [[rng.normal(size=v.shape).astype("float32") for v in initial] for _ in range(5)]
    variables = [_variable(v, layer) for v, layer in zip(initial, ("conv", "bn", "head"))]
    optimizer = LayerwiseOptimizer(make(0.01), {"conv": 0.1, "bn/kernel": 0.25})
    references = [keras.Variable(v) for v in initial]
    plain = [make(0.01 * 0.1), make(0.01 * 0.25), make(0.01)]
    for step in grads:
        optimizer.apply(step, variables)
        for reference, inner, g in zip(references, plain, step):
            inner.apply([g], [reference])
    for variable, reference, start in zip(variables, references, initial):
        assert not np.allclose(variable.numpy(), start)
        np.testing.assert_allclose(variable.numpy(), reference.numpy(), rtol=1e-6, atol=1e-9)
    assert int(optimizer.iterations) == 5


def test_plain_sgd_matches_the_numpy_update(rng):
    w0 = rng.normal(size=(4,)).astype("float64")
    v0 = rng.normal(size=(4,)).astype("float64")
    w = _variable(w0.astype("float32"), "base_layer")
    v = _variable(v0.astype("float32"), "head_layer")
    optimizer = LayerwiseOptimizer(keras.optimizers.SGD(0.1), {"base_layer": 0.01})
    expected_w, expected_v = w0.copy(), v0.copy()
    for _ in range(5):
        g_w, g_v = rng.normal(size=4), rng.normal(size=4)
        optimizer.apply([g_w.astype("float32"), g_v.astype("float32")], [w, v])
        expected_w -= 0.1 * 0.01 * g_w
        expected_v -= 0.1 * g_v
    np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), expected_v, rtol=1e-6)


def test_multiplier_routing():
    optimizer = LayerwiseOptimizer(keras.optimizers.Adam(1e-3),
                                   {"block1_conv": 0.1, "block2_conv/bias": 0.5},
                                   default_multiplier=2.0)
    assert optimizer.multiplier(_variable(np.zeros(2), "block1_conv")) == 0.1
    with keras.name_scope("block2_conv"):
        bias = keras.Variable(np.zeros(2), name="bias")
        kernel = keras.Variable(np.zeros(2), name="kernel")
    assert optimizer.multiplier(bias) == 0.5
    assert optimizer.multiplier(kernel) == 2.0
    assert optimizer.factors == [0.1, 0.5, 2.0]


def test_learning_rate_setter_scales_every_group():
    optimizer = LayerwiseOptimizer(keras.optimizers.SGD(0.1), {"base": 0.1})
    optimizer.learning_rate = 0.5
    assert float(optimizer.learning_rate) == pytest.approx(0.5)
    assert [float(inner.learning_rate) for inner in optimizer.inner_optimizers] == [
        pytest.approx(0.05), pytest.approx(0.5)]


def test_schedule_is_scaled_per_group():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    optimizer = LayerwiseOptimizer(keras.optimizers.SGD(cosine), {"base": 0.1})
    low, high = optimizer.inner_optimizers
    assert isinstance(low.learning_rate, type(high.learning_rate))
    scaled = ScaledSchedule(cosine, 0.1)
    assert float(scaled(3)) == pytest.approx(0.1 * float(cosine(3)))
    restored = ScaledSchedule.from_config(scaled.get_config())
    assert float(restored(3)) == pytest.approx(float(scaled(3)))


def test_saved_with_a_model_and_its_state_restored(lenet_features, rng, tmp_path):
    model = kzoo.transfer.classifier(lenet_features, 3)
    optimizer = LayerwiseOptimizer(keras.optimizers.Adam(1e-3),
                                   {"block1_conv": 0.1, "block2_conv": 0.1})
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(rng.uniform(0, 255, (16, 28, 28, 1)), rng.integers(0, 3, 16), epochs=1, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, LayerwiseOptimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert len(loaded.optimizer.variables) == len(optimizer.variables)
    for restored, original in zip(loaded.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())


@pytest.mark.parametrize("inner, multipliers, match", [
    (keras.optimizers.SGD(0.1, global_clipnorm=1.0), {}, "does not support `global_clipnorm`"),
    (keras.optimizers.SGD(0.1), {"conv": 0.0}, "`multipliers` must hold positive numbers"),
    (keras.optimizers.SGD(0.1), ["conv"], "`multipliers` must be a dict"),
    ("sgd", {}, "`inner_optimizer` must be a keras.optimizers.Optimizer"),
])
def test_bad_arguments(inner, multipliers, match):
    with pytest.raises(ValueError, match=match):
        LayerwiseOptimizer(inner, multipliers)
