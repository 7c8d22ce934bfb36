"""Fixtures of the application tests: a fresh Keras session per module."""

import keras
import pytest


@pytest.fixture(autouse=True, scope="module")
def _fresh_session():
    yield
    keras.backend.clear_session()
