"""ConvNeXt Tiny to XLarge: a ResNet modernized towards vision transformers.

As keras.applications builds them: ImageNet's normalization inside the model
(`{stem}_prestem_normalization`, for 3-channel inputs, so the model takes
pixels in [0, 255]), a "patchify" stem (a 4×4 convolution of stride 4, then
LayerNormalization), four stages of ConvNeXt blocks separated by downsampling
blocks (LayerNormalization, then a 2×2 convolution of stride 2), and a head
of global average pooling, LayerNormalization and a dense classifier. A block
is a 7×7 depthwise convolution, LayerNormalization, a pointwise expansion to
4× the channels, GELU, a pointwise projection back, a learned per-channel
scale (`kzoo.layers.LayerScale`) and stochastic depth (`kzoo.layers.DropPath`)
on the residual branch.

Layer names are keras.applications', always prefixed with its model name for
the variant (`convnext_tiny_stem`, `convnext_tiny_stage_0_block_0_depthwise_conv`,
..., `convnext_tiny_head_dense`) whatever `name` says, and the stem and the
downsampling blocks are nested `keras.Sequential` models as there (its legacy
HDF5 files store each as one group), so its weight files load by name. Its
grouped `Conv2D(groups=C)` depthwise kernels (7, 7, 1, C) load into
`kzoo.layers.DepthwiseConv2D`'s (7, 7, C, 1) by a reshape (the same memory
order; `kzoo.models.weights`).
"""

import math
import numbers

import keras
import numpy as np

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.common import check_bool, check_rate
from kzoo.models.convnext.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = "Liu et al., A ConvNet for the 2020s, CVPR 2022"
PAPER_URL = "https://arxiv.org/abs/2201.03545"
LN_EPSILON = 1e-6  # keras.applications' (and the paper's) LayerNormalization epsilon
#: ImageNet's mean and variance of pixels in [0, 255] (keras.applications' `PreStem`).
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)

#: registry name (keras.applications' model name) -> (blocks per stage, channels per stage,
#: parameters with 1000 classes, published ImageNet top-1 % of the "imagenet" weights).
VARIANTS = {
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768), 28_589_128, 81.3),
    "convnext_small": ((3, 3, 27, 3), (96, 192, 384, 768), 50_223_688, 82.3),
    "convnext_base": ((3, 3, 27, 3), (128, 256, 512, 1024), 88_591_464, 85.3),
    "convnext_large": ((3, 3, 27, 3), (192, 384, 768, 1536), 197_767_336, 86.3),
    "convnext_xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048), 350_196_968, 86.7),
}


def check_layer_scale(value):
    """`None` (no LayerScale) or a finite number, as a float."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (
        math.isfinite(value)
    ):
        raise ValueError(
            "Argument `layer_scale_init_value` must be None or a finite float. "
            f"Received: layer_scale_init_value={value!r}"
        )
    return float(value)


def drop_path_rates(depths, drop_path_rate):
    """The stochastic-depth rate of every block: linear from 0 to `drop_path_rate`.

    Over all blocks of all stages, first to last (the paper's and
    keras.applications' schedule: `np.linspace(0, drop_path_rate, sum(depths))`).
    """
    return [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]


def convnext_block(x, projection_dim, *, drop_path_rate=0.0, layer_scale_init_value=1e-6,
                   conv_impl="native", name):
    """One ConvNeXt block, `x + branch(x)`, with keras.applications' layer names.

    The branch: 7×7 depthwise convolution (`{name}_depthwise_conv`),
    LayerNormalization (`{name}_layernorm`), pointwise expansion to
    4 × `projection_dim` (`{name}_pointwise_conv_1`, an `Affine` over the
    channels), GELU (`{name}_gelu`), pointwise projection back
    (`{name}_pointwise_conv_2`), `LayerScale` (`{name}_layer_scale`, unless
    `layer_scale_init_value` is `None`) and `DropPath`
    (`{name}_stochastic_depth`), or a linear activation (`{name}_identity`)
    when `drop_path_rate` is 0.
    """
    inputs = x
    x = kl.DepthwiseConv2D(7, padding="same", implementation=conv_impl,
                           name=f"{name}_depthwise_conv")(x)
    x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{name}_layernorm")(x)
    x = kl.Affine(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = keras.layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = kl.Affine(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = kl.LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        x = kl.DropPath(drop_path_rate, name=f"{name}_stochastic_depth")(x)
    else:
        x = keras.layers.Activation("linear", name=f"{name}_identity")(x)
    # keras.applications writes `inputs + x` (an operation, not a layer); an `Add` layer
    # (no weights, so the files load the same) lets feature_extractor see the block's output.
    return keras.layers.Add(name=f"{name}_add")([inputs, x])


def stem(filters, *, conv_impl="native", prefix):
    """`{prefix}_stem`: a 4×4 convolution of stride 4, then LayerNormalization (one Sequential)."""
    return keras.Sequential([
        kl.Conv2D(filters, 4, strides=4, implementation=conv_impl, name=f"{prefix}_stem_conv"),
        keras.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{prefix}_stem_layernorm"),
    ], name=f"{prefix}_stem")


def downsampling_block(filters, index, *, conv_impl="native", prefix):
    """`{prefix}_downsampling_block_{index}`: LayerNormalization, then a 2×2 convolution of
    stride 2 (one Sequential)."""
    return keras.Sequential([
        keras.layers.LayerNormalization(epsilon=LN_EPSILON,
                                        name=f"{prefix}_downsampling_layernorm_{index}"),
        kl.Conv2D(filters, 2, strides=2, implementation=conv_impl,
                  name=f"{prefix}_downsampling_conv_{index}"),
    ], name=f"{prefix}_downsampling_block_{index}")


def convnext(model_name, *, include_top, weights, input_tensor, input_shape, pooling, classes,
             classifier_activation, include_preprocessing, drop_path_rate,
             layer_scale_init_value, name, conv_impl):
    """Builds the ConvNeXt `model_name` (a key of `VARIANTS`)."""
    depths, dims = VARIANTS[model_name][:2]
    check_bool(include_preprocessing, "include_preprocessing")
    check_rate(drop_path_rate, "drop_path_rate")
    layer_scale_init_value = check_layer_scale(layer_scale_init_value)
    presets = PRESETS[model_name]
    weights, input_shape, image, inputs = common.builder_inputs(
        model_name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=include_top,
    )
    prefix = model_name  # keras.applications' default name: its files' layer names
    x = image
    if include_preprocessing and input_shape[-1] == 1 and weights is not None:
        # With pretrained weights a grey model is the RGB model on [g, g, g] (as EfficientNet):
        # keras.applications would skip the normalization its weights were trained with.
        x = common.grey_to_rgb(x)
    if include_preprocessing and x.shape[-1] == 3:
        x = keras.layers.Normalization(mean=list(IMAGENET_MEAN), variance=list(IMAGENET_VARIANCE),
                                       name=f"{prefix}_prestem_normalization")(x)

    rates = drop_path_rates(depths, drop_path_rate)
    index = 0
    for i, (depth, filters) in enumerate(zip(depths, dims)):
        if i == 0:
            x = stem(filters, conv_impl=conv_impl, prefix=prefix)(x)
        else:
            x = downsampling_block(filters, i - 1, conv_impl=conv_impl, prefix=prefix)(x)
        for j in range(depth):
            x = convnext_block(x, filters, drop_path_rate=rates[index],
                               layer_scale_init_value=layer_scale_init_value,
                               conv_impl=conv_impl, name=f"{prefix}_stage_{i}_block_{j}")
            index += 1

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}_head_gap")(x)
        x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{prefix}_head_layernorm")(x)
        x = kl.Affine(classes, activation=classifier_activation, name=f"{prefix}_head_dense")(x)
    else:
        # keras.applications' unnamed layers (Keras names them: `global_average_pooling2d`,
        # `layer_normalization`, ... in a fresh session), normalizing the features always.
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D()(x)
        x = keras.layers.LayerNormalization(epsilon=LN_EPSILON)(x)
    model = keras.Model(inputs, x, name=name or model_name)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


def _builder(model_name):
    depths, dims, params, top1 = VARIANTS[model_name]
    variant = model_name.split("_", 1)[1]
    keras_name = f"ConvNeXt{variant.capitalize() if variant != 'xlarge' else 'XLarge'}"

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                include_preprocessing=True, drop_path_rate=0.0, layer_scale_init_value=1e-6,
                name=None, conv_impl="native"):
        return convnext(
            model_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes,
            classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing, drop_path_rate=drop_path_rate,
            layer_scale_init_value=layer_scale_init_value, name=name, conv_impl=conv_impl,
        )

    builder.__name__ = builder.__qualname__ = model_name
    builder.__module__ = __name__
    builder.__doc__ = f"""Instantiates {keras_name}: stages of {list(depths)} blocks.

    The architecture and layer names of `keras.applications.{keras_name}`
    ({params:,} parameters with 1000 classes; {list(dims)} channels per
    stage), built from kzoo layers. With
    `include_preprocessing=True` (the default, as keras.applications) a
    3-channel model takes pixels in [0, 255] and normalizes them itself;
    other channel counts (and `include_preprocessing=False`) take inputs
    already normalized.

    Args:
        include_top: whether to include the head (global average pooling,
            LayerNormalization, the classifier `{model_name}_head_dense`).
            Without it the features end with a LayerNormalization, after the
            pooling if any (as keras.applications). Defaults to `True`.
        weights: `None` (random initialization), `"imagenet"`
            (keras.applications' file, its URL and SHA-256 hash; with the top
            the input must be 224×224), or the path to a weights file
            (keras.applications' legacy HDF5 layout, a Keras `.weights.h5` or
            a `.keras` file). A stem trained on RGB is adapted to another
            channel count; a 1-channel model with pretrained weights and its
            preprocessing repeats the grey channel to RGB first.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`; height and width
            at least 32. Defaults to `(224, 224, 3)`.
        pooling: without the top, `None` (4D feature map), `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of the classifier. Defaults to
            `"softmax"`.
        include_preprocessing: whether a 3-channel model starts with
            ImageNet's `Normalization` of pixels in [0, 255]. Defaults to `True`.
        drop_path_rate: the stochastic-depth rate of the last block, rising
            linearly from 0 at the first (`kzoo.layers.DropPath`). Defaults
            to 0.0 (keras.applications': no stochastic depth).
        layer_scale_init_value: the initial value of every block's
            `LayerScale`, or `None` for no LayerScale. Defaults to 1e-6.
        name: model name. Defaults to keras.applications' `"{model_name}"`;
            the layer names keep that prefix whatever `name` says.
        conv_impl: `"native"` or `"im2col"` for every convolution.

    Returns:
        A `keras.Model`.

    Reference:
        - [{REFERENCE}]({PAPER_URL})

    Examples:
        >>> model = kzoo.create_model("{model_name}", weights=None)
        >>> model.count_params()
        {params}
    """
    return register_model(builder, family="convnext", default_input_shape=(224, 224, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[model_name]), top1=top1)


convnext_tiny = _builder("convnext_tiny")
convnext_small = _builder("convnext_small")
convnext_base = _builder("convnext_base")
convnext_large = _builder("convnext_large")
convnext_xlarge = _builder("convnext_xlarge")
