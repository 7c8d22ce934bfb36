"""EfficientNetV2 B0 to B3, S, M and L: fused MBConv early, MBConv with squeeze-excite late.

As keras.applications builds them: the preprocessing inside the model
(`include_preprocessing`: for B0-B3 `Rescaling(1/255)` and ImageNet's
`Normalization`, for S, M and L `Rescaling(1/128, offset=-1)`; a 1-channel
B model rescales to [-1, 1] as keras.applications' does), a strided 3×3
stem, the stages of `STAGES` (fused MBConv where `conv_type` is 1) scaled
by the variant's width and depth coefficients, a 1×1 convolution
(`top_conv`) and a head of global average pooling, dropout and
`predictions`. Layer names are keras.applications' (`stem_conv`,
`block1a_project_conv`, `block4a_dwconv2`, `block4a_se_reduce`, ...), so
its weight files load by name.
"""

import copy

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.common import check_bool, check_rate
from kzoo.models.efficientnet import blocks
from kzoo.models.efficientnet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = "Tan & Le, EfficientNetV2: Smaller Models and Faster Training, ICML 2021"
PAPER_URL = "https://arxiv.org/abs/2104.00298"

_B = (
    (3, 1, 32, 16, 1, 0, 1, 1),
    (3, 2, 16, 32, 4, 0, 2, 1),
    (3, 2, 32, 48, 4, 0, 2, 1),
    (3, 3, 48, 96, 4, 0.25, 2, 0),
    (3, 5, 96, 112, 6, 0.25, 1, 0),
    (3, 8, 112, 192, 6, 0.25, 2, 0),
)
#: keras.applications' stages per base architecture: (kernel size, repeats, input filters,
#: output filters, expansion, squeeze-excite ratio, stride, conv_type: 1 fused, 0 MBConv).
STAGES = {
    "b": _B,
    "s": (
        (3, 2, 24, 24, 1, 0, 1, 1),
        (3, 4, 24, 48, 4, 0, 2, 1),
        (3, 4, 48, 64, 4, 0, 2, 1),
        (3, 6, 64, 128, 4, 0.25, 2, 0),
        (3, 9, 128, 160, 6, 0.25, 1, 0),
        (3, 15, 160, 256, 6, 0.25, 2, 0),
    ),
    "m": (
        (3, 3, 24, 24, 1, 0, 1, 1),
        (3, 5, 24, 48, 4, 0, 2, 1),
        (3, 5, 48, 80, 4, 0, 2, 1),
        (3, 7, 80, 160, 4, 0.25, 2, 0),
        (3, 14, 160, 176, 6, 0.25, 1, 0),
        (3, 18, 176, 304, 6, 0.25, 2, 0),
        (3, 5, 304, 512, 6, 0.25, 1, 0),
    ),
    "l": (
        (3, 4, 32, 32, 1, 0, 1, 1),
        (3, 7, 32, 64, 4, 0, 2, 1),
        (3, 7, 64, 96, 4, 0, 2, 1),
        (3, 10, 96, 192, 4, 0.25, 2, 0),
        (3, 19, 192, 224, 6, 0.25, 1, 0),
        (3, 25, 224, 384, 6, 0.25, 2, 0),
        (3, 7, 384, 640, 6, 0.25, 1, 0),
    ),
}
TOP_FILTERS = 1280
BN_MOMENTUM = 0.9

#: registry name -> (keras.applications name, stages, width, depth, default size,
#: parameters with 1000 classes).
VARIANTS = {
    "efficientnet_v2_b0": ("efficientnetv2-b0", "b", 1.0, 1.0, 224, 7_200_312),
    "efficientnet_v2_b1": ("efficientnetv2-b1", "b", 1.0, 1.1, 240, 8_212_124),
    "efficientnet_v2_b2": ("efficientnetv2-b2", "b", 1.1, 1.2, 260, 10_178_374),
    "efficientnet_v2_b3": ("efficientnetv2-b3", "b", 1.2, 1.4, 300, 14_467_622),
    "efficientnet_v2_s": ("efficientnetv2-s", "s", 1.0, 1.0, 384, 21_612_360),
    "efficientnet_v2_m": ("efficientnetv2-m", "m", 1.0, 1.0, 480, 54_431_388),
    "efficientnet_v2_l": ("efficientnetv2-l", "l", 1.0, 1.0, 480, 119_027_848),
}
#: Published ImageNet top-1 (%) of each variant's "imagenet" weights (keras.applications' table).
TOP1 = {"efficientnet_v2_b0": 78.7, "efficientnet_v2_b1": 79.8, "efficientnet_v2_b2": 80.5,
        "efficientnet_v2_b3": 82.0, "efficientnet_v2_s": 83.9, "efficientnet_v2_m": 85.3,
        "efficientnet_v2_l": 85.7}


def preprocessing(x, *, kind, channels, pretrained):
    """Pixels in [0, 255] to the network's input range, as keras.applications does.

    B0-B3 normalize with ImageNet's mean and variance (fixed, not weights);
    S, M and L rescale to [-1, 1]. keras.applications rescales a 1-channel
    B model to [-1, 1]; with pretrained weights kzoo repeats the grey channel
    to RGB first instead, so the model is exactly the RGB model on [g, g, g].
    """
    if channels == 1 and pretrained:
        x = common.grey_to_rgb(x)
        channels = 3
    if kind == "b" and channels == 3:
        x = keras.layers.Rescaling(1.0 / 255, name="rescaling")(x)
        return keras.layers.Normalization(
            mean=list(blocks.IMAGENET_MEAN_RGB),
            variance=[s**2 for s in blocks.IMAGENET_STDDEV_RGB], axis=-1, name="normalization",
        )(x)
    return keras.layers.Rescaling(1.0 / 128.0, offset=-1, name="rescaling")(x)


def _efficientnet_v2(model_name, *, include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, include_preprocessing, dropout_rate,
                     drop_connect_rate, name, conv_impl):
    stem, kind, width, depth, size, _ = VARIANTS[model_name]
    check_bool(include_preprocessing, "include_preprocessing")
    check_rate(dropout_rate, "dropout_rate")
    check_rate(drop_connect_rate, "drop_connect_rate")
    presets = PRESETS[stem]
    weights, input_shape, image, inputs = common.builder_inputs(
        model_name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(size, size, 3), min_size=32,
        require_flatten=include_top,
    )

    def round_filters(filters):
        return blocks.round_filters(filters, width, min_depth=8, at_least_90=False)

    x = image
    if include_preprocessing:
        x = preprocessing(x, kind=kind, channels=input_shape[-1],
                          pretrained=weights is not None)
    stages = copy.deepcopy(STAGES[kind])
    x = blocks.conv_bn_act(x, round_filters(stages[0][2]), 3, strides=2, conv_impl=conv_impl,
                           name="stem_conv", bn_name="stem_bn", act_name="stem_activation",
                           activation="swish", bn_momentum=BN_MOMENTUM)
    # keras.applications spreads the drop rates over the unscaled repeats.
    total = float(sum(stage[1] for stage in stages))
    index = 0
    for i, (kernel, repeats, f_in, f_out, expand, se, stride, fused) in enumerate(stages):
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        block = blocks.fused_mbconv if fused else blocks.mbconv
        extra = {} if fused else {"dwconv_name": "dwconv2", "explicit_pad": False}
        for j in range(blocks.round_repeats(repeats, depth)):
            x = block(
                x, filters_in=f_in if j == 0 else f_out, filters_out=f_out, kernel_size=kernel,
                strides=stride if j == 0 else 1, expand_ratio=expand, se_ratio=se,
                activation="swish", drop_rate=drop_connect_rate * index / total,
                conv_impl=conv_impl, prefix=f"block{i + 1}{chr(j + 97)}_",
                bn_momentum=BN_MOMENTUM, **extra,
            )
            index += 1

    x = blocks.conv_bn_act(x, round_filters(TOP_FILTERS), 1, conv_impl=conv_impl,
                           name="top_conv", bn_name="top_bn", act_name="top_activation",
                           activation="swish", bn_momentum=BN_MOMENTUM)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = keras.layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = kl.Affine(classes, activation=classifier_activation,
                      kernel_initializer=blocks.DENSE_KERNEL_INITIALIZER, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name or stem)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


def _builder(model_name):
    stem, kind, width, depth, size, params = VARIANTS[model_name]
    label = model_name.rsplit("_", 1)[-1].upper()
    preprocessing_text = ("`Rescaling(1/255)` and ImageNet's `Normalization`" if kind == "b"
                          else "`Rescaling(1/128, offset=-1)`")

    builder = blocks.make_builder(model_name, _efficientnet_v2, dropout_rate=0.2, module=__name__)
    builder.__doc__ = common.builder_docstring(
        title=f"Instantiates EfficientNetV2-{label}.",
        summary=(f"The architecture of `keras.applications.EfficientNetV2{label}` ({params:,}\n"
                 "parameters with 1000 classes), built from kzoo layers: fused MBConv\n"
                 "stages, then MBConv stages with squeeze-excite, scaled by width\n"
                 f"{width} and depth {depth}, at {size}×{size} by default. With\n"
                 "`include_preprocessing=True` (the default, as keras.applications) the\n"
                 f"model takes pixels in [0, 255] ({preprocessing_text})."),
        model_name=model_name, params=params, size=size, min_size=32, default_name=stem,
        reference=REFERENCE, url=PAPER_URL,
        weights_note=f"; with the top the input must be {size}×{size}",
        input_note=" Any channel count loads the pretrained weights (1 channel: the RGB "
                   "model on grey).",
        extra_args=[
            ("include_preprocessing", "whether the model starts with its preprocessing "
             "layers. Defaults to `True`."),
            ("dropout_rate", "dropout rate before `predictions`. Defaults to 0.2."),
            ("drop_connect_rate", "the stochastic-depth rate of the last block (rising "
             "linearly from 0 at the first). Defaults to 0.2."),
        ])
    return register_model(family="efficientnet_v2", default_input_shape=(size, size, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[stem]), top1=TOP1[model_name])(builder)


efficientnet_v2_b0 = _builder("efficientnet_v2_b0")
efficientnet_v2_b1 = _builder("efficientnet_v2_b1")
efficientnet_v2_b2 = _builder("efficientnet_v2_b2")
efficientnet_v2_b3 = _builder("efficientnet_v2_b3")
efficientnet_v2_s = _builder("efficientnet_v2_s")
efficientnet_v2_m = _builder("efficientnet_v2_m")
efficientnet_v2_l = _builder("efficientnet_v2_l")
