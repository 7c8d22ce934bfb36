"""Fixtures of the model tests."""

import gc

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fresh_session():
    # Fresh layer names for every test; the garbage collection that `clear_session`
    # runs by default (0.5-1 s with TensorFlow's heap, ~700 times here) once per module.
    yield
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _free_memory():
    yield
    gc.collect()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
