"""Xception: depthwise separable convolutions with residual connections throughout.

As keras.applications builds it: an entry flow (two 3×3 convolutions, then
three blocks of two separable convolutions and a strided max pooling, each
added to a strided 1×1 projection of its input), a middle flow of eight
residual blocks of three separable convolutions at 728 channels, an exit
flow (one more projected block, then separable convolutions to 1536 and 2048
channels) and the classifier. Layer names are keras.applications'
(`block1_conv1`, `block2_sepconv1`, `block2_sepconv1_bn`, ..., `predictions`),
so its weight files load by name; keras.applications leaves the four
projection shortcuts unnamed, kzoo names them `block{n}_residual_conv` and
`block{n}_residual_bn` and its files load by order there (as
`keras.Model.load_weights` loads them). The model takes inputs scaled to
[-1, 1] (keras.applications' `xception.preprocess_input`).
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model
from kzoo.models.xception.presets import PRESETS

REFERENCE = "Chollet, Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017"
PAPER_URL = "https://arxiv.org/abs/1610.02357"
PARAMS = 22_910_480
TOP1 = 79.0
#: The entry flow's projected blocks (block 2 to 4) and their channels.
ENTRY_FILTERS = (128, 256, 728)
MIDDLE_BLOCKS = 8


def sepconv_bn(x, filters, *, conv_impl, name, relu_before=True):
    """[ReLU] → 3×3 separable convolution (`{name}`) → BatchNorm (`{name}_bn`)."""
    if relu_before:
        x = keras.layers.Activation("relu", name=f"{name}_act")(x)
    x = kl.SeparableConv2D(filters, 3, padding="same", use_bias=False, implementation=conv_impl,
                           name=name)(x)
    return kl.BatchNorm(name=f"{name}_bn")(x)


def projected_block(x, filters, *, block, conv_impl, first_relu=True):
    """Two separable convolutions and a strided max pooling, plus a strided 1×1 projection."""
    residual = kl.Conv2D(filters[1], 1, strides=2, padding="same", use_bias=False,
                         implementation=conv_impl, name=f"block{block}_residual_conv")(x)
    residual = kl.BatchNorm(name=f"block{block}_residual_bn")(residual)
    x = sepconv_bn(x, filters[0], conv_impl=conv_impl, name=f"block{block}_sepconv1",
                   relu_before=first_relu)
    x = sepconv_bn(x, filters[1], conv_impl=conv_impl, name=f"block{block}_sepconv2")
    x = kl.MaxPool2D(3, strides=2, padding="same", implementation=conv_impl,
                     name=f"block{block}_pool")(x)
    return keras.layers.Add(name=f"block{block}_add")([x, residual])


def xception_features(image, *, conv_impl):
    """The entry, middle and exit flows: the 2048-channel feature map."""
    x = kl.Conv2D(32, 3, strides=2, use_bias=False, implementation=conv_impl,
                  name="block1_conv1")(image)
    x = kl.BatchNorm(name="block1_conv1_bn")(x)
    x = keras.layers.Activation("relu", name="block1_conv1_act")(x)
    x = kl.Conv2D(64, 3, use_bias=False, implementation=conv_impl, name="block1_conv2")(x)
    x = kl.BatchNorm(name="block1_conv2_bn")(x)
    x = keras.layers.Activation("relu", name="block1_conv2_act")(x)
    for block, filters in enumerate(ENTRY_FILTERS, start=2):
        # Block 2 starts from block 1's ReLU, and keras.applications names its second
        # ReLU `block2_sepconv2_act` (there is no `block2_sepconv1_act`).
        x = projected_block(x, (filters, filters), block=block, conv_impl=conv_impl,
                            first_relu=block != 2)
    for block in range(5, 5 + MIDDLE_BLOCKS):
        residual = x
        for i in (1, 2, 3):
            x = sepconv_bn(x, 728, conv_impl=conv_impl, name=f"block{block}_sepconv{i}")
        x = keras.layers.Add(name=f"block{block}_add")([x, residual])
    x = projected_block(x, (728, 1024), block=13, conv_impl=conv_impl)
    for i, filters in ((1, 1536), (2, 2048)):
        x = sepconv_bn(x, filters, conv_impl=conv_impl, name=f"block14_sepconv{i}",
                       relu_before=False)
        x = keras.layers.Activation("relu", name=f"block14_sepconv{i}_act")(x)
    return x


@register_model(family="xception", default_input_shape=(299, 299, 3), min_input_size=71,
                reference=REFERENCE, weights=tuple(PRESETS["xception"]), top1=TOP1)
def xception(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name=None,
             conv_impl="native"):
    presets = PRESETS["xception"]
    weights, input_shape, image, inputs = common.builder_inputs(
        "xception", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(299, 299, 3), min_size=71,
        require_flatten=include_top,
    )
    x = xception_features(image, conv_impl=conv_impl)
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or "xception")
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


xception.__doc__ = common.builder_docstring(
    title="Instantiates Xception.",
    summary=("The architecture and layer names of `keras.applications.Xception`\n"
             f"({PARAMS:,} parameters with 1000 classes), built from kzoo layers. It\n"
             "takes inputs scaled to [-1, 1]."),
    model_name="xception", params=PARAMS, size=299, min_size=71, default_name="xception",
    reference=REFERENCE, url=PAPER_URL, weights_note="; with the top the input must be 299×299")
