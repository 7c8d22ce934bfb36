"""MobileNet V1, V2 and V3, as keras.applications builds them, from kzoo layers."""

from kzoo.models.mobilenet.mobilenet_v1 import mobilenet
from kzoo.models.mobilenet.mobilenet_v2 import mobilenet_v2
from kzoo.models.mobilenet.mobilenet_v3 import mobilenet_v3_large, mobilenet_v3_small

__all__ = ["mobilenet", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
