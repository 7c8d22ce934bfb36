"""ResNets: ImageNet v1 18-152 and v2 (pre-activation) 50-152, CIFAR 20-110, ResNet-9."""

from kzoo.models.resnet.cifar_resnet import resnet20, resnet32, resnet44, resnet56, resnet110
from kzoo.models.resnet.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from kzoo.models.resnet.resnet9 import resnet9
from kzoo.models.resnet.resnet_v2 import resnet50_v2, resnet101_v2, resnet152_v2

__all__ = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet9",
    "resnet50_v2", "resnet101_v2", "resnet152_v2",
]
