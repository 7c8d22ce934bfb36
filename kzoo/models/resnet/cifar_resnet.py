"""CIFAR ResNet v1 (He et al. 2015, §4.2): ResNet-20/32/44/56/110.

The layout of the Keras example "Trains a ResNet on the CIFAR10 dataset"
(`resnet_v1`): a 3×3 conv-BN-ReLU stem with 16 filters, three stages of
(depth − 2) / 6 basic blocks with 16, 32 and 64 filters, the first block of
stages 2 and 3 downsampling with a 1×1 strided convolution shortcut, then
global average pooling and the classifier. Convolutions use He-normal
initialization and L2 weight decay 1e-4, as in the example.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model

REFERENCE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (Sec. 4.2)"

#: variant -> depth (6n + 2)
DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
STAGE_FILTERS = (16, 32, 64)


def resnet_layer(x, filters, *, kernel_size=3, strides=1, activation="relu",
                 batch_normalization=True, weight_decay=1e-4, conv_impl="native", name):
    """Conv2D (`{name}_conv`) → optional BatchNorm (`{name}_bn`) → optional activation."""
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    x = kl.Conv2D(filters, kernel_size, strides=strides, padding="same",
                  kernel_initializer="he_normal", kernel_regularizer=regularizer,
                  implementation=conv_impl, name=f"{name}_conv")(x)
    if batch_normalization:
        x = kl.BatchNorm(name=f"{name}_bn")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def basic_block(x, filters, *, strides=1, weight_decay=1e-4, conv_impl="native", name):
    """Two 3×3 conv-BN layers and a shortcut (1×1 conv when downsampling), then ReLU."""
    kwargs = dict(weight_decay=weight_decay, conv_impl=conv_impl)
    y = resnet_layer(x, filters, strides=strides, name=f"{name}_1", **kwargs)
    y = resnet_layer(y, filters, activation=None, name=f"{name}_2", **kwargs)
    if strides != 1 or x.shape[-1] != filters:
        x = resnet_layer(x, filters, kernel_size=1, strides=strides, activation=None,
                         batch_normalization=False, name=f"{name}_0", **kwargs)
    x = keras.layers.Add(name=f"{name}_add")([x, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def cifar_resnet(
    depth,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name=None,
    conv_impl="native",
    weight_decay=1e-4,
    width=1,
):
    """Builds a CIFAR ResNet v1 of `depth` = 6n + 2 layers, `width` × (16, 32, 64) filters."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"Argument `depth` must be 6n + 2 with n ≥ 1. Received: depth={depth}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"Argument `width` must be an int >= 1 (the filters' multiplier). "
                         f"Received: width={width!r}")
    model_name = name or f"resnet{depth}"
    weights, input_shape, image, inputs = common.builder_inputs(
        model_name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(32, 32, 3), min_size=8,
        require_flatten=False,
    )
    blocks = (depth - 2) // 6
    x = resnet_layer(image, STAGE_FILTERS[0] * width, weight_decay=weight_decay,
                     conv_impl=conv_impl, name="stem")
    for stage, filters in enumerate(STAGE_FILTERS):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, filters * width, strides=strides, weight_decay=weight_decay,
                            conv_impl=conv_impl, name=f"stage{stage + 1}_block{block + 1}")
    # The example's AveragePooling2D(8) + Flatten is global average pooling
    # at 32×32; the global form accepts any input size.
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = kl.Affine(classes, activation=classifier_activation,
                      kernel_initializer="he_normal", name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=model_name)
    return weight_files.load_weights(model, weights)


_DOC = """Instantiates the CIFAR ResNet-{depth} (v1, {n} basic blocks per stage).

    The He et al. (2015, §4.2) network in the Keras CIFAR-10 example layout,
    built from kzoo layers: {params} parameters at 32×32×3 with 10 classes.

    Args:
        include_top: whether to include the pooling + `predictions`
            classifier. Defaults to `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 8×8.
            Defaults to `(32, 32, 3)`.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 10.
        classifier_activation: activation of `predictions`.
        name: model name. Defaults to `"resnet{depth}"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.
        weight_decay: L2 factor on the convolution kernels. Defaults to 1e-4.
        width: int >= 1, multiplies every convolution's filters (16, 32, 64 ×
            `width`: the widening factor k of Zagoruyko & Komodakis's wide
            ResNets). Defaults to 1, the paper's network.

    Returns:
        A `keras.Model`.

    Reference:
        - [He et al., Deep Residual Learning for Image Recognition, CVPR 2016](
          https://arxiv.org/abs/1512.03385)

    Examples:
        >>> model = kzoo.create_model("resnet{depth}", input_shape=(32, 32, 3), classes=10)
        >>> model.count_params()
        {params_int}
    """

_PARAMS = {20: 274442, 32: 470218, 44: 665994, 56: 861770, 110: 1742762}


def _make(variant):
    depth = DEPTHS[variant]

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=10, classifier_activation="softmax", name=variant,
                conv_impl="native", weight_decay=1e-4, width=1):
        return cifar_resnet(depth, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape,
                            pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, name=name,
                            conv_impl=conv_impl, weight_decay=weight_decay, width=width)

    builder.__name__ = builder.__qualname__ = variant
    builder.__module__ = __name__
    builder.__doc__ = _DOC.format(depth=depth, n=(depth - 2) // 6,
                                  params=f"{_PARAMS[depth]:,}", params_int=_PARAMS[depth])
    return register_model(builder, family="cifar_resnet", default_input_shape=(32, 32, 3),
                          min_input_size=8, reference=REFERENCE)


resnet20 = _make("resnet20")
resnet32 = _make("resnet32")
resnet44 = _make("resnet44")
resnet56 = _make("resnet56")
resnet110 = _make("resnet110")
