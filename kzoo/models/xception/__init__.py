"""Xception, as keras.applications builds it, from kzoo layers."""

from kzoo.models.xception.xception import xception

__all__ = ["xception"]
