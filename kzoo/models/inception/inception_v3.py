"""Inception v3, as keras.applications builds it, from kzoo layers.

keras.applications leaves most InceptionV3 layers unnamed, so their names
depend on the session; here they get the deterministic names of the Keras 2
build that produced the ImageNet file (`conv2d_1`, `batch_normalization_1`,
`activation_1`, ...) and the named concatenations `mixed0` … `mixed10`. The
file's layers are matched by name when they agree and by order otherwise,
which is how `keras.Model.load_weights` reads these files.
"""

import collections

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.inception.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016"

#: The blocks after the stem: (block kind, argument). "a": 35×35 module with
#: that many pool-branch filters; "c": 17×17 module with that many 7×7-branch
#: filters; "reduce_*": grid reductions; "e": 8×8 module.
BLOCKS = (
    ("a", 32), ("a", 64), ("a", 64),
    ("reduce_a", None),
    ("c", 128), ("c", 160), ("c", 160), ("c", 192),
    ("reduce_b", None),
    ("e", None), ("e", None),
)


class _Names:
    """Keras 2 style automatic names: `conv2d_1`, `conv2d_2`, ... per prefix."""

    def __init__(self):
        self.counts = collections.Counter()

    def __call__(self, prefix):
        self.counts[prefix] += 1
        return f"{prefix}_{self.counts[prefix]}"


def conv2d_bn(x, filters, kernel_size, *, strides=1, padding="same", names, conv_impl):
    """Conv2D without bias → BatchNorm without scale → ReLU (keras.applications' conv2d_bn)."""
    x = kl.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                  implementation=conv_impl, name=names("conv2d"))(x)
    x = kl.BatchNorm(scale=False, name=names("batch_normalization"))(x)
    return keras.layers.Activation("relu", name=names("activation"))(x)


def _avg_pool_branch(x, filters, *, names, conv_impl):
    x = kl.AvgPool2D(3, strides=1, padding="same", implementation=conv_impl,
                     name=names("average_pooling2d"))(x)
    return conv2d_bn(x, filters, 1, names=names, conv_impl=conv_impl)


def inception_a(x, pool_filters, *, name, names, conv_impl):
    """35×35 module: 1×1, 5×5, double 3×3 and pooled branches."""
    kw = dict(names=names, conv_impl=conv_impl)
    branch1x1 = conv2d_bn(x, 64, 1, **kw)
    branch5x5 = conv2d_bn(x, 48, 1, **kw)
    branch5x5 = conv2d_bn(branch5x5, 64, 5, **kw)
    branch3x3dbl = conv2d_bn(x, 64, 1, **kw)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, **kw)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, **kw)
    branch_pool = _avg_pool_branch(x, pool_filters, **kw)
    return keras.layers.Concatenate(name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def reduction_a(x, _, *, name, names, conv_impl):
    """35 → 17 grid reduction: strided 3×3, strided double 3×3, max pool."""
    kw = dict(names=names, conv_impl=conv_impl)
    branch3x3 = conv2d_bn(x, 384, 3, strides=2, padding="valid", **kw)
    branch3x3dbl = conv2d_bn(x, 64, 1, **kw)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, **kw)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, strides=2, padding="valid", **kw)
    branch_pool = kl.MaxPool2D(3, strides=2, implementation=conv_impl,
                               name=names("max_pooling2d"))(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch3x3dbl, branch_pool])


def inception_c(x, c7, *, name, names, conv_impl):
    """17×17 module with 7×7 convolutions factorized into 1×7 and 7×1."""
    kw = dict(names=names, conv_impl=conv_impl)
    branch1x1 = conv2d_bn(x, 192, 1, **kw)
    branch7x7 = conv2d_bn(x, c7, 1, **kw)
    branch7x7 = conv2d_bn(branch7x7, c7, (1, 7), **kw)
    branch7x7 = conv2d_bn(branch7x7, 192, (7, 1), **kw)
    branch7x7dbl = conv2d_bn(x, c7, 1, **kw)
    branch7x7dbl = conv2d_bn(branch7x7dbl, c7, (7, 1), **kw)
    branch7x7dbl = conv2d_bn(branch7x7dbl, c7, (1, 7), **kw)
    branch7x7dbl = conv2d_bn(branch7x7dbl, c7, (7, 1), **kw)
    branch7x7dbl = conv2d_bn(branch7x7dbl, 192, (1, 7), **kw)
    branch_pool = _avg_pool_branch(x, 192, **kw)
    return keras.layers.Concatenate(name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def reduction_b(x, _, *, name, names, conv_impl):
    """17 → 8 grid reduction."""
    kw = dict(names=names, conv_impl=conv_impl)
    branch3x3 = conv2d_bn(x, 192, 1, **kw)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, strides=2, padding="valid", **kw)
    branch7x7x3 = conv2d_bn(x, 192, 1, **kw)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, (1, 7), **kw)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, (7, 1), **kw)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, strides=2, padding="valid", **kw)
    branch_pool = kl.MaxPool2D(3, strides=2, implementation=conv_impl,
                               name=names("max_pooling2d"))(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch7x7x3, branch_pool])


def inception_e(x, _, *, name, names, conv_impl):
    """8×8 module with expanded 1×3 / 3×1 branches; inner concat `{name}`-indexed `mixed9_i`."""
    kw = dict(names=names, conv_impl=conv_impl)
    index = int(name[5:]) - 9  # mixed9 -> 0, mixed10 -> 1
    branch1x1 = conv2d_bn(x, 320, 1, **kw)
    branch3x3 = conv2d_bn(x, 384, 1, **kw)
    branch3x3_1 = conv2d_bn(branch3x3, 384, (1, 3), **kw)
    branch3x3_2 = conv2d_bn(branch3x3, 384, (3, 1), **kw)
    branch3x3 = keras.layers.Concatenate(name=f"mixed9_{index}")([branch3x3_1, branch3x3_2])
    branch3x3dbl = conv2d_bn(x, 448, 1, **kw)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 384, 3, **kw)
    branch3x3dbl_1 = conv2d_bn(branch3x3dbl, 384, (1, 3), **kw)
    branch3x3dbl_2 = conv2d_bn(branch3x3dbl, 384, (3, 1), **kw)
    branch3x3dbl = keras.layers.Concatenate(name=names("concatenate"))(
        [branch3x3dbl_1, branch3x3dbl_2]
    )
    branch_pool = _avg_pool_branch(x, 192, **kw)
    return keras.layers.Concatenate(name=name)([branch1x1, branch3x3, branch3x3dbl, branch_pool])


BLOCK_FUNCTIONS = {
    "a": inception_a,
    "reduce_a": reduction_a,
    "c": inception_c,
    "reduce_b": reduction_b,
    "e": inception_e,
}


@register_model(family="inception", default_input_shape=(299, 299, 3), min_input_size=75,
                reference=REFERENCE, weights=tuple(PRESETS["inception_v3"]), top1=77.9)
def inception_v3(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="inception_v3", conv_impl="native"):
    """Instantiates Inception v3.

    The architecture of `keras.applications.InceptionV3` (23,851,784
    parameters at 299×299×3 with 1000 classes), built from kzoo layers: a
    stem of conv-BN-ReLU layers and max pooling, then the modules listed in
    `BLOCKS`, global average pooling and `predictions`.

    Args:
        include_top: whether to include the pooling + `predictions`
            classifier. Defaults to `True`.
        weights: `None`, `"imagenet"` (keras.applications' file, hash-checked),
            or the path to a weights file (legacy HDF5 layout or Keras
            `.weights.h5`). A first convolution trained on RGB is adapted to
            another channel count.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 75×75.
            Defaults to `(299, 299, 3)`.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`.
        name: model name. Defaults to `"inception_v3"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.

    Returns:
        A `keras.Model`.

    Reference:
        - [Szegedy et al., Rethinking the Inception Architecture for Computer
          Vision, CVPR 2016](https://arxiv.org/abs/1512.00567)

    Examples:
        >>> model = kzoo.create_model("inception_v3", weights=None)
        >>> model.count_params()
        23851784
    """
    presets = PRESETS["inception_v3"]
    weights, input_shape, image, inputs = common.builder_inputs(
        "inception_v3", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(299, 299, 3), min_size=75,
        require_flatten=False,
    )
    names = _Names()
    kw = dict(names=names, conv_impl=conv_impl)

    x = conv2d_bn(image, 32, 3, strides=2, padding="valid", **kw)
    x = conv2d_bn(x, 32, 3, padding="valid", **kw)
    x = conv2d_bn(x, 64, 3, **kw)
    x = kl.MaxPool2D(3, strides=2, implementation=conv_impl, name=names("max_pooling2d"))(x)
    x = conv2d_bn(x, 80, 1, padding="valid", **kw)
    x = conv2d_bn(x, 192, 3, padding="valid", **kw)
    x = kl.MaxPool2D(3, strides=2, implementation=conv_impl, name=names("max_pooling2d"))(x)
    for i, (kind, arg) in enumerate(BLOCKS):
        x = BLOCK_FUNCTIONS[kind](x, arg, name=f"mixed{i}", **kw)
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling, classes=classes,
                                 classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)
