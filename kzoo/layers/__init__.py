"""kzoo layers: Im2Col, Conv2D, pooling, Affine, BatchNorm, Maxout and blocks."""

from kzoo.layers.conv2d import Conv2D
from kzoo.layers.im2col import Im2Col, im2col
from kzoo.layers.pooling import AvgPool2D, MaxPool2D

__all__ = ["AvgPool2D", "Conv2D", "Im2Col", "MaxPool2D", "im2col"]
