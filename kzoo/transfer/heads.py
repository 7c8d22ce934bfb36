"""`classifier`: a new classification head on a pretrained base.

The base's feature layers are reused as they are (the same layer objects,
names and weights, in one flat functional model), so `freeze` can address
them by name and a base with its own top is cut at its last feature map.
The head's layers are named as KerasHub's `ImageClassifier` names them:
`pooler`, `output_dropout`, `predictions`, plus an optional `hidden`.
"""

import sys

import keras
import numpy as np

from kzoo import layers as kl
from kzoo.transfer.channels import CONVERSIONS, ConvertChannels

__all__ = ["classifier", "feature_tensor", "pooled_top_input", "HEAD_LAYER_NAMES", "POOLERS"]

#: `pooling` -> the layer class of `pooler`.
POOLERS = {
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
    "flatten": keras.layers.Flatten,
}

#: Names of the layers `classifier` adds (the adapters in front, the head on top).
HEAD_LAYER_NAMES = ("pooler", "hidden", "output_dropout", "predictions")
ADAPTER_LAYER_NAMES = ("input_resize", "input_channels")

# Layer types a classification top is made of: walking back from a base's
# output over these reaches its last feature map.
_HEAD_TYPES = (
    keras.layers.Dense,
    kl.Affine,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Dropout,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.Softmax,
    # ConvNeXt's head (and keras.applications' ConvNeXt without top) normalizes the pooled
    # features; on a 4-D map the walk has already stopped.
    keras.layers.LayerNormalization,
)


_GLOBAL_POOLINGS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


def _is_1x1_map(tensor):
    shape = tuple(tensor.shape)
    return len(shape) == 4 and shape[1] == 1 and shape[2] == 1


def pooled_top_input(tensor):
    """The input of the global pooling a 1×1 top starts with; else `tensor` itself.

    MobileNetV3 (kzoo's and keras.applications') pools its last feature map
    with `keepdims=True` and computes its hidden layer and class scores with
    1×1 convolutions on the `(1, 1, C)` map (`conv_2`, `logits`, then
    Flatten). Walking back from such a model's scores, the first 4-D tensor
    is the `(1, 1, classes)` logits, not the last feature map. When
    `tensor` is `(1, 1)` spatially and single-input layers with `(1, 1)`
    outputs lead back from it to a `GlobalAveragePooling2D` or
    `GlobalMaxPooling2D` (channels last), that pooling's input is returned.
    Any other tensor (a 1×1 map of a convolutional trunk, whose chain
    reaches a strided layer or a merge first) is returned as it is.

    Args:
        tensor: a symbolic 4-D tensor of a functional model's graph.

    Returns:
        A symbolic tensor of the same graph.
    """
    current = tensor
    while _is_1x1_map(current):
        layer, node_index, _ = current._keras_history
        inputs = list(layer._inbound_nodes[node_index].input_tensors)
        if len(inputs) != 1:
            return tensor
        if isinstance(layer, _GLOBAL_POOLINGS):
            source = inputs[0]
            if (getattr(layer, "data_format", "channels_last") == "channels_last"
                    and len(source.shape) == 4):
                return source
            return tensor
        current = inputs[0]
    return tensor


def _notice(message):
    # kzoo's progress channel (as `kzoo train` prints it): one line on stderr.
    print(f"kzoo: {message}", file=sys.stderr, flush=True)


def _check_base(base):
    if not isinstance(base, keras.Model):
        raise ValueError(
            "Argument `base` must be a keras.Model (a kzoo model, a keras.applications model "
            f"or a loaded .keras model). Received: base={base!r}"
        )
    try:
        inputs, outputs = base.inputs, base.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(
            "Argument `base` must be a functional keras.Model (one whose graph of layers "
            f"is known: built with keras.Input). Received: base={base.name!r} "
            f"({type(base).__name__})"
        )
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ValueError(
            "Argument `base` must take one 4-D image input (batch, height, width, channels). "
            f"Received: base={base.name!r} with input shapes "
            f"{[tuple(x.shape) for x in inputs]}"
        )
    if len(outputs) != 1:
        raise ValueError(
            "Argument `base` must have one output (its features or its predictions). "
            f"Received: base={base.name!r} with {len(outputs)} outputs"
        )


def feature_tensor(base):
    """The last 4-D feature map of `base`: its output, or where its top starts.

    A base without its top returns its output when that is 4-D. Otherwise
    the walk goes back from the output over the layers a classification top
    is made of (Dense, `kzoo.layers.Affine`, Flatten, Reshape, Dropout,
    global pooling, activations, LayerNormalization) to the last tensor with
    a 4-D output. A
    top of 1×1 convolutions on a `keepdims` global pooling (MobileNetV3's
    `conv_2` and `logits`) is cut at the pooling's input
    (`pooled_top_input`).

    Args:
        base: a functional `keras.Model` with one image input and one output.

    Returns:
        A symbolic tensor of `base`'s graph, `(batch, height, width, channels)`.

    Raises:
        ValueError: when the walk meets another kind of layer first, or reaches
            the input (a base without feature layers).
    """
    _check_base(base)
    tensor = base.outputs[0]
    passed = []
    while len(tensor.shape) != 4:
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if not isinstance(layer, _HEAD_TYPES) or len(node.input_tensors) != 1:
            raise ValueError(
                f"Argument `base`: cannot find the last feature map of {base.name!r}: walking "
                f"back from its output over the classification top ({passed or 'nothing'}) "
                f"met layer {layer.name!r} ({type(layer).__name__}), which is not a head layer "
                f"(Dense, Affine, Flatten, Reshape, Dropout, global pooling, activation, "
                f"LayerNormalization), "
                f"before any 4-D output. Received: base={base.name!r}"
            )
        passed.append(layer.name)
        tensor = node.input_tensors[0]
    tensor = pooled_top_input(tensor)  # MobileNetV3's 1×1-convolution top
    if any(tensor is x for x in base.inputs):
        raise ValueError(
            f"Argument `base` has no feature layers: its first 4-D tensor, walking back from "
            f"the output, is its input. Received: base={base.name!r}"
        )
    return tensor


def _check_arguments(classes, pooling, dropout, hidden_units):
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(
            f"Argument `classes` must be a positive int. Received: classes={classes!r}"
        )
    if pooling not in POOLERS:
        raise ValueError(
            f"Argument `pooling` must be one of {list(POOLERS)}. Received: pooling={pooling!r}"
        )
    if (isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating))
            or not 0.0 <= dropout < 1.0):
        raise ValueError(
            f"Argument `dropout` must be a rate in [0, 1). Received: dropout={dropout!r}"
        )
    if hidden_units is not None and (
            isinstance(hidden_units, bool) or not isinstance(hidden_units, (int, np.integer))
            or hidden_units < 1):
        raise ValueError(
            "Argument `hidden_units` must be None or a positive int. "
            f"Received: hidden_units={hidden_units!r}"
        )


def _check_input_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    valid = shape is not None and len(shape) == 3 and all(
        (s is None and i < 2) or (isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                  and s > 0)
        for i, s in enumerate(shape))
    if not valid:
        raise ValueError(
            "Argument `input_shape` must be None or (height, width, channels) of positive ints "
            f"(height and width may be None). Received: input_shape={input_shape!r}"
        )
    return tuple(None if s is None else int(s) for s in shape)


def _adapted_input(base, input_shape):
    """`(inputs, x)`: a new input converted to what `base` takes, or `(None, None)`."""
    base_shape = tuple(base.inputs[0].shape[1:])
    shape = _check_input_shape(input_shape)
    (height, width, channels), (base_h, base_w, base_c) = shape, base_shape
    resize = (base_h, base_w) != (None, None) and (height, width) != (base_h, base_w)
    if resize and (base_h is None or base_w is None):
        raise ValueError(
            f"Argument `input_shape`: base {base.name!r} takes images of shape {base_shape}; "
            f"only a base of fixed height and width is resized to. "
            f"Received: input_shape={input_shape!r}"
        )
    convert = channels != base_c
    if convert and (channels, base_c) not in CONVERSIONS:
        raise ValueError(
            f"Argument `input_shape`: base {base.name!r} takes {base_c}-channel images; "
            f"{channels}-channel input cannot be converted to it (only 1 ↔ 3 channels are). "
            f"Received: input_shape={input_shape!r}"
        )
    if not resize and not convert:
        return None, None
    inputs = keras.Input(shape, name="pixels")
    x = inputs
    done = []
    if resize:
        x = keras.layers.Resizing(base_h, base_w, interpolation="bilinear",
                                  name="input_resize")(x)
        done.append(f"resized to {base_h}×{base_w} (bilinear)")
    if convert:
        x = ConvertChannels(base_c, name="input_channels")(x)
        done.append(f"converted from {channels} to {base_c} channels "
                    f"({CONVERSIONS[channels, base_c]})")
    _notice(f"classifier: input {shape} differs from what base {base.name!r} takes "
            f"({base_shape}): {' and '.join(done)} in front of the base; the base's first "
            f"convolution keeps its own weights (not re-initialized)")
    return inputs, x


def classifier(base, classes, *, pooling="avg", dropout=0.0, hidden_units=None,
               activation="softmax", input_shape=None, name=None) -> keras.Model:
    """A classifier for `classes` classes on the features of a pretrained `base`.

    The new model is one flat functional model that reuses `base`'s feature
    layers (the same layer objects, names and weights; `model.get_layer(
    "conv2_block1_1_conv")` works) and puts a new head on its last feature map:

    `pooler` (`"avg"`: GlobalAveragePooling2D, `"max"`: GlobalMaxPooling2D,
    `"flatten"`: Flatten) → `hidden` (Dense `hidden_units`, ReLU; only with
    `hidden_units`) → `output_dropout` (Dropout `dropout`, always present)
    → `predictions` (Dense `classes`, `activation`). Dropout sits right before
    `predictions`, as in KerasHub's `ImageClassifier`.

    A base with its own top (a kzoo model or keras.applications model with
    `include_top=True`, a trained `.keras` file) is cut at its last feature
    map: the walk back from its output over Dense / `kzoo.layers.Affine` /
    Flatten / Reshape / Dropout / global pooling / activation layers stops at
    the last layer with a 4-D output (MobileNetV3's top of 1×1 convolutions
    on a `keepdims` global pooling is cut before that pooling, see
    `feature_tensor`). The base's own preprocessing (the zoo
    checkpoints' `scale` / `standardize` layers, which take raw pixels 0–255)
    stays in front.

    With an `input_shape` other than the base's, an `input_resize` layer
    (bilinear Resizing to the base's height and width) and an
    `input_channels` layer (`kzoo.transfer.ConvertChannels`: 1 → 3 repeats the
    grey channel, 3 → 1 is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B)
    are put in front of the base, and a `kzoo: classifier: ...` line on
    stderr says so (kzoo's progress channel). The base's first convolution is
    not re-initialized. The base's layers are then called a second time, on
    the new input: their `layer.output` still names the tensor of `base`'s
    own graph (`kzoo.models.feature_extractor` and `find_stages` read the
    classifier's own; `model.get_layer("pooler").input` is its feature map).

    Args:
        base: a functional `keras.Model` with one 4-D image input, with or
            without its top (`kzoo.create_model(...)`, `keras.applications`,
            `keras.saving.load_model(...)`, `kzoo.transfer.load_base(...)`).
        classes: positive int, the number of classes.
        pooling: `"avg"`, `"max"` or `"flatten"`. Defaults to `"avg"`.
        dropout: rate of `output_dropout`, in [0, 1). Defaults to 0.
        hidden_units: `None`, or the width of a ReLU `hidden` layer.
        activation: activation of `predictions`. Defaults to `"softmax"`
            (`None` gives logits).
        input_shape: `None` (the base's), or `(height, width, channels)` of the
            images the classifier takes.
        name: model name. Defaults to `"{base.name}_classifier"`.

    Returns:
        A `keras.Model` (not compiled).

    Raises:
        ValueError: naming the argument, for `classes` not a positive int,
            a base without a 4-D image input or without feature layers, an
            unknown `pooling`, a `dropout` outside [0, 1), a bad
            `hidden_units`, or an `input_shape` whose channels cannot be
            converted (only 1 ↔ 3 can).

    Examples:
        >>> base = kzoo.create_model("lenet", weights="fashion_mnist")
        >>> model = kzoo.transfer.classifier(base, 5, dropout=0.2)
        >>> [layer.name for layer in model.layers[-3:]]
        ['pooler', 'output_dropout', 'predictions']
        >>> rgb = kzoo.transfer.classifier(base, 5, input_shape=(32, 32, 3))
    """
    _check_arguments(classes, pooling, dropout, hidden_units)
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(f"Argument `activation` must be None, the name of a Keras activation "
                         f"or a callable. Received: activation={activation!r}") from None
    features = feature_tensor(base)
    trunk = keras.Model(base.inputs[0], features)  # the feature layers, shared with `base`
    clash = sorted({layer.name for layer in trunk.layers}
                   & set(HEAD_LAYER_NAMES + ADAPTER_LAYER_NAMES))
    if clash:
        raise ValueError(
            f"Argument `base` has feature layers named {clash}, the names of the layers "
            f"classifier() adds. Received: base={base.name!r}"
        )
    inputs, x = (None, None) if input_shape is None else _adapted_input(base, input_shape)
    if inputs is None:
        inputs = base.inputs[0]
    else:
        # Replay the feature layers on the adapted input: a functional model's
        # `call` (not `__call__`, which would nest `trunk` as one layer) calls each of
        # its layers, the same objects, on the new symbolic tensor.
        features = trunk.call(x)
    x = POOLERS[pooling](name="pooler")(features)
    if hidden_units is not None:
        x = keras.layers.Dense(int(hidden_units), activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(float(dropout), name="output_dropout")(x)
    outputs = keras.layers.Dense(int(classes), activation=activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or f"{base.name}_classifier")
