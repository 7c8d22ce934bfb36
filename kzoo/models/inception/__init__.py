"""Inception networks: GoogLeNet (Inception v1), Inception v3 and Inception-ResNet v2."""

from kzoo.models.inception.googlenet import googlenet
from kzoo.models.inception.inception_resnet_v2 import inception_resnet_v2
from kzoo.models.inception.inception_v3 import inception_v3
from kzoo.models.inception.scaled_residual import ScaledResidual

__all__ = ["googlenet", "inception_resnet_v2", "inception_v3", "ScaledResidual"]
