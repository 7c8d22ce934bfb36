"""The multi-layer perceptron."""

from kzoo.models.mlp.mlp import mlp

__all__ = ["mlp"]
