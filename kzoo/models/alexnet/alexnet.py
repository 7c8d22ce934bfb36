"""AlexNet, single-tower ("one weird trick" / torchvision layout)."""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.layers import LocalResponseNorm
from kzoo.models.registry import register_model

REFERENCE = (
    "Krizhevsky, One weird trick for parallelizing convolutional neural networks, 2014; "
    "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep CNNs, NeurIPS 2012"
)

#: (filters, kernel, stride, zero padding, max pool after) for conv1..conv5
CONV_LAYERS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)
FC_UNITS = (4096, 4096)
MIN_INPUT = 63  # the third 3×3 / 2 max pooling needs a 3×3 map


def conv_block(x, filters, kernel_size, *, strides, padding, pool, local_response_norm,
               conv_impl, name):
    """Zero padding → Conv2D + ReLU (`{name}`) → optional LRN → optional 3×3 / 2 max pool."""
    x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    x = kl.Conv2D(filters, kernel_size, strides=strides, activation="relu",
                  implementation=conv_impl, name=name)(x)
    if local_response_norm and pool:
        x = LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0, name=f"{name}_norm")(x)
    if pool:
        x = kl.MaxPool2D(3, strides=2, implementation=conv_impl,
                         name=name.replace("conv", "pool"))(x)
    return x


@register_model(family="alexnet", default_input_shape=(224, 224, 3), min_input_size=MIN_INPUT,
                reference=REFERENCE)
def alexnet(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
            pooling=None, classes=1000, classifier_activation="softmax", name="alexnet",
            conv_impl="native", dropout=0.5, local_response_norm=False):
    """Instantiates AlexNet, the single-tower version.

    Five convolutions (64, 192, 384, 256, 256 filters; torchvision's layout,
    61,100,840 parameters at 224×224×3 with 1000 classes) with three 3×3 / 2
    max poolings, then `fc6`, `fc7` (4096, ReLU, dropout before each) and
    `predictions`.

    Args:
        include_top: whether to include the three affine layers. Defaults to
            `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 63×63.
            Defaults to `(224, 224, 3)`; `fc6` is sized to the input (6×6×256
            at 224).
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`.
        name: model name. Defaults to `"alexnet"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.
        dropout: dropout rate before `fc6` and `fc7`. Defaults to 0.5.
        local_response_norm: add local response normalization after conv1
            and conv2 (the 2012 paper's). Defaults to `False`.

    Returns:
        A `keras.Model`.

    Reference:
        - [Krizhevsky, One weird trick for parallelizing convolutional
          neural networks, 2014](https://arxiv.org/abs/1404.5997)

    Examples:
        >>> model = kzoo.create_model("alexnet")
        >>> model.count_params()
        61100840
    """
    weights, input_shape, x, inputs = common.builder_inputs(
        "alexnet", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=MIN_INPUT,
        require_flatten=include_top,
    )
    for i, (filters, kernel, strides, padding, pool) in enumerate(CONV_LAYERS):
        x = conv_block(x, filters, kernel, strides=strides, padding=padding, pool=pool,
                       local_response_norm=local_response_norm, conv_impl=conv_impl,
                       name=f"conv{i + 1}")
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(FC_UNITS):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"fc{i + 6}_dropout")(x)
            x = kl.Affine(units, activation="relu", name=f"fc{i + 6}")(x)
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights)
