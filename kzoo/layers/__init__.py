"""kzoo layers: Im2Col, Conv2D, depthwise and separable convolution, squeeze-and-excitation,
pooling, Affine, BatchNorm, Maxout, LocalResponseNorm, DropPath (stochastic depth), LayerScale.

Every layer is registered for Keras serialization under the `kzoo` package.
"""

from kzoo.layers.affine import Affine
from kzoo.layers.batch_norm import BatchNorm
from kzoo.layers.conv2d import Conv2D
from kzoo.layers.depthwise_conv2d import DepthwiseConv2D
from kzoo.layers.drop_path import DropPath
from kzoo.layers.im2col import Im2Col, im2col
from kzoo.layers.layer_scale import LayerScale
from kzoo.layers.local_response_norm import LocalResponseNorm
from kzoo.layers.lowering import native_implementation
from kzoo.layers.maxout import Maxout
from kzoo.layers.pooling import AvgPool2D, MaxPool2D
from kzoo.layers.separable_conv2d import SeparableConv2D
from kzoo.layers.squeeze_excite import SqueezeExcite

__all__ = [
    "Affine",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "DepthwiseConv2D",
    "DropPath",
    "Im2Col",
    "LayerScale",
    "LocalResponseNorm",
    "MaxPool2D",
    "Maxout",
    "SeparableConv2D",
    "SqueezeExcite",
    "im2col",
    "native_implementation",
]
