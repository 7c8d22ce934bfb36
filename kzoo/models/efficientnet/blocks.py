"""What EfficientNet and EfficientNetV2 share: rounding, the in-model preprocessing, MBConv.

The blocks are keras.applications' `block` (EfficientNet), `MBConvBlock` and
`FusedMBConvBlock` (EfficientNetV2) layer by layer, with the same layer names
(`block2a_expand_conv`, `block2a_dwconv`, `block2a_se_reduce`, ...) so that
their weight files load by name, built from kzoo's `Conv2D` and
`DepthwiseConv2D` (native or Im2Col) and `BatchNorm`. Stochastic depth is
keras.applications' `Dropout` with `noise_shape=(None, 1, 1, 1)`, which drops a
whole residual branch per example in training and is the identity at inference.
"""

import math

import keras

from kzoo import layers as kl
from kzoo.models.common import correct_pad

#: keras.applications' initializers for EfficientNet's convolutions and classifier.
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
#: ImageNet's per-channel mean and standard deviation of pixels scaled to [0, 1].
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def round_filters(filters, width_coefficient, divisor=8, min_depth=None, *, at_least_90=True):
    """`filters * width_coefficient` rounded to a multiple of `divisor`.

    EfficientNet's rule never rounds down by more than 10% (`at_least_90`);
    EfficientNetV2's (`at_least_90=False`) does not check that, and keeps at
    least `min_depth` (default `divisor`).

    Examples:
        >>> round_filters(32, 1.1), round_filters(1280, 2.0)
        (32, 2560)
    """
    filters *= width_coefficient
    rounded = max(min_depth or divisor, int(filters + divisor / 2) // divisor * divisor)
    if at_least_90 and rounded < 0.9 * filters:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats, depth_coefficient):
    """The number of repeats of a stage scaled by `depth_coefficient`, rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def conv(filters, kernel_size, *, conv_impl, name, strides=1, padding="same", use_bias=False,
         activation=None):
    """A kzoo `Conv2D` with EfficientNet's initializer."""
    return kl.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                     activation=activation, kernel_initializer=CONV_KERNEL_INITIALIZER,
                     implementation=conv_impl, name=name)


def conv_bn_act(x, filters, kernel_size, *, conv_impl, name, bn_name, act_name, activation,
                strides=1, padding="same", bn_momentum=0.99):
    """Convolution without bias, BatchNorm, activation (the act is skipped for `act_name=None`)."""
    x = conv(filters, kernel_size, strides=strides, padding=padding, conv_impl=conv_impl,
             name=name)(x)
    x = kl.BatchNorm(momentum=bn_momentum, name=bn_name)(x)
    if act_name:
        x = keras.layers.Activation(activation, name=act_name)(x)
    return x


def squeeze_excite(x, *, filters_in, ratio, activation, conv_impl, prefix):
    """keras.applications' squeeze-excite: pool, reshape, 1×1 reduce (activation), 1×1 expand
    (sigmoid), multiply.

    Not `kzoo.layers.SqueezeExcite`, which holds both convolutions in one layer:
    keras.applications' files store them as `{prefix}se_reduce` and
    `{prefix}se_expand`. The squeezed width is `filters_in * ratio` (the
    block's input, not its expanded width).
    """
    filters = x.shape[-1]
    se = keras.layers.GlobalAveragePooling2D(name=f"{prefix}se_squeeze")(x)
    se = keras.layers.Reshape((1, 1, filters), name=f"{prefix}se_reshape")(se)
    se = conv(max(1, int(filters_in * ratio)), 1, use_bias=True, activation=activation,
              conv_impl=conv_impl, name=f"{prefix}se_reduce")(se)
    se = conv(filters, 1, use_bias=True, activation="sigmoid", conv_impl=conv_impl,
              name=f"{prefix}se_expand")(se)
    return keras.layers.Multiply(name=f"{prefix}se_excite")([x, se])


def residual(x, inputs, *, drop_rate, prefix):
    """`x + inputs`, with the branch `x` dropped per example at `drop_rate` in training."""
    if drop_rate > 0:
        x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}drop")(x)
    return keras.layers.Add(name=f"{prefix}add")([x, inputs])


def mbconv(inputs, *, filters_in, filters_out, kernel_size, strides, expand_ratio, se_ratio,
           activation, drop_rate, conv_impl, prefix, bn_momentum=0.99, dwconv_name="dwconv",
           explicit_pad=True, id_skip=True):
    """The mobile inverted bottleneck (MBConv) of EfficientNet and EfficientNetV2.

    1×1 expansion (when `expand_ratio != 1`), BN, activation; k×k depthwise
    convolution, BN, activation; squeeze-excite (when `0 < se_ratio <= 1`);
    linear 1×1 projection, BN; and the residual when the block keeps the
    shape. EfficientNet pads a strided depthwise convolution explicitly
    (`explicit_pad`, a `{prefix}dwconv_pad` layer) and names it `dwconv`;
    EfficientNetV2 uses "same" padding and names it `dwconv2`.
    """
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = conv_bn_act(x, filters, 1, conv_impl=conv_impl, name=f"{prefix}expand_conv",
                        bn_name=f"{prefix}expand_bn", act_name=f"{prefix}expand_activation",
                        activation=activation, bn_momentum=bn_momentum)
    padding = "same"
    if strides == 2 and explicit_pad:
        x = keras.layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{prefix}dwconv_pad")(x)
        padding = "valid"
    x = kl.DepthwiseConv2D(kernel_size, strides=strides, padding=padding, use_bias=False,
                           depthwise_initializer=CONV_KERNEL_INITIALIZER,
                           implementation=conv_impl, name=f"{prefix}{dwconv_name}")(x)
    x = kl.BatchNorm(momentum=bn_momentum, name=f"{prefix}bn")(x)
    x = keras.layers.Activation(activation, name=f"{prefix}activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters_in=filters_in, ratio=se_ratio, activation=activation,
                           conv_impl=conv_impl, prefix=prefix)
    x = conv_bn_act(x, filters_out, 1, conv_impl=conv_impl, name=f"{prefix}project_conv",
                    bn_name=f"{prefix}project_bn", act_name=None, activation=None,
                    bn_momentum=bn_momentum)
    if id_skip and strides == 1 and filters_in == filters_out:
        x = residual(x, inputs, drop_rate=drop_rate, prefix=prefix)
    return x


def fused_mbconv(inputs, *, filters_in, filters_out, kernel_size, strides, expand_ratio,
                 se_ratio, activation, drop_rate, conv_impl, prefix, bn_momentum=0.9):
    """EfficientNetV2's fused MBConv: one k×k convolution in place of expansion + depthwise.

    With `expand_ratio != 1`: k×k expansion (strided), BN, activation;
    [squeeze-excite]; linear 1×1 projection, BN. With `expand_ratio == 1` the
    projection is the k×k (strided) convolution and is followed by an
    activation. The residual as in `mbconv`.
    """
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = conv_bn_act(x, filters, kernel_size, strides=strides, conv_impl=conv_impl,
                        name=f"{prefix}expand_conv", bn_name=f"{prefix}expand_bn",
                        act_name=f"{prefix}expand_activation", activation=activation,
                        bn_momentum=bn_momentum)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters_in=filters_in, ratio=se_ratio, activation=activation,
                           conv_impl=conv_impl, prefix=prefix)
    fused = expand_ratio == 1
    x = conv_bn_act(x, filters_out, kernel_size if fused else 1, strides=strides if fused else 1,
                    conv_impl=conv_impl, name=f"{prefix}project_conv",
                    bn_name=f"{prefix}project_bn",
                    act_name=f"{prefix}project_activation" if fused else None,
                    activation=activation, bn_momentum=bn_momentum)
    if strides == 1 and filters_in == filters_out:
        x = residual(x, inputs, drop_rate=drop_rate, prefix=prefix)
    return x


def make_builder(model_name, build, *, dropout_rate, module):
    """The registered builder of `model_name`: keras.applications' arguments and the family's
    own (`include_preprocessing`, `dropout_rate`, `drop_connect_rate`), passed to `build`.
    Both EfficientNet versions take the same arguments; only the default `dropout_rate`
    differs per model."""
    default_dropout = dropout_rate

    def builder(*, input_shape=None, include_top=True, weights=None, input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                include_preprocessing=True, dropout_rate=default_dropout, drop_connect_rate=0.2,
                name=None, conv_impl="native"):
        return build(
            model_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing, dropout_rate=dropout_rate,
            drop_connect_rate=drop_connect_rate, name=name, conv_impl=conv_impl,
        )

    builder.__name__ = builder.__qualname__ = model_name
    builder.__module__ = module
    return builder

