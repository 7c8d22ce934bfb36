"""Fixtures of the transfer tests: a fresh Keras session per module, the shipped LeNet."""

import keras
import pytest

import kzoo


@pytest.fixture(autouse=True, scope="module")
def _fresh_session():
    # Per module, not per test: clear_session costs ~0.25 s, a third of this suite's time.
    yield
    keras.backend.clear_session()


@pytest.fixture
def lenet_features():
    """The shipped Fashion-MNIST LeNet without its top (raw pixels 0-255 in, (4, 4, 50) out)."""
    return kzoo.create_model("lenet", weights="fashion_mnist", include_top=False)


@pytest.fixture
def pixels(rng):
    """Four raw 28×28 grey images, 0-255."""
    return rng.uniform(0, 255, (4, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="session")
def digits_pixels():
    """scikit-learn's 8×8 digits through kzoo.data, raw pixels 0-255: (train, test) pairs."""
    train = kzoo.data.load_arrays("digits", "train")[:2]
    test = kzoo.data.load_arrays("digits", "test")[:2]
    return (train[0].astype("float32"), train[1]), (test[0].astype("float32"), test[1])

