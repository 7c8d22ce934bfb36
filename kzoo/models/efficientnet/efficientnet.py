"""EfficientNet B0 to B7: MBConv stages scaled in width, depth and resolution together.

As keras.applications builds them: the preprocessing inside the model
(`Rescaling(1/255)` and ImageNet's `Normalization`, so the model takes
pixels in [0, 255]), a strided 3×3 stem, the seven MBConv stages of
`STAGES` scaled by the variant's width and depth coefficients, a 1×1
convolution (`top_conv`) and a head of global average pooling, dropout and
`predictions`. Layer names are keras.applications' (`stem_conv`,
`block1a_dwconv`, `block2b_se_reduce`, ..., `top_conv`, `predictions`), so
its weight files load by name.

keras.applications' ImageNet files were trained with inputs divided by the
variance where the standard deviation was meant
(tensorflow/tensorflow#49930); keras.applications adds a `Rescaling` by
1/sqrt(std) after the normalization when it loads them, and so does kzoo,
for `weights="imagenet"` and for a local copy of the same files (a path
whose name is keras.applications' file name, e.g. `efficientnetb0_notop.h5`).
"""

import copy
import os

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.common import check_bool, check_rate
from kzoo.models.efficientnet import blocks
from kzoo.models.efficientnet.presets import PRESETS, file_names
from kzoo.models.registry import register_model

REFERENCE = ("Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural "
             "Networks, ICML 2019")
PAPER_URL = "https://arxiv.org/abs/1905.11946"

#: B0's stages: (kernel size, repeats, input filters, output filters, expansion, stride,
#: squeeze-excite ratio). Stage i's blocks are `block{i+1}a`, `block{i+1}b`, ...
STAGES = (
    (3, 1, 32, 16, 1, 1, 0.25),
    (3, 2, 16, 24, 6, 2, 0.25),
    (5, 2, 24, 40, 6, 2, 0.25),
    (3, 3, 40, 80, 6, 2, 0.25),
    (5, 3, 80, 112, 6, 1, 0.25),
    (5, 4, 112, 192, 6, 2, 0.25),
    (3, 1, 192, 320, 6, 1, 0.25),
)
STEM_FILTERS = 32
TOP_FILTERS = 1280

#: registry name -> (keras.applications name, width, depth, default size, dropout rate,
#: parameters with 1000 classes).
VARIANTS = {
    "efficientnet_b0": ("efficientnetb0", 1.0, 1.0, 224, 0.2, 5_330_571),
    "efficientnet_b1": ("efficientnetb1", 1.0, 1.1, 240, 0.2, 7_856_239),
    "efficientnet_b2": ("efficientnetb2", 1.1, 1.2, 260, 0.3, 9_177_569),
    "efficientnet_b3": ("efficientnetb3", 1.2, 1.4, 300, 0.3, 12_320_535),
    "efficientnet_b4": ("efficientnetb4", 1.4, 1.8, 380, 0.4, 19_466_823),
    "efficientnet_b5": ("efficientnetb5", 1.6, 2.2, 456, 0.4, 30_562_527),
    "efficientnet_b6": ("efficientnetb6", 1.8, 2.6, 528, 0.5, 43_265_143),
    "efficientnet_b7": ("efficientnetb7", 2.0, 3.1, 600, 0.5, 66_658_687),
}
#: Published ImageNet top-1 (%) of each variant's "imagenet" weights (keras.applications' table).
TOP1 = {"efficientnet_b0": 77.1, "efficientnet_b1": 79.1, "efficientnet_b2": 80.1,
        "efficientnet_b3": 81.6, "efficientnet_b4": 82.9, "efficientnet_b5": 83.6,
        "efficientnet_b6": 84.0, "efficientnet_b7": 84.3}


def is_keras_imagenet_file(weights, stem):
    """Whether `weights` is `"imagenet"` or a local copy of keras.applications' file `stem`."""
    if weights == "imagenet":
        return True
    return weights is not None and os.path.basename(os.fspath(weights)) in file_names(stem)


def preprocessing(x, *, channels, pretrained, std_fix):
    """Pixels in [0, 255] to ImageNet-normalized inputs, as keras.applications does.

    A 1-channel model with pretrained weights repeats its grey channel to
    RGB first (so it is exactly the RGB model on [g, g, g]); `std_fix` adds
    keras.applications' correction for its ImageNet files.
    """
    if channels == 1 and pretrained:
        x = common.grey_to_rgb(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
    x = keras.layers.Normalization(axis=-1, name="normalization")(x)
    if std_fix:
        x = keras.layers.Rescaling([1.0 / s**0.5 for s in blocks.IMAGENET_STDDEV_RGB],
                                   name="rescaling_std")(x)
    return x


def _efficientnet(model_name, *, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, include_preprocessing, dropout_rate,
                  drop_connect_rate, name, conv_impl):
    stem, width, depth, size, _, _ = VARIANTS[model_name]
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
    x = image
    if include_preprocessing:
        x = preprocessing(x, channels=input_shape[-1], pretrained=weights is not None,
                          std_fix=is_keras_imagenet_file(weights, stem))
    x = keras.layers.ZeroPadding2D(common.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = blocks.conv_bn_act(x, blocks.round_filters(STEM_FILTERS, width), 3, strides=2,
                           padding="valid", conv_impl=conv_impl, name="stem_conv",
                           bn_name="stem_bn", act_name="stem_activation", activation="swish")

    stages = copy.deepcopy(STAGES)
    total = float(sum(blocks.round_repeats(stage[1], depth) for stage in stages))
    index = 0
    for i, (kernel, repeats, f_in, f_out, expand, stride, se) in enumerate(stages):
        f_in, f_out = blocks.round_filters(f_in, width), blocks.round_filters(f_out, width)
        for j in range(blocks.round_repeats(repeats, depth)):
            x = blocks.mbconv(
                x, filters_in=f_in if j == 0 else f_out, filters_out=f_out, kernel_size=kernel,
                strides=stride if j == 0 else 1, expand_ratio=expand, se_ratio=se,
                activation="swish", drop_rate=drop_connect_rate * index / total,
                conv_impl=conv_impl, prefix=f"block{i + 1}{chr(j + 97)}_",
            )
            index += 1

    x = blocks.conv_bn_act(x, blocks.round_filters(TOP_FILTERS, width), 1, conv_impl=conv_impl,
                           name="top_conv", bn_name="top_bn", act_name="top_activation",
                           activation="swish")
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
    stem, width, depth, size, dropout, params = VARIANTS[model_name]
    builder = blocks.make_builder(model_name, _efficientnet, dropout_rate=dropout, module=__name__)
    label = model_name[-2:].upper()
    builder.__doc__ = common.builder_docstring(
        title=f"Instantiates EfficientNet-{label}.",
        summary=(f"The architecture of `keras.applications.EfficientNet{label}` ({params:,}\n"
                 "parameters with 1000 classes), built from kzoo layers: B0's stages scaled\n"
                 f"by width {width} and depth {depth}, at {size}×{size} by default. With\n"
                 "`include_preprocessing=True` (the default, as keras.applications) the\n"
                 "model takes pixels in [0, 255] and normalizes them itself."),
        model_name=model_name, params=params, size=size, min_size=32, default_name=stem,
        reference=REFERENCE, url=PAPER_URL,
        weights_note=f"; with the top the input must be {size}×{size}",
        input_note=" Any channel count loads the pretrained weights (1 channel: the RGB "
                   "model on grey).",
        extra_args=[
            ("include_preprocessing", "whether the model starts with `Rescaling` and "
             "ImageNet's `Normalization` (keras.applications always has them). Without them "
             "it takes inputs already normalized. Defaults to `True`."),
            ("dropout_rate", f"dropout rate before `predictions`. Defaults to {dropout}."),
            ("drop_connect_rate", "the stochastic-depth rate of the last block (rising "
             "linearly from 0 at the first). Defaults to 0.2."),
        ])
    return register_model(family="efficientnet", default_input_shape=(size, size, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[stem]), top1=TOP1[model_name])(builder)


efficientnet_b0 = _builder("efficientnet_b0")
efficientnet_b1 = _builder("efficientnet_b1")
efficientnet_b2 = _builder("efficientnet_b2")
efficientnet_b3 = _builder("efficientnet_b3")
efficientnet_b4 = _builder("efficientnet_b4")
efficientnet_b5 = _builder("efficientnet_b5")
efficientnet_b6 = _builder("efficientnet_b6")
efficientnet_b7 = _builder("efficientnet_b7")
