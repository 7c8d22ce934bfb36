"""`freeze`: which layers of a model train, with BatchNorm kept in inference mode.

The boundary is a layer of `model.layers` (functional models list their layers
in topological order): that layer and every one before it are frozen, every
later one trains. Batch normalization layers are the exception: unless
`train_bn=True`, every one of them stays frozen (`trainable=False`), also
past the boundary. A frozen BN layer (Keras `BatchNormalization` and
`kzoo.layers.BatchNorm` alike) normalizes with its moving statistics and
never updates them; a trainable one uses batch statistics in `fit` and moves
them, even inside a base called with `training=False` (measured with Keras
3.15), which would wash out the pretrained statistics on a small dataset.
"""

import keras

from kzoo import layers as kl
from kzoo.models import features
from kzoo.models.features import find_stages
from kzoo.transfer.heads import ADAPTER_LAYER_NAMES

__all__ = ["freeze", "head_start", "is_batch_norm", "set_boundary", "stage_boundary",
           "stage_of_layers"]

BATCH_NORM_TYPES = (keras.layers.BatchNormalization, kl.BatchNorm)


def is_batch_norm(layer) -> bool:
    """Whether `layer` is a batch normalization layer (Keras's or kzoo's)."""
    return isinstance(layer, BATCH_NORM_TYPES)


def _all_layers(model):
    # Every layer, nested ones too (a sub-model's BN layers); `_flatten_layers`
    # is the walk Keras itself uses for `Layer.trainable`.
    return list(model._flatten_layers(include_self=False, recursive=True))


def _check_model(model, argument="model"):
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `{argument}` must be a keras.Model. "
                         f"Received: {argument}={model!r}")


def head_start(model) -> int:
    """Index in `model.layers` of the first head layer.

    The head is `pooler` and every layer after it (what
    `kzoo.transfer.classifier` adds); a model without `pooler` has the last
    layer with weights as its head.
    """
    layers = model.layers
    names = [layer.name for layer in layers]
    if "pooler" in names:
        return names.index("pooler")
    weighted = [i for i, layer in enumerate(layers) if layer.weights]
    if not weighted:
        raise ValueError(
            f"Argument `model` has no layer with weights. Received: model={model.name!r}"
        )
    return weighted[-1]


def _base_graph(model):
    """The base's own graph under a classifier with input adapters, else `model`.

    `classifier(..., input_shape=...)` replays the base's layers after
    `input_resize` / `input_channels`; stages are the base's, measured from
    its own input (an upsampled 8×8 input would make every base layer
    "larger than the input"). The base's graph is each layer's first node,
    so this model from its input to its feature map adds no node.
    """
    names = [layer.name for layer in model.layers]
    adapters = [names.index(n) for n in ADAPTER_LAYER_NAMES if n in names]
    if not adapters or "pooler" not in names or max(adapters) + 1 >= len(names):
        return model
    first = model.layers[max(adapters) + 1]
    feature_layer = model.get_layer("pooler").input._keras_history.operation
    if len(first._inbound_nodes) < 2 or len(feature_layer._inbound_nodes) < 2:
        return model
    source = first._inbound_nodes[0].input_tensors[0]
    if not isinstance(source._keras_history.operation, keras.layers.InputLayer):
        return model
    return keras.Model(source, feature_layer._inbound_nodes[0].output_tensors[0])


def _stages(model):
    try:
        return find_stages(_base_graph(model))
    except ValueError:  # not an image model: no stages, layer names still work
        return []


def _boundary(model, until):
    """Index of the last frozen layer in `model.layers` (-1: nothing frozen)."""
    layers = model.layers
    if until is None:
        return head_start(model) - 1
    stages = _stages(model)
    stage_names = [s["name"] for s in stages]
    if isinstance(until, bool) or not isinstance(until, (int, str)):
        raise ValueError(
            "Argument `until` must be None, a layer name, a stage name or a stage index. "
            f"Stages of {model.name!r}: {stage_names}. Received: until={until!r}"
        )
    if isinstance(until, int):
        until = features.stage_at(stages, until, model_name=model.name,
                                  received=f"until={until!r}")["name"]
    names = [layer.name for layer in layers]
    if until not in names:
        raise ValueError(
            f"Unknown `until`: {until!r} is not a layer of {model.name!r}. Stages: "
            f"{stage_names} (any layer name of model.layers works too). Received: until={until!r}"
        )
    return names.index(until)


def set_boundary(model, boundary, *, train_bn=False):
    """Freezes `model.layers[:boundary + 1]`, unfreezes the rest (BN: see `freeze`)."""
    for i, layer in enumerate(model.layers):
        layer.trainable = i > boundary
    if not train_bn:
        for layer in _all_layers(model):
            if is_batch_norm(layer):
                layer.trainable = False
    return [layer.name for layer in model.layers if layer.weights and not _trains(layer)]


def _trains(layer):
    """Whether any weight of `layer` (or of its sublayers) is trainable."""
    return bool(layer.trainable_weights)


def freeze(model, until=None, *, train_bn=False) -> list:
    """Freezes `model` up to and including the layer `until`; later layers train.

    Every layer of `model.layers` up to and including `until` becomes
    non-trainable and every later layer trainable, so calling `freeze` again
    with another `until` moves the boundary (an earlier `until` unfreezes the
    layers in between). Unless `train_bn=True`, every batch normalization
    layer (Keras `BatchNormalization`, `kzoo.layers.BatchNorm`, nested ones
    too) stays frozen, also those past the boundary: a frozen BN layer
    normalizes with its moving statistics and keeps them bit-identical
    through `fit`. With `train_bn=True`, BN layers follow the boundary like
    the others.

    Compile the model after `freeze` (Keras builds an optimizer for the
    trainable weights at compile time).

    Args:
        model: a functional `keras.Model`, e.g. from
            `kzoo.transfer.classifier`.
        until: `None`: everything but the head (the head is `pooler` and the
            layers after it; without a `pooler`, the last layer with
            weights). A stage, by name (the stage's layer name as
            `kzoo.models.features.find_stages` reports it, e.g.
            `"conv4_block6_out"`) or by index (0 is the highest resolution,
            negative indices count from the end); the stages of a classifier
            with input adapters (`input_resize`, `input_channels`) are its
            base's. Or any layer name of `model.layers`.
        train_bn: whether BN layers past the boundary train. Defaults to
            `False`.

    Returns:
        The names of the layers with weights that are now frozen (none of
        their weights trainable), in `model.layers` order; past the boundary
        these are the BN layers.

    Raises:
        ValueError: for an unknown layer or stage name or an index out of
            range (the message lists the stages).

    Examples:
        >>> base = keras.applications.ResNet50(weights=None, include_top=False,
        ...                                    input_shape=(64, 64, 3))
        >>> model = kzoo.transfer.classifier(base, 10)
        >>> frozen = kzoo.transfer.freeze(model)                        # train the head
        >>> frozen = kzoo.transfer.freeze(model, until="conv4_block6_out")  # + conv5
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    """
    _check_model(model)
    if not isinstance(train_bn, bool):
        raise ValueError(f"Argument `train_bn` must be True or False. "
                         f"Received: train_bn={train_bn!r}")
    return set_boundary(model, _boundary(model, until), train_bn=train_bn)


def stage_of_layers(model) -> dict:
    """`{layer name: stage index}` for every layer before the head.

    Stage i holds the layers after stage i − 1's output layer up to and
    including its own (stage 0 also holds the stem, preprocessing and input
    adapters); layers between the last stage's output and the head belong to
    the last stage. A model without stages has every layer in stage 0.
    """
    stage_names = [s["name"] for s in _stages(model)]
    mapping, stage = {}, 0
    last = max(len(stage_names) - 1, 0)
    for layer in model.layers[:head_start(model)]:
        mapping[layer.name] = min(stage, last)
        if stage < len(stage_names) and layer.name == stage_names[stage]:
            stage += 1
    return mapping


def stage_boundary(model) -> int:
    """Boundary index that leaves the base's last stage (with weights) and the head trainable.

    The last stage is the layers after the output of the second-to-last
    stage; when those hold no weights (LeNet's last stage is a pooling
    layer) the boundary moves back a stage at a time until they do. A model
    with one stage has every layer trainable (-1).
    """
    stage_names = [s["name"] for s in _stages(model)]
    names = [layer.name for layer in model.layers]
    start = head_start(model)
    for name in reversed(stage_names[:-1]):
        boundary = names.index(name)
        if any(layer.weights for layer in model.layers[boundary + 1:start]):
            return boundary
    return -1
