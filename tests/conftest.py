"""Shared test set-up: two logical CPU devices and fixed seeds.

The logical devices must exist before TensorFlow initializes, so they are
configured here, at import, before any test module imports kzoo or Keras.
They give `MirroredStrategy` two real replicas on one CPU
(`run_layer_test(..., check_distribution=True)`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

try:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
except RuntimeError:
    # TensorFlow was already initialized (e.g. by a plugin); distribution
    # checks then say that two logical devices are missing.
    pass


@pytest.fixture(autouse=True)
def fixed_seeds():
    """Python, NumPy, TensorFlow and Keras seeds (weight initializers), per test."""
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, for test data."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's real 8×8 digits through kzoo.data: the training split, scaled to [0, 1].

    `(x (1438, 8, 8, 1) float32, y (1438,) int64)`; tests/data checks kzoo.data against
    scikit-learn itself.
    """
    from kzoo.data import load_arrays

    images, labels, _ = load_arrays("digits", "train")
    return images.astype("float32") / 255.0, labels
