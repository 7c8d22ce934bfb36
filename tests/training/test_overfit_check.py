"""`overfit_check` on real data: scikit-learn's 8x8 digits (offline)."""

import keras
import numpy as np
import pytest

import kzoo


@pytest.fixture(scope="module")
def digits(digits):
    x, y = digits  # tests/conftest.py: kzoo.data's digits, scaled to [0, 1]
    return x.reshape(len(x), -1), y


def _regularized_mlp(logits=False):
    inputs = keras.Input((64,))
    h = keras.layers.Dense(
        32, activation="relu", kernel_regularizer=keras.regularizers.L2(0.1)
    )(inputs)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.GaussianNoise(1.0)(h)
    outputs = keras.layers.Dense(10, activation=None if logits else "softmax")(h)
    return keras.Model(inputs, outputs)


def test_a_working_model_overfits_20_examples(digits):
    x, y = digits
    model = _regularized_mlp()
    before = [w.copy() for w in model.get_weights()]
    result = kzoo.training.overfit_check(model, x, y, n=20, learning_rate=1e-2, epochs=100)
    assert result.reached_100
    assert 1 <= result.epochs_to_100 == result.epochs_run <= 100
    assert result.train_accuracy == 1.0 and result.final_accuracy == 1.0
    assert result.loss_ratio < 0.5 and result.losses[0] == result.first_loss
    assert "reached 100% training accuracy" in result.summary()
    # The model itself is untouched: same weights, still regularized.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.layers[2].rate == 0.5 and not model.compiled


def test_logits_and_one_hot_labels_are_detected(digits):
    x, y = digits
    result = kzoo.training.overfit_check(
        _regularized_mlp(logits=True), x, np.eye(10)[y], n=10, learning_rate=1e-2, epochs=100
    )
    assert result.reached_100 and result.n == 10


def test_a_frozen_learning_rate_cannot_overfit(digits):
    x, y = digits
    result = kzoo.training.overfit_check(
        _regularized_mlp(), x, y, n=20, optimizer="sgd", learning_rate=0.0, epochs=5
    )
    assert not result.reached_100 and result.epochs_to_100 is None
    assert result.epochs_run == 5
    assert result.loss_ratio == pytest.approx(1.0, abs=1e-6)
    assert "did NOT reach" in result.summary()


def test_without_regularization_turns_everything_off():
    model = _regularized_mlp()
    plain = kzoo.training.without_regularization(model)
    assert plain.layers[2].rate == 0.0 and plain.layers[3].stddev == 0.0
    assert plain.layers[1].kernel_regularizer is None
    assert all(v.regularizer is None for v in plain.weights)
    x = np.ones((4, 64), "float32")
    plain(x, training=True)
    assert plain.losses == []  # no L2 penalty left
    # Same function as the original in inference mode.
    np.testing.assert_allclose(plain(x), model(x), rtol=1e-6)
    # Training mode is now deterministic: no dropout, no noise.
    np.testing.assert_array_equal(plain(x, training=True), plain(x, training=False))


@pytest.mark.parametrize(
    "kwargs, argument",
    [(dict(n=0), "n"), (dict(n=10_000), "n"), (dict(epochs=0), "epochs")],
)
def test_errors(digits, kwargs, argument):
    x, y = digits
    with pytest.raises(ValueError, match=rf"Received: {argument}="):
        kzoo.training.overfit_check(_regularized_mlp(), x, y, **kwargs)


def test_mismatched_lengths(digits):
    x, y = digits
    with pytest.raises(ValueError, match="Received: len"):
        kzoo.training.overfit_check(_regularized_mlp(), x, y[:-1])
