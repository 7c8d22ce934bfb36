"""Weight files from outside the zoo: keras.applications' files and users' own.

`weights=` of a builder is `None`, the name of a file set its family lists in
its `presets.py` (`"imagenet"`: keras.applications' URLs and MD5 hashes,
fetched with `keras.utils.get_file` exactly as keras.applications fetches
them), or the path to an existing `.h5`, `.weights.h5` or `.keras` file.
Legacy HDF5 files are matched by layer name (or by order, as Keras itself
does, when the names differ); a first convolution trained on RGB is adapted
to another channel count the way timm's `adapt_input_conv` does. The zoo's
own checkpoints (`weights="fashion_mnist"`) are `kzoo.models.pretrained`'s.
"""

import dataclasses
import math
import os
import warnings
import zipfile

import h5py
import keras
import numpy as np

#: File names `weights=` accepts as a path.
WEIGHT_SUFFIXES = (".h5", ".weights.h5", ".keras", ".hdf5")


class WeightsDownloadError(ValueError):
    """A named weight file could not be fetched (offline, or the server failed)."""


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a family's pretrained file lives: URLs and MD5 hashes, with and without top.

    The hashes are those keras.applications passes to `keras.utils.get_file`
    (`None` where it passes none, as for MobileNet V1 and V2's files: then nothing is checked).
    """

    top_url: str
    top_hash: str
    notop_url: str
    notop_hash: str
    classes: int = 1000
    #: The names keras.applications caches the files under, where they are not the URLs'
    #: (NASNet's); empty: the URL's base name.
    top_file: str = ""
    notop_file: str = ""

    def fetch(self, include_top, *, model_name="", tag="imagenet"):
        """The local path of the file, downloaded into Keras's cache when missing."""
        url, file_hash, filename = (
            (self.top_url, self.top_hash, self.top_file) if include_top
            else (self.notop_url, self.notop_hash, self.notop_file)
        )
        filename = filename or os.path.basename(url)
        try:
            return keras.utils.get_file(filename, url, cache_subdir="models",
                                        file_hash=file_hash)
        except Exception as e:  # get_file raises a bare Exception on URL failures
            raise WeightsDownloadError(
                f"Could not fetch the {tag!r} weights of {model_name!r} from {url} ({e}). "
                f"Offline, download {filename} elsewhere and pass its path: "
                f"weights='/path/to/{filename}'. Received: weights={tag!r}"
            ) from None


def check_weights(weights, *, model_name, presets, include_top, classes, tags=()):
    """Validates `weights` before anything is built.

    Args:
        weights: `None`, a preset name (a key of `presets`) or the path to an
            existing `.h5`, `.weights.h5` or `.keras` file. A preset name
            always wins over a same-named file.
        model_name: the registry name, for messages.
        presets: dict of preset name -> `PretrainedWeights`.
        include_top: whether the model has its classifier.
        classes: number of classes asked for.
        tags: the zoo's checkpoint tags of the model (named in messages only;
            `kzoo.create_model` resolves them before the builder runs).

    Returns:
        `weights` (a path as a `str`).

    Raises:
        ValueError: for an unknown name or a missing file, and for
            `include_top=True` with a preset whose class count differs.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"Argument `weights` of {model_name!r} must be None, a weights name or a file "
            f"path. Received: weights={weights!r}"
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
    names = sorted(presets) + sorted(tags)
    listed = f"one of {names}" if names else "(it has no named weights)"
    if not weights.endswith(WEIGHT_SUFFIXES):
        raise ValueError(
            f"Argument `weights` of {model_name!r} must be None, {listed}, or the path to a "
            f"{'/'.join(WEIGHT_SUFFIXES[:3])} file; {weights!r} is neither a name it has nor "
            f"such a file. Received: weights={weights!r}"
        )
    if not os.path.isfile(weights):
        raise ValueError(
            f"Argument `weights` of {model_name!r}: no such file {weights!r} (expected None, "
            f"{listed}, or the path to an existing weights file). Received: weights={weights!r}"
        )
    return weights


def load_weights(model, weights, *, presets=None, include_top=True):
    """Loads `weights` (a preset name or a path) into `model`.

    Preset names are fetched with `keras.utils.get_file` and the MD5 hash of
    keras.applications. Legacy HDF5 files (the keras.applications layout:
    one group per layer name, attribute `layer_names`) and `.keras` model
    files are matched by layer name when every weighted layer of `model` is
    in the file, else by order (what `keras.Model.load_weights` does with
    legacy files). Keras `.weights.h5` files go through `model.load_weights`.
    In every case a first convolution whose input channels differ from the
    file's is adapted with `adapt_input_conv`, and a file that does not fit
    is a `ValueError` naming the layer and both shapes. An input
    `Normalization` layer's RGB statistics (EfficientNet's) are repeated to the
    model's channel count by the same rule.
    """
    if weights is None:
        return model
    presets = presets or {}
    if weights in presets:
        path = presets[weights].fetch(include_top, model_name=model.name, tag=weights)
    else:
        path = os.fspath(weights)
    if path.endswith(".keras"):
        _assign(model, _read_keras_file(path), source=path)
        return model
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            legacy = "layer_names" in group.attrs
            saved = _read_legacy_group(group) if legacy else None
    except (OSError, KeyError) as e:  # not HDF5, or a legacy file missing a listed layer
        raise ValueError(
            f"Argument `weights`: cannot read {path!r} as an HDF5 weights file (corrupt, "
            f"truncated or another format): {e}. Received: weights={path!r}"
        ) from None
    if legacy:
        _assign(model, saved, source=path)
        return model
    _load_keras_weights_file(model, path)
    return model


def _load_keras_weights_file(model, path):
    """`model.load_weights(path)` for a Keras `.weights.h5`, strict, channel-adapting."""
    try:
        _strict_load_weights(model, path)
        return
    except ValueError as e:
        first_error = _first_line(e)
        if "could not be loaded" in first_error:  # Keras's per-object dump: say it plainly
            first_error = "its arrays do not map onto the model's layers."
    channels = model.inputs[0].shape[-1]
    if channels != 3:
        # Maybe an RGB file: load into an RGB twin, then adapt its first conv.
        try:
            twin = _with_input_channels(model, 3)
            _strict_load_weights(twin, path)
        except ValueError:
            twin = None
        if twin is not None:
            _assign(model, [(l.name, [v.numpy() for v in _legacy_weights(l)])
                            for l in twin.layers if _legacy_weights(l)], source=path)
            return
    raise ValueError(
        f"Argument `weights`: the weights file {path!r} does not fit model {model.name!r} "
        f"(another architecture, or other input channels or classes): "
        f"{_describe_mismatch(model, path) or first_error} Received: weights={path!r}"
    )


def _describe_mismatch(model, path):
    """Which weight of `model` a Keras `.weights.h5` file has no array for, in one sentence."""
    shapes = []
    try:
        with h5py.File(path, "r") as f:
            if "layers" in f:
                f["layers"].visititems(lambda name, item: shapes.append(tuple(item.shape))
                                       if isinstance(item, h5py.Dataset) else None)
    except OSError:
        return ""
    variables = model.weights
    left = list(shapes)
    for variable in variables:
        shape = tuple(variable.shape)
        if shape not in left:
            return (f"the model's weight {variable.path!r} of shape {shape} has no array of "
                    f"that shape in the file (the file holds {len(shapes)} weight arrays, the "
                    f"model {len(variables)}).")
        left.remove(shape)
    if left:
        return (f"the file holds {len(shapes)} weight arrays, the model {len(variables)} "
                f"(e.g. one of shape {left[0]} is left over).")
    return ""


def _strict_load_weights(model, path):
    # Keras warns (instead of failing) about variables it skipped: count those as failures.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(path)
    skipped = [str(w.message) for w in caught if "load" in str(w.message).lower()]
    if skipped:
        raise ValueError(_first_line(skipped[0]))


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _read_keras_file(path):
    """[(layer_name, [arrays])] of the weighted layers of a `.keras` model file."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"Argument `weights`: {path!r} is not a .keras file (a .keras model is a zip "
            f"archive; this file is corrupt, truncated or of another format). "
            f"Received: weights={path!r}"
        )
    try:
        saved = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a zip that is not a Keras model, or an unknown layer class
        raise ValueError(
            f"Argument `weights`: cannot load {path!r} as a .keras model ({_first_line(e)}). "
            f"Received: weights={path!r}"
        ) from None
    return [(layer.name, [np.asarray(v) for v in _legacy_weights(layer)])
            for layer in saved.layers if _legacy_weights(layer)]


def adapt_input_conv(kernel, in_channels):
    """Adapts a first-convolution kernel (kh, kw, C, filters) to `in_channels`.

    As timm's `adapt_input_conv`: one channel sums the kernel over its input
    channels (so a grey image g gives the RGB model's output on [g, g, g]); more
    channels repeat the RGB kernel cyclically and scale it by 3 / in_channels,
    which keeps the activation scale.

    Examples:
        >>> k = np.ones((7, 7, 3, 64), "float32")
        >>> kzoo.models.adapt_input_conv(k, 1).shape
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
            f"Argument `weights`: the weights file {source!r} does not fit model "
            f"{model.name!r}: layers {missing} are not in it, and it holds {len(saved)} "
            f"weighted layers where the model has {len(layers)}. Received: weights={source!r}"
        )
    first_conv = next((layer for layer in layers if len(layer.weights[0].shape) == 4), None)
    for layer, name, values in pairs:
        variables = _legacy_weights(layer)
        if len(values) != len(variables):
            raise ValueError(
                f"Argument `weights`: the weights file {source!r} does not fit model "
                f"{model.name!r}: layer {layer.name!r} expects {len(variables)} weights; the "
                f"file's layer {name!r} holds {len(values)}. Received: weights={source!r}"
            )
        for variable, value in zip(variables, values):
            if (value.ndim == 4 and value.shape[2] == 1 and value.shape[3] > 1
                    and tuple(variable.shape) == value.shape[:2] + (value.shape[3], 1)
                    and (hasattr(layer, "depthwise_kernel")
                         or isinstance(layer, keras.layers.DepthwiseConv2D))):
                # A depthwise convolution written as a grouped `Conv2D(groups=C)` (keras.
                # applications' ConvNeXt) has a kernel (kh, kw, 1, C); kzoo's DepthwiseConv2D's
                # is (kh, kw, C, 1). Output channel c reads input channel c in both, and the
                # entry [i, j, c] sits at the same place in memory: the kernel is a reshape.
                value = value.reshape(tuple(variable.shape))
            if tuple(variable.shape) != value.shape and layer is first_conv and (
                value.ndim == 4 and value.shape[:2] + value.shape[3:]
                == tuple(variable.shape[:2]) + tuple(variable.shape[3:])
            ):
                value = adapt_input_conv(value, variable.shape[2])
            if (isinstance(layer, keras.layers.Normalization) and value.shape == (3,)
                    and len(variable.shape) == 1):
                # An input normalization's per-channel statistics follow the first
                # convolution's rule: RGB repeated cyclically.
                value = np.resize(value, variable.shape)
            if tuple(variable.shape) != value.shape:
                raise ValueError(
                    f"Argument `weights`: the weights file {source!r} does not fit model "
                    f"{model.name!r}: shape mismatch for weight {variable.path!r} (file layer "
                    f"{name!r}): the model's is {tuple(variable.shape)}, the file's "
                    f"{value.shape}. Received: weights={source!r}"
                )
            variable.assign(value.astype(variable.dtype))
        if hasattr(layer, "finalize_state"):
            # A Normalization computes with constants made from its variables (as Keras's
            # own legacy loader does, refresh them).
            layer.finalize_state()


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
