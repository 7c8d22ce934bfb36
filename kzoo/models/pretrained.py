"""The zoo's own checkpoints: manifest, sha256, locating, loading, publishing.

`manifest.json` lists each checkpoint the zoo ships: name, tag (the
`weights=` value, e.g. `"fashion_mnist"`), architecture, dataset, input
shape, class names, test accuracy, parameter count, file, sha256, download
URL and the `kzoo train` command that reproduces it. A checkpoint is a
`.keras` model that takes raw pixels (0–255) and carries its own
preprocessing.

A checkpoint file is found in this order:

1. the copy shipped inside the package (`kzoo/saved_models/`, package data
   of the wheel; in a clone of the repository, `saved_models/`);
2. the cache, `$KZOO_HOME/checkpoints/` (default `~/.keras/kzoo/`);
3. a download of the manifest's URL into the cache through
   `keras.utils.get_file`, checked against the sha256.

Every file is checked against its sha256 before it is loaded: a changed or
truncated file is a `ChecksumError`, never silently wrong weights.
`$KZOO_SAVED_MODELS` replaces the shipped folder (manifest and files), for
tests and for publishing into another folder.
"""

import importlib.resources
import json
import os
import shutil

import keras

from kzoo.utils import io

#: Where published checkpoint files are downloaded from (release assets).
DOWNLOAD_BASE_URL = "https://github.com/kzoo-dev/kzoo/releases/download/checkpoints/"

ABOUT = "Checkpoints trained by kzoo's own CLI; each takes raw pixels 0-255."


class ChecksumError(ValueError):
    """A checkpoint file does not match the sha256 in the manifest."""


class CheckpointUnavailableError(FileNotFoundError):
    """A checkpoint is neither shipped nor cached, and its download failed."""


# --------------------------------------------------------------------------- #
# Where things are
# --------------------------------------------------------------------------- #


def shipped_root():
    """The folder of the shipped checkpoints: `$KZOO_SAVED_MODELS`, else the package's."""
    override = os.environ.get("KZOO_SAVED_MODELS")
    if override:
        return override
    return os.fspath(importlib.resources.files("kzoo") / "saved_models")


def cache_root():
    """The checkpoint cache: `$KZOO_HOME/checkpoints` (default `~/.keras/kzoo/checkpoints`)."""
    home = os.environ.get("KZOO_HOME") or os.path.join(os.path.expanduser("~"), ".keras", "kzoo")
    return os.path.join(home, "checkpoints")


def manifest_path(root=None):
    return os.path.join(root or shipped_root(), "manifest.json")


def download_url(filename, sha256=None):
    """The release URL a checkpoint file is published at.

    With `sha256`, the asset's name carries the file's first 12 hex digits
    (`name-0123456789ab.keras`): a checkpoint published again never points at
    the old file's asset.
    """
    if sha256:
        stem, ext = os.path.splitext(filename)
        filename = f"{stem}-{sha256[:12]}{ext}"
    return DOWNLOAD_BASE_URL + filename


# --------------------------------------------------------------------------- #
# The manifest
# --------------------------------------------------------------------------- #


def read_manifest(root=None):
    """The manifest's list of checkpoint entries (empty when there is none)."""
    path = manifest_path(root)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["checkpoints"]


def write_manifest(entries, root=None):
    """Writes the manifest atomically, entries sorted by name."""
    io.write_json(manifest_path(root), {
        "about": ABOUT,
        "checkpoints": sorted(entries, key=lambda e: e["name"]),
    })


def entry_tag(entry):
    """The `weights=` value of a manifest entry (its `tag`, else its dataset)."""
    return entry.get("tag", entry["dataset"])


def builder_entries(architecture, root=None):
    """The entries whose weights fit the builder of `architecture` (`weights=` tags).

    A fine-tuned checkpoint (its entry records its `base`) has its own head
    and input: it is loaded by name (`kzoo.transfer.load_base`), not as
    `weights=` of the builder.
    """
    return [e for e in read_manifest(root) if e["architecture"] == architecture
            and "base" not in e]


def tags(architecture, root=None):
    """Sorted `weights=` tags of the zoo's checkpoints of `architecture`."""
    return sorted({entry_tag(e) for e in builder_entries(architecture, root)})


def find(architecture, tag, root=None):
    """The manifest entry of `architecture` with `weights=tag`, or None."""
    if not isinstance(tag, str):
        return None
    for entry in builder_entries(architecture, root):
        if entry_tag(entry) == tag:
            return entry
    return None


def entry_for_file(path, root=None):
    """The manifest entry whose shipped file is `path`, or None."""
    path = os.path.realpath(path)
    for entry in read_manifest(root):
        if os.path.realpath(os.path.join(root or shipped_root(), entry["file"])) == path:
            return entry
    return None


# --------------------------------------------------------------------------- #
# Locating and loading
# --------------------------------------------------------------------------- #


def verify(path, entry):
    """Raises `ChecksumError` unless the file at `path` has the entry's sha256."""
    digest = io.sha256(path)
    if digest != entry["sha256"]:
        raise ChecksumError(
            f"Checkpoint file {path!r} does not match the manifest's sha256 (the file is "
            f"changed or truncated); refusing to load it. Expected sha256={entry['sha256']}. "
            f"Received: sha256={digest}"
        )
    return path


def locate(entry, root=None):
    """The sha256-verified local file of a manifest entry: shipped, cached or downloaded."""
    shipped = os.path.join(root or shipped_root(), entry["file"])
    if os.path.isfile(shipped):
        return verify(shipped, entry)
    cached = os.path.join(cache_root(), entry["file"])
    if os.path.isfile(cached) and io.sha256(cached) == entry["sha256"]:
        return cached
    url = entry.get("url") or download_url(entry["file"])
    # get_file falls back to /tmp/.keras for a cache folder that does not exist yet.
    os.makedirs(cache_root(), exist_ok=True)
    try:
        # get_file checks the hash and downloads again over a damaged cached copy.
        path = keras.utils.get_file(
            entry["file"], url, file_hash=entry["sha256"], hash_algorithm="sha256",
            cache_dir=os.path.dirname(cache_root()), cache_subdir=os.path.basename(cache_root()),
        )
    except Exception as e:  # get_file raises a bare Exception on URL failures
        raise CheckpointUnavailableError(
            f"Checkpoint {entry['name']!r} is not shipped with this kzoo ({shipped} is "
            f"missing), not in the cache ({cached}), and its download from {url} failed: "
            f"{e}. Received: weights={entry_tag(entry)!r}"
        ) from None
    return verify(path, entry)


def load(entry, root=None):
    """The checkpoint's `keras.Model` (raw pixels in), sha256-verified."""
    return keras.saving.load_model(locate(entry, root))


PREPROCESSING_LAYERS = ("scale", "standardize")


def build(architecture, tag, builder, *, root=None, **kwargs):
    """Builds `architecture` with the weights of its zoo checkpoint `tag`.

    The model gets the checkpoint's preprocessing in front (raw pixels in),
    then every weighted layer is copied from the checkpoint by name: all of
    them with `include_top=True`, the feature layers otherwise (for
    fine-tuning with a new head). A layer that is missing from the checkpoint
    or whose shapes differ is a `ValueError`, never a silent skip.

    Args:
        architecture: the registry name (for messages).
        tag: the `weights=` tag, e.g. `"fashion_mnist"`.
        builder: the registered builder function of `architecture`.
        root: the shipped folder (default `shipped_root()`).
        **kwargs: keras.applications arguments of the builder.

    Returns:
        A `keras.Model`.
    """
    entry = find(architecture, tag, root)
    if entry is None:
        raise ValueError(f"Model {architecture!r} has no zoo checkpoint {tag!r}; it has "
                         f"{tags(architecture, root)}. Received: weights={tag!r}")
    default_shape = tuple(entry["input_shape"])
    num_classes = len(entry["class_names"])
    input_tensor = kwargs.pop("input_tensor", None)
    input_shape = kwargs.pop("input_shape", None)
    if input_shape is None:
        input_shape = tuple(input_tensor.shape[1:]) if input_tensor is not None else default_shape
    input_shape = tuple(input_shape)
    include_top = kwargs.pop("include_top", True)
    if not isinstance(include_top, bool):
        raise ValueError(
            f"Argument `include_top` must be True or False. Received: include_top={include_top!r}"
        )
    if len(input_shape) != len(default_shape) or input_shape[-1] != default_shape[-1]:
        raise ValueError(
            f"Checkpoint {entry['name']!r} takes {default_shape[-1]}-channel images of shape "
            f"{default_shape}. Received: input_shape={input_shape}"
        )
    classes = kwargs.pop("classes", num_classes)
    if include_top and classes != num_classes:
        raise ValueError(
            f"If using `weights={tag!r}` with `include_top=True`, `classes` should be "
            f"{num_classes} (checkpoint {entry['name']!r}). Received: classes={classes}"
        )
    if include_top and input_shape[:-1] != default_shape[:-1]:
        raise ValueError(
            f"When setting `include_top=True` and loading `weights={tag!r}`, the input height "
            f"and width of {architecture!r} must be {default_shape[:-1]} (its classifier was "
            f"trained on that size); use include_top=False for other sizes. "
            f"Received: input_shape={input_shape}"
        )
    # A checkpoint trained with builder arguments (`kzoo train --model-arg`, e.g.
    # ResNet-9's width) is rebuilt with them; a different value cannot take its weights.
    for key, value in entry.get("config", {}).get("model_kwargs", {}).items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(
                f"Checkpoint {entry['name']!r} was trained with {key}={value!r}; its weights "
                f"fit no other value. Received: {key}={kwargs[key]!r}"
            )
        kwargs[key] = value
    shipped = load(entry, root)
    if input_tensor is None:
        pixels = keras.Input(input_shape, name="pixels")
    elif keras.backend.is_keras_tensor(input_tensor):
        pixels = input_tensor
    else:
        pixels = keras.Input(tensor=input_tensor, shape=input_shape)
    x, preprocessing = _apply_preprocessing(shipped, pixels)
    model = builder(input_tensor=x, input_shape=input_shape, weights=None,
                    include_top=include_top, classes=classes, **kwargs)
    copy_weights(shipped, model, skip=preprocessing, exhaustive=include_top,
                 source=entry["name"])
    return model


def _apply_preprocessing(shipped, x):
    """Clones the checkpoint's preprocessing layers (with their weights) onto `x`."""
    names = []
    for layer in shipped.layers[1:]:
        if layer.name not in PREPROCESSING_LAYERS:
            break
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
        names.append(layer.name)
    return x, names


def copy_weights(source_model, model, *, skip=(), exhaustive=True, source=""):
    """Copies weights layer by layer, by name, from `source_model` into `model`.

    Every weighted layer of `model` (except `skip`) must be in `source_model`
    with the same weight shapes; with `exhaustive`, every weighted layer of
    `source_model` must also be used. Anything else is a `ValueError`
    naming the layer and both shapes.
    """
    available = {layer.name: layer for layer in source_model.layers if layer.weights}
    used = set(skip)
    for layer in model.layers:
        if layer.name in skip or not layer.weights:
            continue
        origin = available.get(layer.name)
        if origin is None:
            raise ValueError(
                f"Layer {layer.name!r} of {model.name!r} is not in checkpoint {source!r} "
                f"(its layers: {sorted(available)}): the architecture arguments differ from "
                f"the checkpoint's. Received: layer {layer.name!r}"
            )
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in origin.weights]
        if want != have:
            raise ValueError(
                f"Layer {layer.name!r} of checkpoint {source!r} does not fit the model: the "
                f"checkpoint's weights have shapes {have}, the model's {want}. "
                f"Received: shapes {want}"
            )
        layer.set_weights(origin.get_weights())
        used.add(layer.name)
    unused = sorted(set(available) - used)
    if exhaustive and unused:
        raise ValueError(
            f"Checkpoint {source!r} has layers {unused} that model {model.name!r} lacks. "
            f"Received: model layers {[l.name for l in model.layers if l.weights]}"
        )


# --------------------------------------------------------------------------- #
# Publishing
# --------------------------------------------------------------------------- #


def check_new_checkpoint(name, root=None, *, overwrite=False):
    """Refuses a checkpoint name `add_checkpoint` may not write; returns the entry it replaces.

    A name of the manifest is replaced only with `overwrite`; a file
    `NAME.keras` in the shipped folder that the manifest does not list is not
    kzoo's and never replaced.

    Returns:
        The manifest entry of `name` (replaced by `overwrite`), or None.
    """
    root = root or shipped_root()
    old = next((e for e in read_manifest(root) if e["name"] == name), None)
    target = os.path.join(root, f"{name}.keras")
    if old is None and os.path.lexists(target):
        raise ValueError(f"Argument `name`: {target!r} exists and the manifest does not list "
                         f"it: it is not a checkpoint kzoo published, and kzoo never replaces "
                         f"it, with or without --overwrite. Choose another name. "
                         f"Received: name={name!r}")
    if old is not None and not overwrite:
        raise ValueError(f"Argument `name`: the zoo has a checkpoint {name!r} (test accuracy "
                         f"{old.get('test_accuracy')}); pass overwrite=True (--overwrite) to "
                         f"replace it, or choose another name. Received: name={name!r}")
    return old


def add_checkpoint(model_file, entry, root=None, *, overwrite=False):
    """Copies `model_file` into the shipped folder and records `entry` in the manifest.

    `entry` carries the checkpoint's description (name, architecture,
    dataset, input_shape, class_names, test_accuracy, params, command,
    config, and `tag` unless it is fine-tuned); `file`, `sha256` and `url`
    are filled in here. The copy is atomic. An entry of the same name is
    replaced only with `overwrite`, and a file of its name that the manifest
    does not list never is (`check_new_checkpoint`).

    Returns:
        The complete manifest entry.
    """
    root = root or shipped_root()
    check_new_checkpoint(entry["name"], root, overwrite=overwrite)
    filename = f"{entry['name']}.keras"
    target = os.path.join(root, filename)
    with io.atomic_path(target, suffix=".keras") as tmp:
        shutil.copyfile(model_file, tmp)
    digest = io.sha256(target)
    entry = {
        **entry,
        "file": filename,
        "sha256": digest,
        "url": download_url(filename, digest),
    }
    write_manifest([e for e in read_manifest(root) if e["name"] != entry["name"]] + [entry], root)
    return entry
