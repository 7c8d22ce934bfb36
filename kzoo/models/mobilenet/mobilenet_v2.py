"""MobileNetV2: inverted residuals with linear bottlenecks, as keras.applications builds it.

A strided 3×3 convolution, seventeen inverted residual blocks (1×1
expansion, 3×3 depthwise, linear 1×1 projection, a skip connection where
the shape allows) given by the paper's table (`STAGES`), and a 1×1
convolution to 1280 channels. Layer names are keras.applications' (`Conv1`,
`bn_Conv1`, `expanded_conv_depthwise`, `block_1_expand`, `block_1_expand_BN`,
`block_1_depthwise`, `block_1_project`, ..., `Conv_1`, `Conv_1_bn`,
`predictions`), so its weight files load by name.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.common import correct_pad
from kzoo.models.mobilenet.blocks import KERAS_POOLING_NAMES, make_divisible, relu6
from kzoo.models.mobilenet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = ("Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, "
             "CVPR 2018")

#: The paper's Table 2 after the stem: (expansion t, output channels c, blocks n, first
#: stride s). Blocks are numbered on across stages: block 0 is `expanded_conv`, then
#: `block_1` ... `block_16`.
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_FILTERS = 32
LAST_FILTERS = 1280
# keras.applications' BatchNorm settings for MobileNetV2 (TensorFlow's slim defaults).
BN = dict(epsilon=1e-3, momentum=0.999)


def inverted_residual_block(x, filters, *, expansion, strides, alpha, conv_impl, block_id):
    """1×1 expand, BN, ReLU6; 3×3 depthwise, BN, ReLU6; linear 1×1 project, BN; + input.

    Block 0 (`expanded_conv_*`) has no expansion; the others are named
    `block_{id}_*`. The projection is linear; the input is added when the
    block keeps the shape.
    """
    inputs = x
    in_channels = x.shape[-1]
    out_channels = make_divisible(int(filters * alpha), 8)
    if block_id:
        prefix = f"block_{block_id}_"
        x = kl.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                      implementation=conv_impl, name=f"{prefix}expand")(x)
        x = kl.BatchNorm(**BN, name=f"{prefix}expand_BN")(x)
        x = relu6(x, f"{prefix}expand_relu")
    else:
        prefix = "expanded_conv_"
    if strides == 2:
        x = keras.layers.ZeroPadding2D(correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = kl.DepthwiseConv2D(3, strides=strides, padding="same" if strides == 1 else "valid",
                           use_bias=False, implementation=conv_impl,
                           name=f"{prefix}depthwise")(x)
    x = kl.BatchNorm(**BN, name=f"{prefix}depthwise_BN")(x)
    x = relu6(x, f"{prefix}depthwise_relu")
    x = kl.Conv2D(out_channels, 1, padding="same", use_bias=False, implementation=conv_impl,
                  name=f"{prefix}project")(x)
    x = kl.BatchNorm(**BN, name=f"{prefix}project_BN")(x)
    if in_channels == out_channels and strides == 1:
        return keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), min_input_size=32,
                reference=REFERENCE, weights=tuple(PRESETS["mobilenet_v2"]), top1=71.3)
def mobilenet_v2(*, input_shape=None, alpha=1.0, include_top=True, weights=None,
                 input_tensor=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name=None, conv_impl="native"):
    """Instantiates MobileNetV2.

    The architecture of `keras.applications.MobileNetV2` (3,538,984
    parameters at 224×224×3 with 1000 classes and `alpha=1`), built from
    kzoo layers: a 3×3 convolution with stride 2, the inverted residual
    blocks of `STAGES`, a 1×1 convolution to 1280 channels (more when
    `alpha > 1`), global average pooling and `predictions`. The model does
    not preprocess its input: call
    `keras.applications.mobilenet_v2.preprocess_input` (pixels scaled to
    [-1, 1]) as keras.applications' MobileNetV2 expects.

    Args:
        input_shape: optional `(height, width, channels)`; height and width
            at least 32. Defaults to `(224, 224, 3)`.
        alpha: width multiplier: block filters are `filters * alpha` rounded
            to a multiple of 8. Defaults to 1.0.
        include_top: whether to include the classifier. Defaults to `True`.
        weights: `None` (random initialization), `"imagenet"`
            (keras.applications' file for `alpha` in 0.35, 0.5, 0.75, 1.0,
            1.3, 1.4 and the input size: 96, 128, 160, 192 or 224; other
            sizes load the 224 file without the top and are refused with
            it), or the path to a weights file (keras.applications' legacy
            HDF5 layout or a Keras `.weights.h5` file).
        input_tensor: optional Keras tensor to use as the image input.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        name: model name. Defaults to keras.applications' name,
            `"mobilenetv2_{alpha:.2f}_{rows}"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.

    Returns:
        A `keras.Model`.

    Reference:
        - [Sandler et al., MobileNetV2: Inverted Residuals and Linear
          Bottlenecks, CVPR 2018](https://arxiv.org/abs/1801.04381)

    Examples:
        >>> model = kzoo.create_model("mobilenet_v2", alpha=0.5, weights=None)
        >>> model.count_params()
        1987224
        >>> model.get_layer("out_relu").output.shape
        (None, 7, 7, 1280)
    """
    common.check_positive_number(alpha, "alpha")
    files = PRESETS["mobilenet_v2"]
    weights, input_shape, image, inputs = common.builder_inputs(
        "mobilenet_v2", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=files, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=False,
    )
    presets = {}
    if weights in files:
        presets = files[weights].select(alpha=alpha, input_shape=input_shape,
                                        include_top=include_top, model_name="mobilenet_v2",
                                        tag=weights)

    x = kl.Conv2D(make_divisible(STEM_FILTERS * alpha, 8), 3, strides=2, padding="same",
                  use_bias=False, implementation=conv_impl, name="Conv1")(image)
    x = kl.BatchNorm(**BN, name="bn_Conv1")(x)
    x = relu6(x, "Conv1_relu")
    block_id = 0
    for expansion, filters, blocks, first_stride in STAGES:
        for i in range(blocks):
            x = inverted_residual_block(x, filters, expansion=expansion,
                                        strides=first_stride if i == 0 else 1, alpha=alpha,
                                        conv_impl=conv_impl, block_id=block_id)
            block_id += 1
    # As the paper: alpha < 1 keeps the last convolution's 1280 channels (better small
    # models); alpha > 1 widens it.
    last_filters = make_divisible(LAST_FILTERS * alpha, 8) if alpha > 1.0 else LAST_FILTERS
    x = kl.Conv2D(last_filters, 1, use_bias=False, implementation=conv_impl, name="Conv_1")(x)
    x = kl.BatchNorm(**BN, name="Conv_1_bn")(x)
    x = relu6(x, "out_relu")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name=KERAS_POOLING_NAMES["avg"])(x)
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling, name=KERAS_POOLING_NAMES.get(pooling))
    model = keras.Model(inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{input_shape[0]}")
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)
