"""MobileNetV3 Small and Large: inverted residuals with squeeze-excite and hard-swish.

As keras.applications builds them: an optional `Rescaling` to [-1, 1], a
strided 3×3 convolution, the inverted residual blocks of `SMALL` or `LARGE`
(1×1 expansion, 3×3 or 5×5 depthwise, optional squeeze-excite, linear 1×1
projection, a skip connection where the shape allows), a 1×1 convolution to
six times the last block's channels, and a head of global average pooling
and two 1×1 convolutions (`conv_2`, `logits`). The minimalistic variant
drops squeeze-excite, hard-swish and the 5×5 kernels. Layer names are
keras.applications' (`conv`, `conv_bn`, `expanded_conv_depthwise`,
`expanded_conv_1_expand`, `expanded_conv_1_expand_bn`, ...,
`expanded_conv_3_squeeze_excite_conv`, ..., `conv_1`, `conv_2`, `logits`),
so its weight files load by name; the activations are left unnamed as
keras.applications leaves them.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models.common import check_bool, check_rate, correct_pad
from kzoo.models import weights as weight_files
from kzoo.models.mobilenet.blocks import make_divisible
from kzoo.models.mobilenet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = "Howard et al., Searching for MobileNetV3, ICCV 2019"

# The blocks after the stem, numbered 0 (`expanded_conv_`) on: (expansion, output
# channels, kernel size, stride, squeeze-excite, activation). The minimalistic variant
# turns the 5×5 kernels into 3×3, hard-swish into ReLU and drops squeeze-excite.
SMALL = (
    (1, 16, 3, 2, True, "relu"),
    (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, 5, 2, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (6, 96, 5, 2, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
)
LARGE = (
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, 5, 2, True, "relu"),
    (3, 40, 5, 1, True, "relu"),
    (3, 40, 5, 1, True, "relu"),
    (6, 80, 3, 2, False, "hard_swish"),
    (2.5, 80, 3, 1, False, "hard_swish"),
    (2.3, 80, 3, 1, False, "hard_swish"),
    (2.3, 80, 3, 1, False, "hard_swish"),
    (6, 112, 3, 1, True, "hard_swish"),
    (6, 112, 3, 1, True, "hard_swish"),
    (6, 160, 5, 2, True, "hard_swish"),
    (6, 160, 5, 1, True, "hard_swish"),
    (6, 160, 5, 1, True, "hard_swish"),
)
#: The width of `conv_2`, the head's hidden layer (widened by alpha > 1).
LAST_POINT_FILTERS = {"small": 1024, "large": 1280}
STEM_FILTERS = 16
SE_RATIO = 0.25
# keras.applications' BatchNorm settings for MobileNetV3 (TensorFlow's slim defaults).
BN = dict(epsilon=1e-3, momentum=0.999)


def activation(x, kind):
    """ReLU or hard-swish, unnamed as keras.applications leaves them (`re_lu_*`, `activation_*`)."""
    if kind == "relu":
        return keras.layers.ReLU()(x)
    return keras.layers.Activation("hard_swish")(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6, written as keras.applications writes it (so the layers match)."""
    return keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def squeeze_excite_block(inputs, filters, *, conv_impl, prefix):
    """keras.applications' squeeze-excite, layer by layer.

    Not `kzoo.layers.SqueezeExcite`: that is one layer holding both
    convolutions, while keras.applications' files store them under the
    names `{prefix}squeeze_excite_conv` and `{prefix}squeeze_excite_conv_1`.
    """
    x = keras.layers.GlobalAveragePooling2D(keepdims=True,
                                            name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = kl.Conv2D(make_divisible(filters * SE_RATIO), 1, padding="same",
                  implementation=conv_impl, name=f"{prefix}squeeze_excite_conv")(x)
    x = keras.layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = kl.Conv2D(filters, 1, padding="same", implementation=conv_impl,
                  name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x)
    return keras.layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def inverted_residual_block(x, filters, *, expansion, kernel_size, strides, squeeze_excite,
                            activation_kind, conv_impl, block_id):
    """1×1 expand, BN, act; k×k depthwise, BN, act; [squeeze-excite]; linear 1×1 project, BN.

    Block 0 (`expanded_conv_*`) has no expansion; the others are named
    `expanded_conv_{id}_*`. The input is added when the block keeps the shape.
    """
    inputs = x
    in_channels = x.shape[-1]
    expanded = make_divisible(in_channels * expansion)
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = kl.Conv2D(expanded, 1, padding="same", use_bias=False, implementation=conv_impl,
                      name=f"{prefix}expand")(x)
        x = kl.BatchNorm(**BN, name=f"{prefix}expand_bn")(x)
        x = activation(x, activation_kind)
    else:
        prefix = "expanded_conv_"
    if strides == 2:
        x = keras.layers.ZeroPadding2D(correct_pad(x, kernel_size),
                                       name=f"{prefix}depthwise_pad")(x)
    x = kl.DepthwiseConv2D(kernel_size, strides=strides,
                           padding="same" if strides == 1 else "valid", use_bias=False,
                           implementation=conv_impl, name=f"{prefix}depthwise")(x)
    x = kl.BatchNorm(**BN, name=f"{prefix}depthwise_bn")(x)
    x = activation(x, activation_kind)
    if squeeze_excite:
        x = squeeze_excite_block(x, expanded, conv_impl=conv_impl, prefix=prefix)
    x = kl.Conv2D(filters, 1, padding="same", use_bias=False, implementation=conv_impl,
                  name=f"{prefix}project")(x)
    x = kl.BatchNorm(**BN, name=f"{prefix}project_bn")(x)
    if strides == 1 and in_channels == filters:
        return keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _mobilenet_v3(model_type, *, input_shape, alpha, minimalistic, include_top, weights,
                  input_tensor, classes, pooling, dropout_rate, classifier_activation,
                  include_preprocessing, name, conv_impl):
    """The builder both variants share; `model_type` is `"small"` or `"large"`."""
    model_name = f"mobilenet_v3_{model_type}"
    common.check_positive_number(alpha, "alpha")
    check_bool(minimalistic, "minimalistic")
    check_bool(include_preprocessing, "include_preprocessing")
    check_rate(dropout_rate, "dropout_rate")
    files = PRESETS[model_name]
    weights, input_shape, image, inputs = common.builder_inputs(
        model_name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=files, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=False,
    )
    presets = {}
    if weights in files:
        presets = files[weights].select(alpha=alpha, minimalistic=minimalistic,
                                        input_shape=input_shape, include_top=include_top,
                                        model_name=model_name, tag=weights)
    act = "relu" if minimalistic else "hard_swish"

    x = image
    if include_preprocessing:
        x = keras.layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = kl.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                  implementation=conv_impl, name="conv")(x)
    x = kl.BatchNorm(**BN, name="conv_bn")(x)
    x = activation(x, act)
    blocks = SMALL if model_type == "small" else LARGE
    for block_id, (expansion, filters, kernel_size, strides, se, kind) in enumerate(blocks):
        x = inverted_residual_block(
            x, make_divisible(filters * alpha), expansion=expansion,
            kernel_size=3 if minimalistic else kernel_size, strides=strides,
            squeeze_excite=se and not minimalistic,
            activation_kind="relu" if minimalistic else kind, conv_impl=conv_impl,
            block_id=block_id,
        )
    x = kl.Conv2D(make_divisible(x.shape[-1] * 6), 1, padding="same", use_bias=False,
                  implementation=conv_impl, name="conv_1")(x)
    x = kl.BatchNorm(**BN, name="conv_1_bn")(x)
    x = activation(x, act)
    if include_top:
        last_point = LAST_POINT_FILTERS[model_type]
        if alpha > 1.0:
            last_point = make_divisible(last_point * alpha)
        x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = kl.Conv2D(last_point, 1, padding="same", implementation=conv_impl, name="conv_2")(x)
        x = activation(x, act)
        if dropout_rate > 0:
            x = keras.layers.Dropout(dropout_rate)(x)
        x = kl.Conv2D(classes, 1, padding="same", implementation=conv_impl, name="logits")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)  # keras.applications' "avg_pool" / "max_pool"
    default_name = "MobileNetV3Small" if model_type == "small" else "MobileNetV3Large"
    model = keras.Model(inputs, x, name=name or default_name)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), min_input_size=32,
                reference=REFERENCE, weights=tuple(PRESETS["mobilenet_v3_small"]), top1=68.1)
def mobilenet_v3_small(*, input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                       weights=None, input_tensor=None, classes=1000, pooling=None,
                       dropout_rate=0.2, classifier_activation="softmax",
                       include_preprocessing=True, name=None, conv_impl="native"):
    """Instantiates MobileNetV3 Small.

    The architecture of `keras.applications.MobileNetV3Small` (2,554,968
    parameters with 1000 classes and `alpha=1`), built from kzoo layers: the
    eleven blocks of `SMALL`, a 1×1 convolution to 576 channels and a head of
    global average pooling, `conv_2` (1024 channels) and `logits`. With
    `include_preprocessing=True` (the default, as keras.applications) the
    model takes pixels in [0, 255] and rescales them to [-1, 1] itself.

    Args:
        input_shape: optional `(height, width, channels)`; height and width
            at least 32 (or `None`). Defaults to `(224, 224, 3)`.
        alpha: width multiplier: block filters are `filters * alpha` rounded
            to a multiple of 8. Defaults to 1.0.
        minimalistic: drop squeeze-excite, hard-swish and the 5×5 kernels.
            Defaults to `False`.
        include_top: whether to include the classifier. Defaults to `True`.
        weights: `None` (random initialization), `"imagenet"`
            (keras.applications' file for `alpha` 0.75 or 1.0, or 1.0 with
            `minimalistic=True`, at 224×224; without the top other sizes
            load it with a warning), or the path to a weights file
            (keras.applications' legacy HDF5 layout or a Keras `.weights.h5`
            file).
        input_tensor: optional Keras tensor to use as the image input.
        classes: number of classes. Defaults to 1000.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        dropout_rate: dropout rate before `logits`. Defaults to 0.2.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        include_preprocessing: whether the model starts with
            `Rescaling(1 / 127.5, offset=-1)`. Defaults to `True`.
        name: model name. Defaults to keras.applications' `"MobileNetV3Small"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.

    Returns:
        A `keras.Model`.

    Reference:
        - [Howard et al., Searching for MobileNetV3, ICCV
          2019](https://arxiv.org/abs/1905.02244)

    Examples:
        >>> model = kzoo.create_model("mobilenet_v3_small", weights=None)
        >>> model.count_params()
        2554968
        >>> model.get_layer("conv_1").output.shape
        (None, 7, 7, 576)
    """
    return _mobilenet_v3(
        "small", input_shape=input_shape, alpha=alpha, minimalistic=minimalistic,
        include_top=include_top, weights=weights, input_tensor=input_tensor, classes=classes,
        pooling=pooling, dropout_rate=dropout_rate,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, name=name, conv_impl=conv_impl,
    )


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), min_input_size=32,
                reference=REFERENCE, weights=tuple(PRESETS["mobilenet_v3_large"]), top1=75.6)
def mobilenet_v3_large(*, input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                       weights=None, input_tensor=None, classes=1000, pooling=None,
                       dropout_rate=0.2, classifier_activation="softmax",
                       include_preprocessing=True, name=None, conv_impl="native"):
    """Instantiates MobileNetV3 Large.

    The architecture of `keras.applications.MobileNetV3Large` (5,507,432
    parameters with 1000 classes and `alpha=1`), built from kzoo layers: the
    fifteen blocks of `LARGE`, a 1×1 convolution to 960 channels and a head
    of global average pooling, `conv_2` (1280 channels) and `logits`. With
    `include_preprocessing=True` (the default, as keras.applications) the
    model takes pixels in [0, 255] and rescales them to [-1, 1] itself.

    Args:
        input_shape: optional `(height, width, channels)`; height and width
            at least 32 (or `None`). Defaults to `(224, 224, 3)`.
        alpha: width multiplier: block filters are `filters * alpha` rounded
            to a multiple of 8. Defaults to 1.0.
        minimalistic: drop squeeze-excite, hard-swish and the 5×5 kernels.
            Defaults to `False`.
        include_top: whether to include the classifier. Defaults to `True`.
        weights: `None` (random initialization), `"imagenet"`
            (keras.applications' file for `alpha` 0.75 or 1.0, or 1.0 with
            `minimalistic=True`, at 224×224; without the top other sizes
            load it with a warning), or the path to a weights file
            (keras.applications' legacy HDF5 layout or a Keras `.weights.h5`
            file).
        input_tensor: optional Keras tensor to use as the image input.
        classes: number of classes. Defaults to 1000.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        dropout_rate: dropout rate before `logits`. Defaults to 0.2.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        include_preprocessing: whether the model starts with
            `Rescaling(1 / 127.5, offset=-1)`. Defaults to `True`.
        name: model name. Defaults to keras.applications' `"MobileNetV3Large"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.

    Returns:
        A `keras.Model`.

    Reference:
        - [Howard et al., Searching for MobileNetV3, ICCV
          2019](https://arxiv.org/abs/1905.02244)

    Examples:
        >>> model = kzoo.create_model("mobilenet_v3_large", weights=None)
        >>> model.count_params()
        5507432
        >>> model.get_layer("conv_1").output.shape
        (None, 7, 7, 960)
    """
    return _mobilenet_v3(
        "large", input_shape=input_shape, alpha=alpha, minimalistic=minimalistic,
        include_top=include_top, weights=weights, input_tensor=input_tensor, classes=classes,
        pooling=pooling, dropout_rate=dropout_rate,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, name=name, conv_impl=conv_impl,
    )
