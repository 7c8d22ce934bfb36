"""BatchNorm under 2 replicas trains as 1 replica does at the same global batch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.distribute import get_strategy

STEPS, BATCH = 20, 32


def _network(synchronized=None):
    pixels = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(pixels)
    x = kzoo.layers.BatchNorm(momentum=0.9, synchronized=synchronized)(x)  # (B, 6, 6, 4)
    x = keras.layers.Flatten()(keras.layers.ReLU()(x))
    x = kzoo.layers.BatchNorm(momentum=0.9, synchronized=synchronized)(x)  # (B, 144)
    return keras.Model(pixels, keras.layers.Dense(10, activation="softmax")(x))


def _train(strategy, initial, x, y, synchronized=None):
    with strategy.scope():
        model = _network(synchronized)
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
    # Fixed data in a fixed order: both runs see the same global batches.
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == STEPS
    return model.get_weights()  # kernels, gamma, beta and the moving statistics


def test_two_replicas_equal_one_replica_at_the_same_global_batch(digits):
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs the two logical CPU devices of tests/conftest.py")
    x, y = digits[0][:STEPS * BATCH], digits[1][:STEPS * BATCH]
    initial = _network().get_weights()
    one = _train(tf.distribute.get_strategy(), initial, x, y)
    mirrored = get_strategy("mirrored", cpu_replicas=2)
    two = _train(mirrored, initial, x, y)
    differences = [float(np.max(np.abs(a - b))) for a, b in zip(one, two)]
    assert max(differences) <= 1e-5, differences
    # The moving statistics did move, and each replica normalizing its own half
    # (synchronized=False) is another model: the test can tell.
    assert not np.allclose(one[1 + 2], initial[1 + 2])  # first moving_mean
    apart = _train(mirrored, initial, x, y, synchronized=False)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(one, apart)) > 1e-3


def test_synchronized_is_automatic_by_default_and_round_trips():
    layer = kzoo.layers.BatchNorm()
    assert layer.get_config()["synchronized"] is None
    for value in (None, True, False):
        config = kzoo.layers.BatchNorm(synchronized=value).get_config()
        assert kzoo.layers.BatchNorm.from_config(config).synchronized is value
    with pytest.raises(ValueError, match="Received: synchronized='yes'"):
        kzoo.layers.BatchNorm(synchronized="yes")
