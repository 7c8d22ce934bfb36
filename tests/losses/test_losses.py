"""kzoo.losses.SparseCategoricalCrossentropy against the NumPy formula and Keras."""

import keras
import numpy as np
import pytest

from kzoo import losses


def _probabilities(rng, n, k):
    logits = rng.normal(size=(n, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return (p / p.sum(1, keepdims=True)).astype("float32"), logits.astype("float32")


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_equals_the_smoothed_target_formula(rng, eps):
    p, logits = _probabilities(rng, 16, 5)
    y = rng.integers(0, 5, size=16)
    target = (1 - eps) * np.eye(5)[y] + eps / 5
    expected = np.mean(-(target * np.log(p)).sum(1))
    loss = losses.SparseCategoricalCrossentropy(label_smoothing=eps)
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-5)
    from_logits = losses.SparseCategoricalCrossentropy(label_smoothing=eps, from_logits=True)
    assert float(from_logits(y[:, None], logits)) == pytest.approx(expected, rel=1e-5)
    if eps == 0.0:
        keras_loss = keras.losses.SparseCategoricalCrossentropy()
        assert float(loss(y, p)) == pytest.approx(float(keras_loss(y, p)), rel=1e-6)


def test_trains_and_saves_without_custom_objects(tmp_path, rng):
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile("adam", losses.SparseCategoricalCrossentropy(0.2), metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.label_smoothing == 0.2
    config = losses.SparseCategoricalCrossentropy(0.2).get_config()
    assert losses.SparseCategoricalCrossentropy.from_config(config).get_config() == config


@pytest.mark.parametrize("bad", [-0.1, 1.0, True, "0.1"])
def test_bad_label_smoothing(bad):
    with pytest.raises(ValueError, match="`label_smoothing` must be a number in \\[0, 1\\)"):
        losses.SparseCategoricalCrossentropy(label_smoothing=bad)
