"""DenseNet-121, 169 and 201, as keras.applications builds them, from kzoo layers."""

from kzoo.models.densenet.densenet import densenet121, densenet169, densenet201

__all__ = ["densenet121", "densenet169", "densenet201"]
