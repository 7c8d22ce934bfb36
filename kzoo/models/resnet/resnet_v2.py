"""ResNet v2 (pre-activation) for ImageNet: ResNet-50/101/152 V2.

As keras.applications builds ResNet50V2: a 7×7 stem without BatchNorm, then
stacks of pre-activation bottleneck blocks (BN and ReLU before each
convolution, the identity or a projection of the pre-activation as the
shortcut, the stride on the last block of a stack), and a final BN + ReLU
(`post_bn`, `post_relu`). Layer names are keras.applications'
(`conv2_block1_preact_bn`, `conv2_block1_0_conv`, ..., `post_bn`,
`predictions`), so its weight files load by name. The model takes inputs
scaled to [-1, 1] (keras.applications' `resnet_v2.preprocess_input`).
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model
from kzoo.models.resnet.presets import PRESETS
from kzoo.models.resnet.resnet import BN_EPSILON, STAGE_FILTERS

REFERENCE = "He et al., Identity Mappings in Deep Residual Networks, ECCV 2016"
PAPER_URL = "https://arxiv.org/abs/1603.05027"

#: variant -> (blocks per stage, parameters with 1000 classes, published ImageNet top-1 %)
VARIANTS = {
    "resnet50_v2": ((3, 4, 6, 3), 25_613_800, 76.0),
    "resnet101_v2": ((3, 4, 23, 3), 44_675_560, 77.2),
    "resnet152_v2": ((3, 8, 36, 3), 60_380_648, 78.0),
}


def bn_relu(x, name):
    """BatchNorm (`{name}_bn`) → ReLU (`{name}_relu`)."""
    x = kl.BatchNorm(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def preact_block(x, filters, *, strides=1, conv_shortcut=False, conv_impl="native", name):
    """Pre-activation bottleneck: BN-ReLU, then 1×1 → 3×3 (strided) → 1×1 (×4 channels).

    The shortcut is a 1×1 projection of the pre-activation (`conv_shortcut`),
    or the input itself, subsampled by a 1×1 max pooling when strided.
    """
    preact = bn_relu(x, f"{name}_preact")
    if conv_shortcut:
        shortcut = kl.Conv2D(4 * filters, 1, strides=strides, implementation=conv_impl,
                             name=f"{name}_0_conv")(preact)
    elif strides > 1:
        shortcut = kl.MaxPool2D(1, strides=strides, implementation=conv_impl,
                                name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    x = kl.Conv2D(filters, 1, use_bias=False, implementation=conv_impl,
                  name=f"{name}_1_conv")(preact)
    x = bn_relu(x, f"{name}_1")
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = kl.Conv2D(filters, 3, strides=strides, use_bias=False, implementation=conv_impl,
                  name=f"{name}_2_conv")(x)
    x = bn_relu(x, f"{name}_2")
    x = kl.Conv2D(4 * filters, 1, implementation=conv_impl, name=f"{name}_3_conv")(x)
    return keras.layers.Add(name=f"{name}_out")([shortcut, x])


def stack_v2(x, filters, blocks, *, strides=2, conv_impl="native", name):
    """`blocks` pre-activation blocks named `{name}_block{i}`: a projection in the first, the
    stride in the last (keras.applications' `stack_residual_blocks_v2`)."""
    x = preact_block(x, filters, conv_shortcut=True, conv_impl=conv_impl, name=f"{name}_block1")
    for i in range(2, blocks):
        x = preact_block(x, filters, conv_impl=conv_impl, name=f"{name}_block{i}")
    return preact_block(x, filters, strides=strides, conv_impl=conv_impl,
                        name=f"{name}_block{blocks}")


def resnet_v2(variant, *, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name, conv_impl):
    """Builds the ImageNet ResNet v2 `variant` (a key of `VARIANTS`)."""
    blocks_per_stage = VARIANTS[variant][0]
    presets = PRESETS[variant]
    weights, input_shape, image, inputs = common.builder_inputs(
        variant, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=False,
    )
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(image)
    x = kl.Conv2D(64, 7, strides=2, implementation=conv_impl, name="conv1_conv")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = kl.MaxPool2D(3, strides=2, implementation=conv_impl, name="pool1_pool")(x)
    last = len(blocks_per_stage) - 1
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, blocks_per_stage)):
        x = stack_v2(x, filters, blocks, strides=1 if stage == last else 2,
                     conv_impl=conv_impl, name=f"conv{stage + 2}")
    x = bn_relu(x, "post")
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or variant.replace("_", ""))
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


def _make(variant):
    blocks, params, top1 = VARIANTS[variant]
    depth = variant[6:].split("_")[0]

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None,
                conv_impl="native"):
        return resnet_v2(variant, include_top=include_top, weights=weights,
                         input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                         classes=classes, classifier_activation=classifier_activation,
                         name=name, conv_impl=conv_impl)

    builder.__name__ = builder.__qualname__ = variant
    builder.__module__ = __name__
    builder.__doc__ = common.builder_docstring(
        title=f"Instantiates ResNet-{depth} V2 (pre-activation, blocks {list(blocks)}).",
        summary=(f"The architecture and layer names of `keras.applications.ResNet{depth}V2`\n"
                 f"({params:,} parameters with 1000 classes), built from kzoo layers. It\n"
                 "takes inputs scaled to [-1, 1]."),
        model_name=variant, params=params, size=224, min_size=32,
        default_name=f"resnet{depth}v2", reference=REFERENCE, url=PAPER_URL)
    return register_model(builder, family="resnet_v2", default_input_shape=(224, 224, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[variant]), top1=top1)


resnet50_v2 = _make("resnet50_v2")
resnet101_v2 = _make("resnet101_v2")
resnet152_v2 = _make("resnet152_v2")
