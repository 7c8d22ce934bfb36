"""Fixtures of the model tests."""

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
