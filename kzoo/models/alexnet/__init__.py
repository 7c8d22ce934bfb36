"""AlexNet (single tower)."""

from kzoo.models.alexnet.alexnet import alexnet

__all__ = ["alexnet"]
