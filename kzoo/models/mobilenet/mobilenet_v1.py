"""MobileNet (V1): depthwise separable convolutions, as keras.applications builds it.

A strided 3×3 convolution, then thirteen blocks of a 3×3 depthwise
convolution and a 1×1 pointwise one, each followed by BatchNorm and ReLU6;
the widths are scaled by `alpha`. Layer names are keras.applications'
(`conv1`, `conv1_bn`, `conv_dw_1`, `conv_dw_1_bn`, `conv_pw_1`, ...,
`conv_preds`, `predictions`), so its weight files load by name.
"""

import keras

from kzoo import layers as kl
from kzoo.layers import args
from kzoo.models import common
from kzoo.models.common import check_rate
from kzoo.models import weights as weight_files
from kzoo.models.mobilenet.blocks import KERAS_POOLING_NAMES, relu6
from kzoo.models.mobilenet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = ("Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile "
             "Vision Applications, arXiv:1704.04861, 2017")

#: The depthwise separable blocks conv_dw_1 ... conv_dw_13: (pointwise filters, stride).
BLOCKS = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
STEM_FILTERS = 32


def depthwise_separable_block(x, filters, *, alpha, depth_multiplier, strides, conv_impl,
                              block_id):
    """3×3 depthwise (`conv_dw_{id}`), BN, ReLU6, then 1×1 pointwise (`conv_pw_{id}`), BN, ReLU6.

    A strided block pads one row and column at the bottom and right and
    convolves "valid", which is TensorFlow's "same" for even sizes.
    """
    if strides == 1:
        padding = "same"
    else:
        x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = kl.DepthwiseConv2D(3, strides=strides, padding=padding,
                           depth_multiplier=depth_multiplier, use_bias=False,
                           implementation=conv_impl, name=f"conv_dw_{block_id}")(x)
    x = kl.BatchNorm(name=f"conv_dw_{block_id}_bn")(x)
    x = relu6(x, f"conv_dw_{block_id}_relu")
    x = kl.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False,
                  implementation=conv_impl, name=f"conv_pw_{block_id}")(x)
    x = kl.BatchNorm(name=f"conv_pw_{block_id}_bn")(x)
    return relu6(x, f"conv_pw_{block_id}_relu")


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), min_input_size=32,
                reference=REFERENCE, weights=tuple(PRESETS["mobilenet"]), top1=70.4)
def mobilenet(*, input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3,
              include_top=True, weights=None, input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None, conv_impl="native"):
    """Instantiates MobileNet (V1).

    The architecture of `keras.applications.MobileNet` (4,253,864
    parameters at 224×224×3 with 1000 classes and `alpha=1`), built from
    kzoo layers: a 3×3 convolution with stride 2 and thirteen depthwise
    separable blocks (`BLOCKS`), each convolution followed by BatchNorm and
    ReLU6; the head is global average pooling, dropout and a 1×1
    convolution (`conv_preds`) flattened to `predictions`. The model does not
    preprocess its input: call `keras.applications.mobilenet.preprocess_input`
    (pixels scaled to [-1, 1]) as keras.applications' MobileNet expects.

    Args:
        input_shape: optional `(height, width, channels)`; height and width
            at least 32. Defaults to `(224, 224, 3)`.
        alpha: width multiplier: every layer has `int(filters * alpha)`
            filters. Defaults to 1.0.
        depth_multiplier: the depthwise convolutions' outputs per input
            channel (keras.applications' name; the paper's resolution
            multiplier is the input size). Defaults to 1.
        dropout: dropout rate before `conv_preds`. Defaults to 0.001.
        include_top: whether to include the classifier. Defaults to `True`.
        weights: `None` (random initialization), `"imagenet"`
            (keras.applications' file for `alpha` in 0.25, 0.5, 0.75, 1.0,
            `depth_multiplier=1` and the input size: 128, 160, 192 or 224;
            other sizes load the 224 file without the top and are refused
            with it), or the path to a weights file (keras.applications'
            legacy HDF5 layout or a Keras `.weights.h5` file).
        input_tensor: optional Keras tensor to use as the image input.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        name: model name. Defaults to keras.applications' name,
            `"mobilenet_{alpha:.2f}_{rows}"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.

    Returns:
        A `keras.Model`.

    Reference:
        - [Howard et al., MobileNets: Efficient Convolutional Neural Networks
          for Mobile Vision Applications, 2017](https://arxiv.org/abs/1704.04861)

    Examples:
        >>> model = kzoo.create_model("mobilenet", alpha=0.5, weights=None)
        >>> model.count_params()
        1342536
        >>> model.get_layer("conv_pw_13").output.shape
        (None, 7, 7, 512)
    """
    common.check_positive_number(alpha, "alpha")
    depth_multiplier = args.positive_int(depth_multiplier, "depth_multiplier")
    check_rate(dropout, "dropout")
    files = PRESETS["mobilenet"]
    weights, input_shape, image, inputs = common.builder_inputs(
        "mobilenet", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=files, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=False,
    )
    presets = {}
    if weights in files:
        if depth_multiplier != 1:
            raise ValueError(
                f"Argument `depth_multiplier`: 'mobilenet' has {weights!r} weights for "
                f"depth_multiplier=1 only. Received: depth_multiplier={depth_multiplier}"
            )
        presets = files[weights].select(alpha=alpha, input_shape=input_shape,
                                        include_top=include_top, model_name="mobilenet",
                                        tag=weights)

    x = kl.Conv2D(int(STEM_FILTERS * alpha), 3, strides=2, padding="same", use_bias=False,
                  implementation=conv_impl, name="conv1")(image)
    x = kl.BatchNorm(name="conv1_bn")(x)
    x = relu6(x, "conv1_relu")
    for block_id, (filters, strides) in enumerate(BLOCKS, start=1):
        x = depthwise_separable_block(x, filters, alpha=alpha, depth_multiplier=depth_multiplier,
                                      strides=strides, conv_impl=conv_impl, block_id=block_id)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(keepdims=True,
                                                name=KERAS_POOLING_NAMES["avg"])(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = kl.Conv2D(classes, 1, padding="same", implementation=conv_impl,
                      name="conv_preds")(x)
        x = keras.layers.Reshape((classes,), name="reshape_2")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling, name=KERAS_POOLING_NAMES.get(pooling))
    model = keras.Model(inputs, x, name=name or f"mobilenet_{alpha:0.2f}_{input_shape[0]}")
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)
