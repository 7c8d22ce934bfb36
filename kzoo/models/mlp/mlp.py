"""The multi-layer perceptron: affine layers with a nonlinearity between them."""

import numbers
from collections.abc import Iterable

import keras
import numpy as np

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model

REFERENCE = (
    "Rumelhart, Hinton & Williams, Learning representations by back-propagating errors, "
    "Nature 1986"
)


def dense_block(x, units, *, activation="relu", dropout=0.0, name):
    """Affine (`{name}`) with `activation`, then optional dropout (`{name}_dropout`)."""
    x = kl.Affine(units, activation=activation, name=name)(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


@register_model(family="mlp", default_input_shape=(784,), min_input_size=1, reference=REFERENCE)
def mlp(
    *,
    hidden_units=(512, 256),
    activation="relu",
    dropout=0.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=(784,),
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="mlp",
    conv_impl="native",
):
    """Instantiates a multi-layer perceptron.

    Inputs of any rank are flattened first, so images work as they are.

    Args:
        hidden_units: sequence of positive ints, the width of each hidden
            layer (`hidden1`, `hidden2`, ...). Defaults to `(512, 256)`.
        activation: activation of the hidden layers. Defaults to `"relu"`.
        dropout: dropout rate after each hidden layer. Defaults to 0.
        include_top: whether to add the `predictions` layer; without it the
            model returns the last hidden layer. Defaults to `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as input.
        input_shape: input shape without the batch axis. Defaults to `(784,)`.
        pooling: unused (no feature map); accepted for the common signature.
        classes: number of classes. Defaults to 10.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        name: model name. Defaults to `"mlp"`.
        conv_impl: unused (no convolutions); accepted for the common signature.

    Returns:
        A `keras.Model`.

    Reference:
        - [Rumelhart, Hinton & Williams, Learning representations by
          back-propagating errors, Nature 1986](https://doi.org/10.1038/323533a0)

    Examples:
        >>> model = kzoo.create_model("mlp", hidden_units=(2,), activation="tanh",
        ...                           input_shape=(2,), classes=2)
        >>> model.count_params()
        12
    """
    common.check_conv_impl(conv_impl)
    common.check_classes(classes, include_top)
    units = (tuple(hidden_units) if isinstance(hidden_units, Iterable)
             and not isinstance(hidden_units, (str, bytes)) else None)
    if units is None or any(not isinstance(u, int) or isinstance(u, bool) or u < 1
                            for u in units):
        raise ValueError(
            "Argument `hidden_units` must be a sequence of positive ints, e.g. [512, 256]. "
            f"Received: hidden_units={hidden_units!r}"
        )
    hidden_units = units
    if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ValueError(f"Argument `dropout` must be a number in [0, 1). "
                         f"Received: dropout={dropout!r}")
    weights = weight_files.check_weights(weights, model_name="mlp", presets={},
                                   include_top=include_top, classes=classes)
    if input_tensor is not None and input_shape == (784,):
        input_shape = tuple(input_tensor.shape[1:])
    input_shape = common.as_shape_tuple(input_shape, "mlp")
    if not input_shape or any(
            not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1
            for d in input_shape):
        raise ValueError(
            "Argument `input_shape` of 'mlp' must be a tuple of positive ints. "
            f"Received: input_shape={input_shape}"
        )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    if len(input_shape) > 1:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units):
        x = dense_block(x, units, activation=activation, dropout=dropout, name=f"hidden{i + 1}")
    if include_top:
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights)
