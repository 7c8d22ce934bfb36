"""ResNet v1: ImageNet ResNet-18/34/50/101/152, CIFAR ResNet-20/32/44/56/110, and ResNet-9."""

from kzoo.models.resnet.cifar_resnet import resnet20, resnet32, resnet44, resnet56, resnet110
from kzoo.models.resnet.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from kzoo.models.resnet.resnet9 import resnet9

__all__ = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet9",
]
