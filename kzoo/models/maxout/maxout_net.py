"""The convolutional maxout network (Goodfellow et al., 2013)."""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model

REFERENCE = "Goodfellow et al., Maxout Networks, ICML 2013"

#: (maxout units, kernel, pool size) of each convolutional maxout layer: the
#: paper's CIFAR-10 network (pool stride 2).
CONV_LAYERS = ((96, 8, 4), (192, 8, 4), (192, 5, 2))
DENSE_UNITS = 500
DENSE_PIECES = 5


def conv_maxout_block(x, units, kernel_size, pool_size, *, pieces=2, dropout=0.0,
                      conv_impl="native", name):
    """Conv2D with units·pieces filters → Maxout(units) → max pool / 2 → dropout."""
    x = kl.Conv2D(units * pieces, kernel_size, padding="same", implementation=conv_impl,
                  name=f"{name}_conv")(x)
    x = kl.Maxout(units, name=f"{name}_maxout")(x)
    x = kl.MaxPool2D(pool_size, strides=2, padding="same", implementation=conv_impl,
                     name=f"{name}_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


@register_model(family="maxout", default_input_shape=(32, 32, 3), min_input_size=8,
                reference=REFERENCE)
def maxout_net(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=10, classifier_activation="softmax", name="maxout_net",
               conv_impl="native", conv_layers=CONV_LAYERS, pieces=2,
               dense_units=DENSE_UNITS, dense_pieces=DENSE_PIECES, input_dropout=0.2,
               dropout=0.5):
    """Instantiates a convolutional maxout network.

    Each hidden layer computes `units · pieces` linear feature maps and keeps
    the maximum of each group of `pieces` (`kzoo.layers.Maxout`), followed by
    max pooling and dropout; a fully connected maxout layer and a softmax
    layer finish it. The defaults are the paper's CIFAR-10 network.

    Args:
        include_top: whether to include the dense maxout layer and the
            classifier. Defaults to `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 8×8.
            Defaults to `(32, 32, 3)`.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 10.
        classifier_activation: activation of `predictions`.
        name: model name. Defaults to `"maxout_net"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.
        conv_layers: sequence of `(units, kernel, pool size)`, one per
            convolutional maxout layer.
        pieces: linear pieces per convolutional maxout unit. Defaults to 2.
        dense_units: units of the fully connected maxout layer (0: none).
        dense_pieces: its pieces. Defaults to 5.
        input_dropout: dropout rate on the input. Defaults to 0.2.
        dropout: dropout rate after each hidden layer. Defaults to 0.5.

    Returns:
        A `keras.Model`.

    Reference:
        - [Goodfellow et al., Maxout Networks, ICML 2013](
          https://arxiv.org/abs/1302.4389)

    Examples:
        >>> model = kzoo.create_model("maxout_net", input_shape=(28, 28, 1), classes=10)
        >>> model.output.shape
        (None, 10)
    """
    weights, input_shape, x, inputs = common.builder_inputs(
        "maxout_net", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(32, 32, 3), min_size=8,
        require_flatten=include_top,
    )
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for i, (units, kernel, pool) in enumerate(conv_layers):
        x = conv_maxout_block(x, units, kernel, pool, pieces=pieces, dropout=dropout,
                              conv_impl=conv_impl, name=f"block{i + 1}")
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        if dense_units:
            x = kl.Affine(dense_units * dense_pieces, name="fc")(x)
            x = kl.Maxout(dense_units, name="fc_maxout")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name="fc_dropout")(x)
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights)
