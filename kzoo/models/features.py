"""Multi-scale feature extraction: the outputs of a model's stages.

A stage is a run of layers at one spatial resolution; its output is the last
layer computed at that resolution before the feature map shrinks (for ResNet-50:
`conv1_relu`, `conv2_block3_out`, `conv3_block4_out`, `conv4_block6_out`,
`conv5_block3_out`). Stages are found from the functional graph, so every
convolutional kzoo model (and most Keras ones) is covered without per-family
tables.
"""

import math

import keras

__all__ = ["feature_extractor", "find_stages", "stage_at"]


def _spatial(shape):
    shape = tuple(shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return shape[1], shape[2]


def _output(model, layer):
    """`layer`'s output in `model`'s own graph.

    A layer shared by two models (`kzoo.transfer.classifier` replays a base's
    layers on a resized input) has a node in each; `layer.output` is always
    the first one's.
    """
    if len(layer._inbound_nodes) > 1:
        for nodes in getattr(model, "_nodes_by_depth", {}).values():
            for node in nodes:
                if node.operation is layer:
                    return node.outputs[0] if len(node.outputs) == 1 else node.outputs
    return layer.output


_GLOBAL_POOLINGS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


def _pooled_operations(model):
    """ids of the operations of `model` that compute from global poolings only.

    Squeeze-excite branches (MobileNetV3, EfficientNet) pool the feature map
    to 1×1 with `keepdims=True` and gate it back with a `Multiply`; their 1×1
    maps are no stage. `Multiply` itself has a full-size input, so it is not
    one of these.
    """
    pooled = set()
    for depth in sorted(getattr(model, "_nodes_by_depth", {}), reverse=True):  # inputs first
        for node in model._nodes_by_depth[depth]:
            inbound = [t._keras_history.operation for t in node.input_tensors]
            if isinstance(node.operation, _GLOBAL_POOLINGS) or (
                    inbound and all(id(op) in pooled for op in inbound)):
                pooled.add(id(node.operation))
    return pooled


def find_stages(model) -> list:
    """The stages of `model`: a list of dicts `name`, `reduction`, `channels`, `shape`.

    `reduction` is the input size over the stage's size, rounded to a power of
    two (a 299 input and a 35 map give 8), as timm's `feature_info` reports it.
    """
    input_hw = _spatial(model.inputs[0].shape)
    if input_hw is None:
        raise ValueError(
            "feature_extractor needs a model with a 4D image input of known height and width. "
            f"Received: model {model.name!r} with input shape {tuple(model.inputs[0].shape)}"
        )
    stages = []
    # (size, layer) of the smallest resolution seen so far; layers larger than
    # it (zero-padding before a strided layer) are skipped, and so are
    # squeeze-excite branches (1×1 maps computed from a global pooling).
    current = (input_hw[0] * input_hw[1], None)
    pooled = _pooled_operations(model)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or id(layer) in pooled:
            continue
        output = _output(model, layer)
        hw = _spatial(output.shape) if not isinstance(output, (list, tuple)) else None
        if hw is None:
            continue
        size = hw[0] * hw[1]
        if size < current[0]:
            if current[1] is not None:
                stages.append(current[1])
            current = (size, layer)
        elif size == current[0]:
            current = (size, layer)
    if current[1] is not None:
        stages.append(current[1])
    info = []
    for layer in stages:
        output = _output(model, layer)
        h, w = _spatial(output.shape)
        ratio = input_hw[0] / h
        info.append({
            "name": layer.name,
            "reduction": 2 ** round(math.log2(ratio)) if ratio >= 1 else ratio,
            "channels": int(output.shape[-1]),
            "shape": tuple(output.shape[1:]),
        })
    return info


def stage_at(info, index, *, model_name, received):
    """`info[index]` of `find_stages`' list; an index out of range is a `ValueError`."""
    if not -len(info) <= index < len(info):
        raise ValueError(
            f"Stage index out of range: {model_name!r} has {len(info)} stages "
            f"(0 to {len(info) - 1}: {[s['name'] for s in info]}). Received: {received}"
        )
    return info[index]


def feature_extractor(model, stages=None, *, name=None):
    """A model returning the outputs of the chosen stages of `model`.

    Args:
        model: a functional `keras.Model` with an image input, e.g. from
            `kzoo.create_model`.
        stages: `None` (all stages), or a list of stage indices (0 is the
            highest resolution; negative indices count from the end) and/or
            layer names.
        name: name of the new model. Defaults to `"{model.name}_features"`.

    Returns:
        A `keras.Model` sharing `model`'s layers and weights, with one output
        per chosen stage. Its `feature_info` attribute lists, per output, the
        layer `name`, the `reduction` (input size / feature size) and the
        `channels`.

    Raises:
        ValueError: for a stage index out of range or an unknown layer name.

    Examples:
        >>> backbone = kzoo.create_model("resnet50", include_top=False)
        >>> features = kzoo.models.feature_extractor(backbone, stages=[1, 2, 3, 4])
        >>> [(f["reduction"], f["channels"]) for f in features.feature_info]
        [(4, 256), (8, 512), (16, 1024), (32, 2048)]
    """
    info = find_stages(model)
    if stages is None:
        chosen = list(info)
    else:
        if isinstance(stages, (int, str)):
            stages = [stages]
        chosen = []
        for stage in stages:
            if isinstance(stage, bool) or not isinstance(stage, (int, str)):
                raise ValueError(
                    "Argument `stages` must hold stage indices or layer names. "
                    f"Received: stages={stages!r}"
                )
            if isinstance(stage, int):
                chosen.append(stage_at(info, stage, model_name=model.name,
                                       received=f"stages={stages!r}"))
            else:
                match = [s for s in info if s["name"] == stage]
                if not match:
                    try:
                        layer = model.get_layer(stage)
                    except ValueError:
                        raise ValueError(
                            f"Unknown stage {stage!r}: not a layer of {model.name!r}. Stages: "
                            f"{[s['name'] for s in info]}. Received: stages={stages!r}"
                        ) from None
                    output = _output(model, layer)
                    hw = _spatial(output.shape)
                    if hw is None:
                        raise ValueError(
                            f"Layer {stage!r} does not output a 4D feature map. "
                            f"Received: stages={stages!r}"
                        )
                    ratio = _spatial(model.inputs[0].shape)[0] / hw[0]
                    match = [{
                        "name": stage,
                        "reduction": 2 ** round(math.log2(ratio)) if ratio >= 1 else ratio,
                        "channels": int(output.shape[-1]),
                        "shape": tuple(output.shape[1:]),
                    }]
                chosen.append(match[0])
    outputs = [_output(model, model.get_layer(s["name"])) for s in chosen]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    extractor = keras.Model(inputs, outputs, name=name or f"{model.name}_features")
    extractor.feature_info = chosen
    return extractor
