"""MobileNet V1 and V2, as keras.applications builds them, from kzoo layers."""

from kzoo.models.mobilenet.mobilenet_v1 import mobilenet
from kzoo.models.mobilenet.mobilenet_v2 import mobilenet_v2

__all__ = ["mobilenet", "mobilenet_v2"]
