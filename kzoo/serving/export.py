"""Export of a trained model for serving: a TF SavedModel (or a LiteRT flatbuffer).

`export(model, path)` writes a SavedModel that plain TensorFlow and TF Serving
load without kzoo, with two signatures:

- `serving_default`: input `images`, float32 `(batch, H, W, C)` raw pixels
  0-255 as the model takes them (any batch size);
- `predict_images`: input `image_bytes`, tf.string `(batch,)`, encoded
  PNG/JPEG/GIF/BMP files of any size, decoded, converted to the model's
  channels and resized (bilinear) inside the graph.

Both answer `probabilities` (float32, `(batch, classes)`), `classes` (int64
top-1 index) and `class_names` (string top-1 name). `assets/labels.txt` holds
one class name per line, `assets/kzoo.json` what is known of the source
(architecture, dataset, input shape, class names, test accuracy, parameter
count, sha256; null when unknown).

`export_version(source, name)` writes `BASE/NAME/VERSION/`, TF Serving's model
base path layout. Every export is written into a temporary folder beside its
destination and moved into place with `os.replace`, so a kill at any moment
leaves either no version folder or a complete one.
"""

import json
import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from kzoo.data.images import decode_image
from kzoo.models import pretrained
from kzoo.training import run_dir
from kzoo.utils import io

FORMATS = ("saved_model", "tflite")
"""The export formats: a TF SavedModel (`"saved_model"`) or a LiteRT flatbuffer (`"tflite"`)."""
DEFAULT_BASE = os.path.join("saved_models", "serving")
"""TF Serving's model base folder that `export_version` writes into by default."""
LABELS_FILE = "labels.txt"
INFO_FILE = "kzoo.json"
TFLITE_FILE = "model.tflite"
TMP_PREFIX = ".tmp-export-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------- #
# Sources
# --------------------------------------------------------------------------- #


def _blank_info():
    return {"source": None, "kind": None, "architecture": None, "dataset": None,
            "input_shape": None, "class_names": None, "test_accuracy": None,
            "params": None, "sha256": None}


def load_source(source):
    """The `keras.Model` of an export source and what is known about it.

    Args:
        source: a `keras.Model`; a `kzoo train` / `kzoo finetune` run
            directory (its `model.keras`, class names and test accuracy from
            its `metrics.json`); the path of a `.keras` file; or the name of
            one of the zoo's checkpoints (`saved_models/manifest.json`).

    Returns:
        `(model, info)`, `info` a dict with `source`, `kind` (`"keras_model"`,
        `"run"`, `"keras_file"`, `"checkpoint"`), `architecture`, `dataset`,
        `input_shape`, `class_names`, `test_accuracy`, `params`, `sha256`
        (None where unknown).

    Raises:
        ValueError: `source` is none of these (the message lists the zoo's
            checkpoint names).
    """
    info = _blank_info()
    if isinstance(source, keras.Model):
        info.update(source=source.name, kind="keras_model")
        return source, info
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise ValueError(f"Argument `source` must be a run directory, a .keras file or a zoo "
                         f"checkpoint name. Received: source={source!r}")
    source = os.fspath(source)
    info["source"] = source
    model_file = os.path.join(source, "model.keras")
    if os.path.isdir(source):
        if not os.path.isfile(model_file):
            raise ValueError(f"Argument `source` is a folder without a model.keras (not a "
                             f"finished kzoo run directory). Received: source={source!r}")
        info["kind"] = "run"
        metrics_file = os.path.join(source, run_dir.METRICS_FILE)
        if os.path.isfile(metrics_file):
            metrics = run_dir.read_metrics(source)
            for key in ("dataset", "input_shape", "class_names", "test_accuracy", "params"):
                info[key] = metrics.get(key)
            info["architecture"] = metrics.get("model")
        run = run_dir.read_run(source)
        if run is not None and info["architecture"] is None:
            info["architecture"] = run["config"].get("model")
        return _load_file(model_file, info)
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise ValueError(f"Argument `source`: no .keras file at {source!r}. "
                             f"Received: source={source!r}")
        info["kind"] = "keras_file"
        entry = pretrained.entry_for_file(source)
        if entry is not None:
            _fill_from_entry(info, entry)
        return _load_file(source, info)
    entries = {entry["name"]: entry for entry in pretrained.read_manifest()}
    if source in entries:
        entry = entries[source]
        info["kind"] = "checkpoint"
        _fill_from_entry(info, entry)
        return _load_file(pretrained.locate(entry), info)
    raise ValueError(
        f"Argument `source` is not a run directory, a .keras file or a zoo checkpoint name "
        f"(the zoo has {sorted(entries)}). Received: source={source!r}")


def _fill_from_entry(info, entry):
    for key in ("architecture", "dataset", "input_shape", "class_names", "test_accuracy",
                "params", "sha256"):
        info[key] = entry.get(key)


def _load_file(path, info):
    # Registers kzoo's layers, so that any kzoo .keras file loads.
    from kzoo.models import registry  # noqa: F401

    model = keras.saving.load_model(path, compile=False)
    if info["sha256"] is None:
        info["sha256"] = io.sha256(path)
    return model, info


# --------------------------------------------------------------------------- #
# The serving functions
# --------------------------------------------------------------------------- #


def _input_shape(model):
    """The model's input shape without the batch axis (one input only)."""
    inputs = getattr(model, "inputs", None)
    if not isinstance(model, keras.Model) or not inputs or len(inputs) != 1:
        raise ValueError(f"Argument `model` must be a keras.Model with one input. Received: "
                         f"model={getattr(model, 'name', model)!r} with inputs {inputs}")
    return tuple(None if s is None else int(s) for s in inputs[0].shape[1:])


def _image_shape(shape):
    """`shape` if it is a fixed (height, width, 1 or 3 channels), else None."""
    if len(shape) == 3 and None not in shape and shape[-1] in (1, 3):
        return shape
    return None


def _class_names(model, class_names):
    outputs = model.outputs
    if len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[-1] is None:
        raise ValueError(f"Argument `model` must answer one (batch, classes) output of class "
                         f"probabilities. Received: model={model.name!r} with outputs {outputs}")
    classes = int(outputs[0].shape[-1])
    if class_names is None:
        return None, classes
    class_names = [str(c) for c in class_names]
    if len(class_names) != classes:
        raise ValueError(f"Argument `class_names` must name the model's {classes} classes. "
                         f"Received: {len(class_names)} class_names={class_names!r}")
    if any("\n" in c for c in class_names):
        raise ValueError(f"Argument `class_names` must not contain line breaks. "
                         f"Received: class_names={class_names!r}")
    return class_names, classes


def _outputs(model, images, labels):
    probabilities = tf.cast(model(images, training=False), tf.float32)
    classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return {"probabilities": probabilities, "classes": classes,
            "class_names": tf.gather(labels, classes)}


def _serving_fns(model, labels):
    shape = _input_shape(model)
    labels = tf.constant(labels, dtype=tf.string)

    def serve(images):
        return _outputs(model, images, labels)

    def predict_images(image_bytes):
        images = tf.map_fn(lambda b: decode_image(b, shape), image_bytes,
                           fn_output_signature=tf.TensorSpec(shape, tf.float32))
        return _outputs(model, images, labels)

    images_spec = tf.TensorSpec((None, *shape), tf.float32, name="images")
    bytes_spec = tf.TensorSpec((None,), tf.string, name="image_bytes")
    return (serve, images_spec), (predict_images, bytes_spec)


def _write_saved_model(model, labels, path, *, with_images=True):
    """The SavedModel of the serving functions into `path` (kzoo-free to load).

    `predict_images` only when the model takes fixed-size 1- or 3-channel images.
    """
    (serve, images_spec), (predict_images, bytes_spec) = _serving_fns(model, labels)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[images_spec])
    if with_images and _image_shape(_input_shape(model)):
        archive.add_endpoint("predict_images", predict_images, input_signature=[bytes_spec])
    archive.write_out(path, verbose=False)


def _convert_tflite(saved_model_dir):
    """A LiteRT flatbuffer (builtin ops only) of the SavedModel's `serving_default`."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends: the model needs other ops
        raise ValueError(
            f"Argument `format`: the model cannot be converted to a LiteRT flatbuffer with "
            f"builtin ops only ({' '.join(str(e).split())[:500]}). Export it with "
            f"format='saved_model' instead. Received: format='tflite'") from None


def _write_files(directory, labels, info):
    with open(os.path.join(directory, LABELS_FILE), "w") as f:
        f.write("".join(label + "\n" for label in labels))
    with open(os.path.join(directory, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------- #
# Writing atomically
# --------------------------------------------------------------------------- #


def is_export(path):
    """Whether `path` is a folder kzoo's export wrote (a SavedModel or a LiteRT export)."""
    return os.path.isdir(path) and (
        os.path.isfile(os.path.join(path, "saved_model.pb"))
        or (os.path.isfile(os.path.join(path, TFLITE_FILE))
            and os.path.isfile(os.path.join(path, INFO_FILE))))


def _check_format(format):
    if format not in FORMATS:
        raise ValueError(f"Argument `format` must be one of {list(FORMATS)}. "
                         f"Received: format={format!r}")


def _check_destination(path, overwrite):
    if os.path.lexists(path):
        if not os.path.isdir(path) or os.path.islink(path):
            raise ValueError(f"Argument `path` names a file, not an export folder. "
                             f"Received: path={path!r}")
        if not overwrite:
            raise ValueError(f"Argument `path`: {path!r} exists; pass overwrite=True "
                             f"(--overwrite) to replace it. Received: path={path!r}")
        if not is_export(path):
            raise ValueError(
                f"Argument `path`: {path!r} exists and is not a kzoo export (no "
                f"saved_model.pb); kzoo never replaces such a folder, with or without "
                f"--overwrite. Received: path={path!r}")
    parent = io.nearest_existing_parent(path)
    if not os.path.isdir(parent):
        raise ValueError(f"Argument `path` lies under {parent!r}, which is a file. "
                         f"Received: path={path!r}")


def export(model, path, *, class_names=None, format="saved_model", overwrite=False,
           _info=None):
    """Exports `model` for serving into the folder `path`, atomically.

    Args:
        model: a `keras.Model` taking raw pixels `(H, W, C)`, C 1 or 3, and
            answering class probabilities; or a source of `load_source` (a run
            directory, a `.keras` file, a zoo checkpoint name).
        path: the folder to write (e.g. `exports/lenet/1`).
        class_names: the names of the model's classes (default: those of the
            source when known, else `"0"`, `"1"`, ...).
        format: `"saved_model"` (signatures `serving_default` and
            `predict_images`, `assets/labels.txt`, `assets/kzoo.json`) or
            `"tflite"` (`model.tflite`, builtin ops only, the
            `serving_default` function, plus `labels.txt` and `kzoo.json`).
        overwrite: replace an existing export at `path` (only a folder kzoo's
            export wrote; never any other folder).

    Returns:
        `path`.

    Raises:
        ValueError: bad `format`, `path` (a file, an existing folder without
            `overwrite`, a folder that is not an export), `class_names` or
            `model`; `format="tflite"` when builtin ops do not suffice.

    Examples:
        >>> kzoo.serving.export(model, "exports/lenet/1", class_names=names)
    """
    _check_format(format)
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"Argument `path` must be a folder path. Received: path={path!r}")
    path = os.fspath(path)
    if _info is None:
        model, info = load_source(model)
    else:
        info = dict(_info)
    if class_names is None:
        class_names = info.get("class_names")
    shape = _input_shape(model)
    class_names, num_classes = _class_names(model, class_names)
    labels = class_names or [str(i) for i in range(num_classes)]
    info.update(input_shape=list(shape), class_names=class_names,
                params=info.get("params") or int(model.count_params()), format=format,
                signatures=None)
    _check_destination(path, overwrite)

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=TMP_PREFIX)
    try:
        if format == "saved_model":
            target = os.path.join(tmp, "version")
            _write_saved_model(model, labels, target)
            info["signatures"] = {
                "serving_default": {"inputs": {"images": ["float32", [None, *shape]]}}}
            if _image_shape(shape):
                info["signatures"]["predict_images"] = {
                    "inputs": {"image_bytes": ["string", [None]]}}
            assets = os.path.join(target, "assets")
            os.makedirs(assets, exist_ok=True)
            _write_files(assets, labels, info)
        else:
            staging = os.path.join(tmp, "staging")
            _write_saved_model(model, labels, staging, with_images=False)
            flatbuffer = _convert_tflite(staging)
            target = os.path.join(tmp, "version")
            os.makedirs(target)
            with open(os.path.join(target, TFLITE_FILE), "wb") as f:
                f.write(flatbuffer)
            _write_files(target, labels, info)
        _make_readable(target)
        if os.path.lexists(path):
            # Move the old version aside first: in between there is no version, never half one.
            os.replace(path, os.path.join(tmp, "old"))
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _make_readable(directory):
    """mkdtemp makes a 0700 folder: give the usual permissions (umask applied)."""
    umask = os.umask(0)
    os.umask(umask)
    for root, dirs, _ in os.walk(directory):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~umask)
    os.chmod(directory, 0o777 & ~umask)


def export_saved_model(model, path, *, class_names=None):
    """Exports `model` as a SavedModel into `path`, replacing an earlier export whole.

    The trainer's `--export` (`RUN/saved_model`): `export(model, path,
    class_names=class_names, overwrite=True)`.

    Examples:
        >>> kzoo.serving.export_saved_model(model, "exports/lenet/1")
    """
    return export(model, path, class_names=class_names, overwrite=True)


# --------------------------------------------------------------------------- #
# TF Serving's layout: BASE/NAME/VERSION
# --------------------------------------------------------------------------- #


def versions(model_dir):
    """The sorted integer versions (folder names) under a model's folder."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir)
                  if n.isdigit() and os.path.isdir(os.path.join(model_dir, n)))


def export_version(source, name, *, version=None, base=DEFAULT_BASE, format="saved_model",
                   overwrite=False, class_names=None):
    """Exports `source` as version `version` of model `name`: `BASE/NAME/VERSION/`.

    Args:
        source: a `keras.Model`, a run directory, a `.keras` file or a zoo
            checkpoint name (see `load_source`).
        name: the served model's name (letters, digits, `.`, `_`, `-`; no
            `/` or `..`).
        version: a positive int; default: the highest existing integer
            version + 1 (1 for a new model).
        base: TF Serving's model base folder (default `saved_models/serving`).
        format: `"saved_model"` or `"tflite"`.
        overwrite: replace an existing version (only a kzoo export).
        class_names: override the source's class names.

    Returns:
        `(path, info)`: the version folder and the metadata of `assets/kzoo.json`.
    """
    _check_format(format)
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"Argument `name` (--name) must be letters, digits, '.', '_' or "
                         f"'-' (no '/' or '..'), starting with a letter or digit. "
                         f"Received: name={name!r}")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):
        raise ValueError(f"Argument `version` (--version) must be a positive int. "
                         f"Received: version={version!r}")
    if not isinstance(base, (str, os.PathLike)) or not os.fspath(base):
        raise ValueError(f"Argument `base` (--base) must be a folder path. Received: "
                         f"base={base!r}")
    base = os.fspath(base)
    model_dir = os.path.join(base, name)
    for folder, argument, value in ((base, "base", base), (model_dir, "name", name)):
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(f"Argument `{argument}`: {folder!r} is a file, not a folder. "
                             f"Received: {argument}={value!r}")
    if version is None:
        version = (versions(model_dir) or [0])[-1] + 1
    path = os.path.join(model_dir, str(version))
    if os.path.lexists(path) and not overwrite:
        raise ValueError(f"Argument `version` (--version): version {version} of {name!r} "
                         f"exists at {path!r}; pass --overwrite to replace it. "
                         f"Received: version={version}")
    _check_destination(path, overwrite)
    model, info = load_source(source)
    export(model, path, class_names=class_names, format=format, overwrite=overwrite,
           _info=info)
    with open(os.path.join(path, "assets" if format == "saved_model" else "", INFO_FILE)) as f:
        return path, json.load(f)
