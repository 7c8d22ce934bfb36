"""LeNet-5 and Caffe's LeNet."""

from kzoo.models.lenet.lenet import lenet, lenet5

__all__ = ["lenet", "lenet5"]
