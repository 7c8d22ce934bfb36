"""Helpers of the transfer tests (`from transfer_helpers import ...`)."""

import numpy as np


def weight_bytes(layers):
    """`{variable path: bytes}` of every weight of `layers`."""
    return {w.path: np.asarray(w.numpy()).tobytes() for layer in layers for w in layer.weights}
