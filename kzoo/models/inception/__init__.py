"""Inception networks: GoogLeNet (Inception v1) and Inception v3."""

from kzoo.models.inception.googlenet import googlenet
from kzoo.models.inception.inception_v3 import inception_v3

__all__ = ["googlenet", "inception_v3"]
