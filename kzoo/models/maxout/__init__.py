"""The convolutional maxout network."""

from kzoo.models.maxout.maxout_net import maxout_net

__all__ = ["maxout_net"]
