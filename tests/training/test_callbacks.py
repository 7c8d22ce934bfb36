"""Callbacks: ExplosionGuard on a really diverging run, the plateau and early-stopping presets."""

import warnings

import keras
import numpy as np
import pytest

import kzoo


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1).astype("float32")[:, None]
    return x, y


def _linear_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros")(inputs))


def test_explosion_guard_stops_a_diverging_run():
    x, y = _regression()
    model = _linear_model()
    # For least squares, SGD diverges when lr > 2 / lambda_max(2 X^T X / n) (~0.5 here).
    model.compile(optimizer=kzoo.optimizers.get("sgd", learning_rate=3.0), loss="mse")
    guard = kzoo.callbacks.ExplosionGuard()
    with pytest.warns(RuntimeWarning, match=r"learning rate is the likely cause: it was 3\b"):
        history = model.fit(x, y, batch_size=8, epochs=20, verbose=0, callbacks=[guard])
    assert guard.stopped
    assert len(history.history["loss"]) < 20
    assert guard.stopped_epoch == 0
    assert guard.learning_rate == pytest.approx(3.0)
    assert "exceeds 3 x its first value" in guard.reason or "not finite" in guard.reason
    assert guard.first_value > 0


def test_explosion_guard_reports_non_finite_loss():
    x, y = _regression()
    model = _linear_model()
    model.compile(optimizer=kzoo.optimizers.get("sgd", learning_rate=1e4), loss="mse")
    guard = kzoo.callbacks.ExplosionGuard(factor=1e300)  # only the non-finite test can fire
    with pytest.warns(RuntimeWarning, match="not finite"):
        model.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[guard])
    assert guard.stopped and "not finite" in guard.reason


def test_explosion_guard_leaves_a_healthy_run_alone():
    x, y = _regression()
    model = _linear_model()
    model.compile(optimizer=kzoo.optimizers.get("sgd", learning_rate=0.05), loss="mse")
    guard = kzoo.callbacks.ExplosionGuard()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[guard])
    assert not guard.stopped and guard.reason is None
    assert len(history.history["loss"]) == 3


@pytest.mark.parametrize(
    "kwargs, argument",
    [(dict(factor=1.0), "factor"), (dict(factor="3"), "factor"), (dict(monitor=""), "monitor")],
)
def test_explosion_guard_errors(kwargs, argument):
    with pytest.raises(ValueError, match=rf"Received: {argument}="):
        kzoo.callbacks.ExplosionGuard(**kwargs)


def _compiled(lr=0.1):
    model = _linear_model()
    model.compile(optimizer=kzoo.optimizers.get("sgd", learning_rate=lr), loss="mse")
    return model


def test_halve_lr_on_plateau_halves_after_patience():
    callback = kzoo.callbacks.halve_lr_on_plateau(patience=2)
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau) and callback.factor == 0.5
    model = _compiled(lr=0.1)
    callback.set_model(model)
    callback.on_train_begin()
    lrs = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]):
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
        lrs.append(float(model.optimizer.learning_rate))
    # Best at epoch 1; no improvement for 2 epochs -> halve at epoch 3, again at 5.
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-6)


def test_halve_lr_on_plateau_rejects_another_factor():
    with pytest.raises(ValueError, match="Received: factor=0.1"):
        kzoo.callbacks.halve_lr_on_plateau(factor=0.1)
    with pytest.raises(ValueError, match="Received: patience=-1"):
        kzoo.callbacks.halve_lr_on_plateau(patience=-1)


def test_early_stopping_restores_best_weights():
    callback = kzoo.callbacks.early_stopping(patience=2)
    assert isinstance(callback, keras.callbacks.EarlyStopping) and callback.restore_best_weights
    model = _compiled()
    callback.set_model(model)
    callback.on_train_begin()
    kernel = model.layers[1].kernel
    for epoch, val_loss in enumerate([3.0, 1.0, 2.0, 2.5, 2.0]):
        kernel.assign(np.full((4, 1), float(epoch), "float32"))  # "training" changes weights
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
        if model.stop_training:
            break
    callback.on_train_end()
    assert model.stop_training and epoch == 3
    np.testing.assert_array_equal(kernel.numpy(), 1.0)  # the weights of epoch 1, the best


def test_epoch_step_decay_in_fit():
    x, y = _regression()
    model = _compiled(lr=0.08)
    decay = kzoo.callbacks.EpochStepDecay(factor=0.5, every=2)
    history = model.fit(x, y, batch_size=32, epochs=5, verbose=0, callbacks=[decay])
    np.testing.assert_allclose(
        history.history["learning_rate"], [0.08, 0.08, 0.04, 0.04, 0.02], rtol=1e-6
    )
    assert decay.learning_rate_at(10) == pytest.approx(0.08 * 0.5**5)
