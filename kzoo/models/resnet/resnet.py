"""ResNet v1 for ImageNet: basic-block ResNet-18/34 and bottleneck ResNet-50/101/152.

Built as keras.applications builds ResNet50: a stem, then stacks of residual
blocks given by per-variant data, with the same layer names
(`conv1_conv`, `conv2_block1_1_conv`, `conv2_block1_1_bn`, ..., `predictions`),
so keras.applications' weight files load by name.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model
from kzoo.models.resnet.presets import PRESETS

REFERENCE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"
BN_EPSILON = 1.001e-5  # keras.applications' value, needed for its weights

#: variant -> (block kind, blocks per stage)
VARIANTS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
STAGE_FILTERS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def conv_bn(x, filters, kernel_size, *, strides=1, padding="valid", activation=True,
            conv_impl="native", name):
    """Conv2D (`{name}_conv`) → BatchNorm (`{name}_bn`) → optional ReLU (`{name}_relu`)."""
    x = kl.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                  implementation=conv_impl, name=f"{name}_conv")(x)
    x = kl.BatchNorm(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def bottleneck_block(x, filters, *, strides=1, conv_shortcut=True, conv_impl="native", name):
    """1×1 → 3×3 → 1×1 (×4 channels) residual block, stride on the first 1×1 (Keras v1)."""
    if conv_shortcut:
        shortcut = conv_bn(x, 4 * filters, 1, strides=strides, activation=False,
                           conv_impl=conv_impl, name=f"{name}_0")
    else:
        shortcut = x
    x = conv_bn(x, filters, 1, strides=strides, conv_impl=conv_impl, name=f"{name}_1")
    x = conv_bn(x, filters, 3, padding="same", conv_impl=conv_impl, name=f"{name}_2")
    x = conv_bn(x, 4 * filters, 1, activation=False, conv_impl=conv_impl, name=f"{name}_3")
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def basic_block(x, filters, *, strides=1, conv_shortcut=True, conv_impl="native", name):
    """3×3 → 3×3 residual block; a 1×1 projection shortcut when the shape changes."""
    if conv_shortcut:
        shortcut = conv_bn(x, filters, 1, strides=strides, activation=False,
                           conv_impl=conv_impl, name=f"{name}_0")
    else:
        shortcut = x
    if strides > 1:
        # "same" with stride 2 pads asymmetrically; pad 1 and go "valid" as
        # torchvision's padding=1 does.
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
        x = conv_bn(x, filters, 3, strides=strides, conv_impl=conv_impl, name=f"{name}_1")
    else:
        x = conv_bn(x, filters, 3, padding="same", conv_impl=conv_impl, name=f"{name}_1")
    x = conv_bn(x, filters, 3, padding="same", activation=False, conv_impl=conv_impl,
                name=f"{name}_2")
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def stack(x, filters, blocks, *, kind, strides=2, conv_impl="native", name):
    """`blocks` residual blocks named `{name}_block{i}`; the first may downsample."""
    block = BLOCKS[kind]
    in_channels = x.shape[-1]
    needs_projection = strides != 1 or in_channels != EXPANSION[kind] * filters
    x = block(x, filters, strides=strides, conv_shortcut=needs_projection,
              conv_impl=conv_impl, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = block(x, filters, conv_shortcut=False, conv_impl=conv_impl, name=f"{name}_block{i}")
    return x


def resnet(
    variant,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    conv_impl="native",
):
    """Builds the ImageNet ResNet v1 `variant` (a key of `VARIANTS`)."""
    kind, blocks_per_stage = VARIANTS[variant]
    presets = PRESETS.get(variant, {})
    weights, input_shape, image, inputs = common.builder_inputs(
        variant, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=False,
    )

    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(image)
    x = conv_bn(x, 64, 7, strides=2, conv_impl=conv_impl, name="conv1")
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = kl.MaxPool2D(3, strides=2, implementation=conv_impl, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, blocks_per_stage)):
        x = stack(x, filters, blocks, kind=kind, strides=1 if stage == 0 else 2,
                  conv_impl=conv_impl, name=f"conv{stage + 2}")
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or variant)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


_DOC = """Instantiates {title} (ResNet v1, {kind} blocks {blocks}).

    Same architecture and layer names as `keras.applications.{keras_name}`
    {keras_note}, built from kzoo layers.

    Args:
        include_top: whether to include the global-average-pooling +
            `predictions` classifier. Defaults to `True`.
        weights: `None` (random initialization){weights_doc}, or the path to
            a weights file (keras.applications' legacy HDF5 layout or a Keras
            `.weights.h5` file). A first convolution trained on RGB is
            adapted to another channel count.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`; height and width
            at least 32. Defaults to `(224, 224, 3)`.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        name: model name. Defaults to `"{name}"`.
        conv_impl: `"native"` or `"im2col"`, passed to every convolution and
            pooling layer.

    Returns:
        A `keras.Model`.

    Reference:
        - [He et al., Deep Residual Learning for Image Recognition, CVPR 2016](
          https://arxiv.org/abs/1512.03385)

    Examples:
        >>> model = kzoo.create_model("{name}", weights=None)
        >>> model.output.shape
        (None, 1000)
    """


#: Published ImageNet top-1 (%) of the models with keras.applications' "imagenet" weights
#: (keras.applications' table).
TOP1 = {"resnet50": 74.9, "resnet101": 76.4, "resnet152": 76.6}


def _make(variant):
    kind, blocks = VARIANTS[variant]
    has_keras_twin = kind == "bottleneck"

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=variant,
                conv_impl="native"):
        return resnet(variant, include_top=include_top, weights=weights,
                      input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                      classes=classes, classifier_activation=classifier_activation,
                      name=name, conv_impl=conv_impl)

    builder.__name__ = builder.__qualname__ = variant
    builder.__module__ = __name__
    builder.__doc__ = _DOC.format(
        title=f"ResNet-{variant[6:]}",
        kind=kind,
        blocks=list(blocks),
        keras_name=f"ResNet{variant[6:]}" if has_keras_twin else "ResNet50",
        keras_note="" if has_keras_twin else "(with basic blocks in place of bottlenecks)",
        weights_doc=', `"imagenet"` (keras.applications\' file, hash-checked)'
        if variant in PRESETS else "",
        name=variant,
    )
    return register_model(
        builder,
        family="resnet",
        default_input_shape=(224, 224, 3),
        min_input_size=32,
        reference=REFERENCE,
        weights=tuple(PRESETS.get(variant, {})),
        top1=TOP1.get(variant),
    )


resnet18 = _make("resnet18")
resnet34 = _make("resnet34")
resnet50 = _make("resnet50")
resnet101 = _make("resnet101")
resnet152 = _make("resnet152")
