"""Helpers for the model tests: cheap input shapes, weight randomization, legacy files.

Imported by the test modules (`from model_helpers import ...`); the fixtures
live in this folder's `conftest.py`.
"""

import h5py
import numpy as np
from keras.src.legacy.saving import legacy_h5_format

from kzoo.models.registry import get_entry


def min_input_shape(name, channels=None):
    """The registry's default input shape with height and width at the minimum."""
    entry = get_entry(name)
    shape = entry.default_input_shape
    if len(shape) == 1:
        return shape
    size = entry.min_input_size
    return (size, size, channels or shape[-1])


def randomize_statistics(model, seed=0):
    """Non-trivial biases, BatchNorm scales and moving statistics (fresh ones are 0/1)."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if "moving_variance" in v.path or "gamma" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif "moving_mean" in v.path or "beta" in v.path or "bias" in v.path:
            v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
    return model


def write_legacy_h5(model, path):
    """The keras.applications weight-file layout (groups by layer name)."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return str(path)


__all__ = ["min_input_shape", "randomize_statistics", "write_legacy_h5"]


def layer_table(model):
    """`[(layer name, [(weight name, shape), ...]), ...]`: what a weight file's names and shapes
    must match, layer by layer."""
    return [(layer.name, [(w.name, tuple(w.shape)) for w in layer.weights])
            for layer in model.layers]


def assert_imagenet_refused(monkeypatch, name, kwargs, argument):
    """`create_model(name, weights="imagenet", **kwargs)` is a ValueError naming `argument`,
    raised before anything is downloaded."""
    import keras
    import pytest

    import kzoo

    def no_download(*args, **kw):
        raise AssertionError("nothing is fetched for arguments that have no file")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    with pytest.raises(ValueError, match=rf"`?{argument}`?.*Received: {argument}="):
        kzoo.create_model(name, weights="imagenet", **kwargs)
