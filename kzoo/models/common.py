"""Helpers every kzoo builder shares: input handling, the head, weight loading.

The conventions are keras.applications': an `input_shape` checked against a
default and a minimum size (`obtain_input_shape`), an optional
`input_tensor`, `include_top` / `pooling` for the head, and
`weights=None | "imagenet" | path`. Pretrained files are fetched with
`keras.utils.get_file(..., file_hash=...)` exactly as keras.applications
fetches them, and loaded by layer name (or by order, as Keras itself does,
when the names differ); a first convolution trained on RGB is adapted to
another channel count the way timm's `adapt_input_conv` does.
"""

import dataclasses
import math
import os
import warnings

import h5py
import keras
import numpy as np

POOLINGS = (None, "avg", "max")
CONV_IMPLEMENTATIONS = ("native", "im2col")


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a family's pretrained file lives: URLs and MD5 hashes, with and without top.

    The hashes are those keras.applications passes to `keras.utils.get_file`.
    """

    top_url: str
    top_hash: str
    notop_url: str
    notop_hash: str
    classes: int = 1000

    def fetch(self, include_top):
        url, file_hash = (
            (self.top_url, self.top_hash) if include_top else (self.notop_url, self.notop_hash)
        )
        return keras.utils.get_file(
            os.path.basename(url), url, cache_subdir="models", file_hash=file_hash
        )


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def check_conv_impl(conv_impl):
    if conv_impl not in CONV_IMPLEMENTATIONS:
        raise ValueError(
            f"Argument `conv_impl` must be one of {list(CONV_IMPLEMENTATIONS)}. "
            f"Received: conv_impl={conv_impl!r}"
        )
    return conv_impl


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(
            f"Argument `pooling` must be one of {list(POOLINGS)}. Received: pooling={pooling!r}"
        )
    return pooling


def check_weights(weights, *, model_name, presets, include_top, classes):
    """Validates `weights` before anything is built.

    Args:
        weights: `None`, a preset name (a key of `presets`) or a file path.
        model_name: the registry name, for messages.
        presets: dict of preset name -> `PretrainedWeights`.
        include_top: whether the model has its classifier.
        classes: number of classes asked for.

    Returns:
        `weights` unchanged.

    Raises:
        ValueError: for an unknown name or a missing file, and for
            `include_top=True` with a preset whose class count differs.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "Argument `weights` must be None, a weights name or a file path. "
            f"Received: weights={weights!r}"
        )
    weights = os.fspath(weights)
    if weights in presets:
        expected = presets[weights].classes
        if include_top and classes != expected:
            raise ValueError(
                f"If using `weights={weights!r}` with `include_top=True`, `classes` should "
                f"be {expected}. Received: classes={classes}"
            )
        return weights
    if os.path.exists(weights):
        return weights
    available = sorted(presets) or ["(no pretrained weights for this model)"]
    raise ValueError(
        f"Argument `weights` of {model_name!r} must be None, one of {available}, or the path "
        f"to an existing weights file. Received: weights={weights!r}"
    )


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


def resolve_input_shape(input_shape, *, default_shape, min_size, model_name,
                        require_flatten=False, weights=None, input_tensor=None):
    """The image input shape, checked as keras.applications' `obtain_input_shape` does.

    `None` gives `default_shape` (keeping a channel count taken from
    `input_tensor`). Spatial sizes below `min_size` raise; `None` spatial sizes
    are allowed unless the head flattens (`require_flatten`).
    """
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        return tuple(default_shape)
    input_shape = tuple(input_shape)
    if len(input_shape) != len(default_shape) or any(
        d is not None and (not isinstance(d, (int, np.integer)) or d <= 0) for d in input_shape
    ):
        raise ValueError(
            f"Argument `input_shape` of {model_name!r} must be a tuple of "
            f"{len(default_shape)} positive ints (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"The channel count of {model_name!r} must be known. "
            f"Received: input_shape={input_shape}"
        )
    spatial = input_shape[:-1]
    if require_flatten and any(d is None for d in spatial):
        raise ValueError(
            f"{model_name!r} with `include_top=True` flattens its features, so the input "
            f"height and width must be known. Received: input_shape={input_shape}"
        )
    if any(d is not None and d < min_size for d in spatial):
        raise ValueError(
            f"Input size of {model_name!r} must be at least {min_size}x{min_size}. "
            f"Received: input_shape={input_shape}"
        )
    if (
        weights is not None
        and require_flatten
        and not os.path.exists(str(weights))
        and spatial != tuple(default_shape[:-1])
    ):
        raise ValueError(
            f"When setting `include_top=True` and loading {weights!r} weights, the input "
            f"height and width of {model_name!r} must be {tuple(default_shape[:-1])}. "
            f"Received: input_shape={input_shape}"
        )
    return tuple(int(d) if d is not None else None for d in input_shape)


def model_inputs(input_shape, input_tensor):
    """Returns `(image_input, model_inputs)` as keras.applications does.

    `image_input` is the tensor the network starts from; `model_inputs` are
    the source inputs of `input_tensor` when one is given.
    """
    if input_tensor is None:
        image = keras.Input(shape=input_shape)
        return image, image
    if keras.backend.is_keras_tensor(input_tensor):
        image = input_tensor
    else:
        image = keras.Input(tensor=input_tensor, shape=input_shape)
    return image, keras.utils.get_source_inputs(input_tensor)


# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


def global_pool(x, pooling, *, name=None):
    """`"avg"` / `"max"` global pooling or `None` (keep the feature map)."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name=name or "avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name=name or "max_pool")(x)
    return x


def pooled_classifier(x, *, include_top, pooling, classes, classifier_activation,
                      dropout=0.0):
    """Global average pooling + `predictions` (the ResNet/Inception head), or `pooling`.

    Args:
        x: the last feature map.
        include_top: add the classifier.
        pooling: used only without the top: `None`, `"avg"` or `"max"`.
        classes: classifier width.
        classifier_activation: activation of `predictions`.
        dropout: dropout rate before the classifier (GoogLeNet uses 0.4).
    """
    from kzoo import layers as kl

    if not include_top:
        return global_pool(x, pooling)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return kl.Affine(classes, activation=classifier_activation, name="predictions")(x)


def check_classes(classes, include_top):
    if include_top and (not isinstance(classes, (int, np.integer)) or classes < 1):
        raise ValueError(
            f"Argument `classes` must be a positive int. Received: classes={classes!r}"
        )
    return classes


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #


def load_weights(model, weights, *, presets=None, include_top=True):
    """Loads `weights` (a preset name or a path) into `model`.

    Preset names are fetched with `keras.utils.get_file` and the MD5 hash of
    keras.applications. Legacy HDF5 files (the keras.applications layout:
    one group per layer name, attribute `layer_names`) are matched by layer
    name when every weighted layer of `model` is in the file, else by order
    (what `keras.Model.load_weights` does with such files). Keras
    `.weights.h5` files go through `model.load_weights`. In both cases a
    first convolution whose input channels differ from the file's is adapted
    with `adapt_input_conv`.
    """
    if weights is None:
        return model
    presets = presets or {}
    path = presets[weights].fetch(include_top) if weights in presets else os.fspath(weights)
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        legacy = "layer_names" in group.attrs
        if legacy:
            saved = _read_legacy_group(group)
    if legacy:
        _assign(model, saved, source=path)
        return model
    try:
        with warnings.catch_warnings():
            # A failed attempt (another channel count) warns about each layer it skipped.
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except ValueError:
        channels = model.inputs[0].shape[-1]
        if channels == 3:
            raise
        # Another channel count: load into an RGB twin, then adapt its first conv.
        twin = _with_input_channels(model, 3)
        twin.load_weights(path)
        _assign(model, [(l.name, [v.numpy() for v in _legacy_weights(l)])
                        for l in twin.layers if _legacy_weights(l)], source=path)
    return model


def adapt_input_conv(kernel, in_channels):
    """Adapts a first-convolution kernel (kh, kw, C, filters) to `in_channels`.

    As timm's `adapt_input_conv`: one channel sums the kernel over its input
    channels (so a grey image g gives the RGB model's output on [g, g, g]); more
    channels repeat the RGB kernel cyclically and scale it by 3 / in_channels,
    which keeps the activation scale.

    Example:

    >>> k = np.ones((7, 7, 3, 64), "float32")
    >>> kzoo.models.common.adapt_input_conv(k, 1).shape
    (7, 7, 1, 64)
    """
    kernel = np.asarray(kernel)
    saved = kernel.shape[2]
    if saved == in_channels:
        return kernel
    if in_channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    if saved != 3:
        raise ValueError(
            "Only an RGB (3-channel) first convolution can be adapted to "
            f"{in_channels} channels. Received: kernel shape {kernel.shape}"
        )
    repeats = math.ceil(in_channels / 3)
    kernel = np.tile(kernel, (1, 1, repeats, 1))[:, :, :in_channels, :]
    return kernel * (3.0 / in_channels)


def _legacy_weights(layer):
    # The order legacy HDF5 files use: trainable, then non-trainable.
    return layer.trainable_weights + layer.non_trainable_weights


def _read_legacy_group(group):
    """[(layer_name, [arrays])] for the weighted layers of a legacy HDF5 group."""
    saved = []
    for raw in group.attrs["layer_names"]:
        name = raw.decode("utf8") if hasattr(raw, "decode") else str(raw)
        layer_group = group[name]
        weight_names = [
            n.decode("utf8") if hasattr(n, "decode") else str(n)
            for n in layer_group.attrs.get("weight_names", [])
        ]
        if weight_names:
            saved.append((name, [np.asarray(layer_group[w]) for w in weight_names]))
    return saved


def _assign(model, saved, *, source):
    """Sets `saved` [(name, arrays)] into the weighted layers of `model`."""
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    by_name = dict(saved)
    if all(layer.name in by_name for layer in layers):
        pairs = [(layer, layer.name, by_name[layer.name]) for layer in layers]
    elif len(layers) == len(saved):
        pairs = [(layer, name, values) for layer, (name, values) in zip(layers, saved)]
    else:
        missing = [layer.name for layer in layers if layer.name not in by_name][:5]
        raise ValueError(
            f"The weights file {source!r} does not match model {model.name!r}: layers "
            f"{missing} are not in it, and it holds {len(saved)} weighted layers where the "
            f"model has {len(layers)}. Received: weights={source!r}"
        )
    first_conv = next((layer for layer in layers if len(layer.weights[0].shape) == 4), None)
    for layer, name, values in pairs:
        variables = _legacy_weights(layer)
        if len(values) != len(variables):
            raise ValueError(
                f"Layer {layer.name!r} expects {len(variables)} weights; the file's layer "
                f"{name!r} holds {len(values)}. Received: weights={source!r}"
            )
        for variable, value in zip(variables, values):
            if tuple(variable.shape) != value.shape and layer is first_conv and (
                value.ndim == 4 and value.shape[:2] + value.shape[3:]
                == tuple(variable.shape[:2]) + tuple(variable.shape[3:])
            ):
                value = adapt_input_conv(value, variable.shape[2])
            if tuple(variable.shape) != value.shape:
                raise ValueError(
                    f"Shape mismatch for weight {variable.path!r} (file layer {name!r}): "
                    f"expected {tuple(variable.shape)}. Received: shape {value.shape}"
                )
            variable.assign(value.astype(variable.dtype))


def _with_input_channels(model, channels):
    """A copy of functional `model` (fresh weights) whose input has `channels` channels."""
    config = model.get_config()
    for layer in config["layers"]:
        # Layers then build from the graph, not from their recorded input shapes.
        layer.pop("build_config", None)
        if layer["class_name"] == "InputLayer":
            shape = list(layer["config"]["batch_shape"])
            shape[-1] = channels
            layer["config"]["batch_shape"] = shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.__class__.from_config(config)
