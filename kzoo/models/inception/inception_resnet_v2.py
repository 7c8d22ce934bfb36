"""Inception-ResNet v2, as keras.applications builds it, from kzoo layers.

A stem of convolutions and poolings, a 35×35 Inception module (`mixed_5b`),
ten Inception-ResNet-A blocks (`block35_*`), a reduction (`mixed_6a`),
twenty Inception-ResNet-B blocks (`block17_*`), a reduction (`mixed_7a`),
ten Inception-ResNet-C blocks (`block8_*`, the last unscaled and without
its ReLU), a
1×1 convolution to 1536 channels (`conv_7b`) and the classifier. Each block
adds its residual scaled by a constant (`ScaledResidual`). keras.applications
names only the blocks' layers; the others get the deterministic names of the
Keras 2 build (`conv2d_1`, `batch_normalization_1`, ...), and the file's
layers are matched by name when they agree and by order otherwise, which is
how `keras.Model.load_weights` reads these files. The model takes inputs
scaled to [-1, 1] (keras.applications' `inception_resnet_v2.preprocess_input`).
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.inception.inception_v3 import _Names
from kzoo.models.inception.presets import PRESETS
from kzoo.models.inception.scaled_residual import ScaledResidual
from kzoo.models.registry import register_model

REFERENCE = ("Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual "
             "Connections on Learning, AAAI 2017")
PAPER_URL = "https://arxiv.org/abs/1602.07261"
PARAMS = 55_873_736
TOP1 = 80.3

#: block type -> (count, residual scale, branches: each a list of (filters, kernel size)).
BLOCKS = {
    "block35": (10, 0.17, [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]]),
    "block17": (20, 0.1, [[(192, 1)], [(128, 1), (160, (1, 7)), (192, (7, 1))]]),
    "block8": (10, 0.2, [[(192, 1)], [(192, 1), (224, (1, 3)), (256, (3, 1))]]),
}


def conv2d_bn(x, filters, kernel_size, *, strides=1, padding="same", activation="relu",
              use_bias=False, name=None, names, conv_impl):
    """keras.applications' `conv2d_bn`: Conv2D → BatchNorm without scale (when there is no
    bias) → activation; named `{name}`, `{name}_bn`, `{name}_ac`, or automatically."""
    x = kl.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                  implementation=conv_impl, name=name or names("conv2d"))(x)
    if not use_bias:
        x = kl.BatchNorm(scale=False,
                         name=f"{name}_bn" if name else names("batch_normalization"))(x)
    if activation is not None:
        x = keras.layers.Activation(activation,
                                    name=f"{name}_ac" if name else names("activation"))(x)
    return x


def inception_resnet_block(x, block_type, block_idx, *, scale=None, activation="relu", names,
                           conv_impl):
    """Branches of `BLOCKS[block_type]`, concatenated, a linear 1×1 back to the input width,
    added to the input scaled (`ScaledResidual`; `scale` overrides the type's), then
    `activation`."""
    _, default_scale, branch_specs = BLOCKS[block_type]
    scale = default_scale if scale is None else scale
    kw = dict(names=names, conv_impl=conv_impl)
    branches = []
    for spec in branch_specs:
        branch = x
        for filters, kernel_size in spec:
            branch = conv2d_bn(branch, filters, kernel_size, **kw)
        branches.append(branch)
    name = f"{block_type}_{block_idx}"
    mixed = keras.layers.Concatenate(name=f"{name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[-1], 1, activation=None, use_bias=True, name=f"{name}_conv",
                   **kw)
    x = ScaledResidual(scale, name=names("custom_scale_layer"))([x, up])
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def inception_resnet_v2_features(image, *, conv_impl):
    """The network up to `conv_7b_ac` (1536 channels)."""
    names = _Names()
    kw = dict(names=names, conv_impl=conv_impl)

    def max_pool(x, padding="valid"):
        return kl.MaxPool2D(3, strides=2, padding=padding, implementation=conv_impl,
                            name=names("max_pooling2d"))(x)

    x = conv2d_bn(image, 32, 3, strides=2, padding="valid", **kw)
    x = conv2d_bn(x, 32, 3, padding="valid", **kw)
    x = conv2d_bn(x, 64, 3, **kw)
    x = max_pool(x)
    x = conv2d_bn(x, 80, 1, padding="valid", **kw)
    x = conv2d_bn(x, 192, 3, padding="valid", **kw)
    x = max_pool(x)

    branch_0 = conv2d_bn(x, 96, 1, **kw)
    branch_1 = conv2d_bn(conv2d_bn(x, 48, 1, **kw), 64, 5, **kw)
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1, **kw), 96, 3, **kw), 96, 3, **kw)
    branch_pool = kl.AvgPool2D(3, strides=1, padding="same", implementation=conv_impl,
                               name=names("average_pooling2d"))(x)
    branch_pool = conv2d_bn(branch_pool, 64, 1, **kw)
    x = keras.layers.Concatenate(name="mixed_5b")([branch_0, branch_1, branch_2, branch_pool])
    for idx in range(1, BLOCKS["block35"][0] + 1):
        x = inception_resnet_block(x, "block35", idx, **kw)

    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid", **kw)
    branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1, **kw), 256, 3, **kw), 384, 3,
                         strides=2, padding="valid", **kw)
    x = keras.layers.Concatenate(name="mixed_6a")([branch_0, branch_1, max_pool(x)])
    for idx in range(1, BLOCKS["block17"][0] + 1):
        x = inception_resnet_block(x, "block17", idx, **kw)

    branch_0 = conv2d_bn(conv2d_bn(x, 256, 1, **kw), 384, 3, strides=2, padding="valid", **kw)
    branch_1 = conv2d_bn(conv2d_bn(x, 256, 1, **kw), 288, 3, strides=2, padding="valid", **kw)
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1, **kw), 288, 3, **kw), 320, 3,
                         strides=2, padding="valid", **kw)
    x = keras.layers.Concatenate(name="mixed_7a")([branch_0, branch_1, branch_2, max_pool(x)])
    count = BLOCKS["block8"][0]
    for idx in range(1, count):
        x = inception_resnet_block(x, "block8", idx, **kw)
    # The last block: its residual unscaled and no ReLU, as keras.applications has it.
    x = inception_resnet_block(x, "block8", count, scale=1.0, activation=None, **kw)
    return conv2d_bn(x, 1536, 1, name="conv_7b", **kw)


@register_model(family="inception", default_input_shape=(299, 299, 3), min_input_size=75,
                reference=REFERENCE, weights=tuple(PRESETS["inception_resnet_v2"]), top1=TOP1)
def inception_resnet_v2(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                        pooling=None, classes=1000, classifier_activation="softmax", name=None,
                        conv_impl="native"):
    presets = PRESETS["inception_resnet_v2"]
    weights, input_shape, image, inputs = common.builder_inputs(
        "inception_resnet_v2", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(299, 299, 3), min_size=75,
        require_flatten=include_top,
    )
    x = inception_resnet_v2_features(image, conv_impl=conv_impl)
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or "inception_resnet_v2")
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


inception_resnet_v2.__doc__ = common.builder_docstring(
    title="Instantiates Inception-ResNet v2.",
    summary=("The architecture of `keras.applications.InceptionResNetV2`\n"
             f"({PARAMS:,} parameters with 1000 classes), built from kzoo layers. It\n"
             "takes inputs scaled to [-1, 1]."),
    model_name="inception_resnet_v2", params=PARAMS, size=299, min_size=75,
    default_name="inception_resnet_v2", reference=REFERENCE, url=PAPER_URL,
    weights_note="; with the top the input must be 299×299")
