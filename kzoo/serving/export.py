"""Export of a trained model for serving: a TF SavedModel, a LiteRT flatbuffer, ONNX.

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

`format="tflite"` writes `model.tflite` (LiteRT, builtin ops only: float32, or
with `quantize` float16 weights or full-integer int8, `kzoo.serving.litert`),
`format="onnx"` `model.onnx` (`kzoo.serving.onnx`), each with `labels.txt` and
`kzoo.json` beside it; `format="all"` the SavedModel with both files beside it.
kzoo's Im2Col layers are lowered to their native twins in every exported graph
(`kzoo.layers.native_implementation`). Each file is run once through its own
runtime (TensorFlow, `ai-edge-litert`, `onnxruntime`) on a few images and
compared with the Keras model before it is published: an export that cannot
run, or answers differently, is never written.

`export_version(source, name)` writes `BASE/NAME/VERSION/`, TF Serving's model
base path layout. Every export is written into a temporary folder beside its
destination and moved into place with `os.replace`, so a kill at any moment
leaves either no version folder or a complete one; the next export into that
folder removes the killed one's temporary folder (only kzoo's: named
`.tmp-export-*` and holding kzoo's marker file). `--overwrite` replaces only
a folder kzoo's export wrote (`is_export`: its kzoo.json says so).
"""

import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.images import decode_image
from kzoo.layers.lowering import float32_compute, native_implementation
from kzoo.models import pretrained
from kzoo.serving import litert
from kzoo.serving import onnx as onnx_export
from kzoo.serving.litert import INPUT_TYPES, QUANTIZATIONS
from kzoo.training import run_dir
from kzoo.utils import io

FORMATS = ("saved_model", "tflite", "onnx", "all")
"""The export formats: a TF SavedModel (`"saved_model"`), a LiteRT flatbuffer
(`"tflite"`), an ONNX model (`"onnx"`), or the three side by side (`"all"`)."""
DEFAULT_BASE = os.path.join("saved_models", "serving")
"""TF Serving's model base folder that `export_version` writes into by default."""
LABELS_FILE = "labels.txt"
INFO_FILE = "kzoo.json"
TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"
#: Images each export is run on through its runtime before it is published.
CHECK_IMAGES = 16
#: Float exports (float32 LiteRT, ONNX, the SavedModel) answer Keras's probabilities
#: within this; float16 weights within `FLOAT16_TOLERANCE`.
TOLERANCE = 1e-4
FLOAT16_TOLERANCE = 2e-2
#: An int8 export must agree with the Keras model's top-1 on this share of the check
#: images (its accuracy on the test split is measured and written into kzoo.json).
INT8_AGREEMENT = 0.75
#: Calibration images for int8 quantization (a seeded sample of the training split).
CALIBRATION_IMAGES = 500
TMP_PREFIX = ".tmp-export-"
#: The marker of kzoo's exports: `kzoo.json` holds `"kzoo_export": 1` (`is_export`).
EXPORT_KEY = "kzoo_export"
#: What every kzoo.json held before `EXPORT_KEY` (each export since the first wrote these
#: keys): such a folder is an earlier kzoo export, which `overwrite` may replace too.
LEGACY_INFO_KEYS = ("source", "kind", "architecture", "sha256", "format")
#: The marker file kzoo writes into its temporary folder right after creating it: JSON
#: with the writer's pid, host and start time. Only a `TMP_PREFIX` folder holding it is
#: ever removed as a leftover, once stale (`STALE_TMP_SECONDS`, or its process is gone).
TMP_MARKER = ".kzoo-export-tmp"
STALE_TMP_SECONDS = 24 * 3600
#: TF Serving's versions are int64.
MAX_VERSION = 2**63 - 1
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
        if run is not None and run["config"].get("classes"):  # a finetune's class subset
            classes = str(run["config"]["classes"])
            info["dataset_classes"] = [int(c) for c in classes.split(",") if c.strip()]
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
    from kzoo.utils import keras_files

    model = keras_files.load_model_file(path, argument="source", compile=False)
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


def _onnx_function(model):
    """`serving_default` without its string output (ONNX runtimes rarely take strings)."""
    spec = tf.TensorSpec((None, *_input_shape(model)), tf.float32, name="images")

    @tf.function(input_signature=[spec], autograph=False)
    def serve(images):
        probabilities = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": probabilities,
                "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int64)}

    return serve, spec


# --------------------------------------------------------------------------- #
# Images: calibration, checks, evaluation
# --------------------------------------------------------------------------- #


def _fit_images(images, shape, what):
    """`images` (N, H, W, C) as the model's `shape` (resized bilinearly, channels
    converted), float32 raw pixels."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(shape) != 3:
        raise ValueError(f"Argument `calibration_data`: {what} are not images of the "
                         f"model's input shape {list(shape)}. Received: images of shape "
                         f"{list(images.shape)}")
    x = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] != shape[-1]:
        x = tf.image.grayscale_to_rgb(x) if shape[-1] == 3 else tf.image.rgb_to_grayscale(x)
    if tuple(images.shape[1:3]) != tuple(shape[:2]) and None not in shape[:2]:
        x = tf.image.resize(x, shape[:2])
    return x.numpy().astype(np.float32)


def _dataset_images(name, split, shape, limit=None, seed=0, classes=None):
    """`(images, labels)` of a dataset or image folder's split (only `classes`,
    relabelled 0..k-1, when given), fitted to `shape`; a seeded sample of `limit`
    images when given."""
    from kzoo.data.sources import load_arrays

    kwargs = {"classes": classes} if classes else {}
    if os.path.isdir(str(name)) and len(shape) == 3 and None not in shape:
        kwargs.update(channels=shape[-1], image_size=tuple(shape[:2]))
    images, labels, _ = load_arrays(name, split, **kwargs)
    if limit is not None and len(images) > limit:
        index = np.sort(np.random.default_rng(seed).choice(len(images), limit, replace=False))
        images, labels = images[index], labels[index]
    return _fit_images(images, shape, f"the images of {name!r}"), np.asarray(labels)


def _flat_folder_images(path, shape):
    """The images of a folder without class subfolders (calibration needs no labels): a
    seeded sample of `CALIBRATION_IMAGES` of its image files, decoded and resized to
    `shape` as `predict_images` does; None when `path` is no such folder (a dataset name,
    a folder of class subfolders or of splits)."""
    from kzoo.data.folders import IMAGE_EXTENSIONS

    if not os.path.isdir(path) or len(shape) != 3 or None in shape:
        return None
    entries = sorted(os.listdir(path))
    if any(os.path.isdir(os.path.join(path, e)) and not e.startswith(".") for e in entries):
        return None
    files = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise ValueError(f"Argument `calibration_data` (--calibration-data): the folder "
                         f"{path!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)}) and "
                         f"no class subfolders. Received: calibration_data={path!r}")
    if len(files) > CALIBRATION_IMAGES:
        index = np.sort(np.random.default_rng(0).choice(len(files), CALIBRATION_IMAGES,
                                                        replace=False))
        files = [files[i] for i in index]
    images = []
    for name in files:
        with open(os.path.join(path, name), "rb") as f:
            data = f.read()
        try:
            images.append(decode_image(tf.constant(data), tuple(shape)).numpy())
        except ValueError as e:
            raise ValueError(f"Argument `calibration_data` (--calibration-data): cannot read "
                             f"{os.path.join(path, name)!r} ({e}). Received: "
                             f"calibration_data={path!r}") from None
    return np.stack(images).astype(np.float32)


def _calibration_images(calibration_data, info, shape):
    """The images int8 quantization is calibrated on: `calibration_data` (an array of
    images, a dataset name, a folder of images or of class subfolders) or the source's
    training data."""
    classes = None
    if calibration_data is None:
        classes = info.get("dataset_classes")  # the run's own training data: its classes
        if not info.get("dataset"):
            raise ValueError(
                "Argument `calibration_data` (--calibration-data): int8 quantization needs "
                "calibration images and the source names no training dataset; pass a "
                "dataset name, a folder of images or an array. Received: calibration_data="
                "None")
        calibration_data = info["dataset"]
    if isinstance(calibration_data, (str, os.PathLike)):
        flat = _flat_folder_images(os.fspath(calibration_data), shape)
        if flat is not None:
            return flat
        try:
            images, _ = _dataset_images(os.fspath(calibration_data), "train", shape,
                                        limit=CALIBRATION_IMAGES, classes=classes)
        except ValueError as e:
            raise ValueError(f"Argument `calibration_data` (--calibration-data): cannot "
                             f"read {os.fspath(calibration_data)!r}: {e}") from None
        return images
    images = _fit_images(calibration_data, shape, "the calibration_data array")
    if len(images) == 0:
        raise ValueError("Argument `calibration_data` must hold at least one image. "
                         "Received: an empty array")
    return images[:CALIBRATION_IMAGES]


def _check_images(shape, calibration):
    """The images each export is checked on: calibration images when there are, else
    seeded random pixels 0-255."""
    if calibration is not None and len(calibration):
        return calibration[:CHECK_IMAGES]
    return np.random.default_rng(0).uniform(0, 255, (CHECK_IMAGES, *shape)).astype(np.float32)


# --------------------------------------------------------------------------- #
# Each format, converted and run once through its runtime
# --------------------------------------------------------------------------- #


def _compare(runtime, what, answer, expected, quantize="none"):
    """Checks a runtime's answer against the Keras model's probabilities; returns the
    largest absolute difference (and the top-1 agreement)."""
    probabilities = answer["probabilities"]
    if probabilities.shape != expected.shape or not np.all(np.isfinite(probabilities)):
        raise ValueError(f"Argument `format`: the {what} file answers probabilities of shape "
                         f"{list(probabilities.shape)} (finite: "
                         f"{bool(np.all(np.isfinite(probabilities)))}) where the Keras model "
                         f"answers {list(expected.shape)}; it is not published. Received: "
                         f"format={runtime!r}")
    diff = float(np.max(np.abs(probabilities - expected)))
    agreement = float(np.mean(answer["classes"] == np.argmax(expected, axis=-1)))
    if quantize == "int8":
        if agreement < INT8_AGREEMENT:
            raise ValueError(f"Argument `quantize`: the int8 {what} file agrees with the "
                             f"Keras model's top-1 on {agreement:.0%} of {len(expected)} "
                             f"calibration images (at least {INT8_AGREEMENT:.0%} expected); "
                             f"calibrate on more representative data (--calibration-data). "
                             f"It is not published. Received: quantize='int8'")
    else:
        tolerance = FLOAT16_TOLERANCE if quantize == "float16" else TOLERANCE
        if diff > tolerance:
            raise ValueError(f"Argument `format`: the {what} file answers probabilities "
                             f"{diff:.2e} away from the Keras model's (at most {tolerance:g} "
                             f"expected); it is not published. Received: format={runtime!r}")
    return {"max_abs_diff": diff, "top1_agreement": agreement, "check_images": len(expected)}


def _run_litert(flatbuffer, images):
    runner = litert.Runner(flatbuffer)
    try:
        return runner, runner(images)
    except (RuntimeError, ValueError) as e:
        op = runner.failing_op(e)
        message = " ".join(str(e).split())[:400]
        raise ValueError(
            "Argument `format`: the LiteRT file was converted but fails in LiteRT's "
            "interpreter" + (f" at op {op}" if op else "") + f" ({message}); it is not "
            f"published. Received: format='tflite'") from None


def _write_tflite(model, saved_model_dir, directory, quantize, calibration, input_type,
                  images, expected):
    names = [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)]
    flatbuffer = litert.convert(saved_model_dir, quantize=quantize, representative=calibration,
                                input_type=input_type, layer_names=names)
    runner, answer = _run_litert(flatbuffer, images)
    entry = {"file": TFLITE_FILE, "runtime": litert.runtime_version(), "quantize": quantize,
             "bytes": len(flatbuffer)}
    if quantize == "int8":
        scale, zero_point = runner.input_quantization
        entry.update(input_type=str(runner.input_dtype), input_scale=scale,
                     input_zero_point=zero_point)
    entry.update(_compare("tflite", "LiteRT", answer, expected, quantize))
    _write_bytes(directory, TFLITE_FILE, flatbuffer)
    return entry, runner


def _write_bytes(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def _write_onnx(model, directory, images, expected):
    function, spec = _onnx_function(model)
    path = os.path.join(directory, ONNX_FILE)
    onnx_export.convert(function, spec, path)
    try:
        answer = onnx_export.Runner(path)(images)
    except Exception as e:  # noqa: BLE001 - onnxruntime's own errors
        os.remove(path)
        raise ValueError(f"Argument `format`: the ONNX file was converted but fails in "
                         f"onnxruntime ({' '.join(str(e).split())[:400]}); it is not "
                         f"published. Received: format='onnx'") from None
    entry = {"file": ONNX_FILE, "runtime": onnx_export.runtime_version(),
             "opset": onnx_export.OPSET, "bytes": os.path.getsize(path)}
    entry.update(_compare("onnx", "ONNX", answer, expected))
    return entry


def _check_saved_model(path, images, expected):
    loaded = tf.saved_model.load(path)
    answer = loaded.signatures["serving_default"](images=tf.constant(images))
    answer = {key: value.numpy() for key, value in answer.items()}
    entry = {"runtime": f"tensorflow {tf.__version__}"}
    entry.update(_compare("saved_model", "SavedModel", answer, expected))
    return entry


def _test_accuracy(runner, model, info, shape, limit=None):
    """The accuracy of a LiteRT `runner` on the test split of the source's dataset, and
    the Keras `model`'s on the same images (a checkpoint's recorded accuracy may have
    used test-time augmentation, which no exported file does), or None when the dataset
    is not known or not readable."""
    dataset = info.get("dataset")
    if not dataset:
        return None
    try:
        images, labels = _dataset_images(dataset, "test", shape, limit=limit,
                                         classes=info.get("dataset_classes"))
    except Exception as e:  # noqa: BLE001 - accuracy is a bonus, never a failure
        print(f"kzoo export: the test accuracy of the quantized model was not measured "
              f"({dataset!r}: {e})", file=sys.stderr)
        return None
    classes = int(model.outputs[0].shape[-1])
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= classes:
        print(f"kzoo export: the test accuracy of the quantized model was not measured: the "
              f"labels of {dataset!r} do not match the model's {classes} classes",
              file=sys.stderr)
        return None
    correct = keras_correct = 0
    with float32_compute(model):
        for start in range(0, len(images), 256):
            batch, truth = images[start:start + 256], labels[start:start + 256]
            correct += int(np.sum(runner(batch)["classes"] == truth))
            probabilities = keras.ops.convert_to_numpy(model(batch, training=False))
            keras_correct += int(np.sum(probabilities.argmax(-1) == truth))
    return {"test_accuracy": correct / len(images),
            "keras_test_accuracy": keras_correct / len(images),
            "test_images": int(len(images)), "dataset": dataset}


def _write_files(directory, labels, info):
    with open(os.path.join(directory, LABELS_FILE), "w") as f:
        f.write("".join(label + "\n" for label in labels))
    with open(os.path.join(directory, INFO_FILE), "w") as f:
        json.dump({EXPORT_KEY: 1, **info}, f, indent=2)  # the marker `is_export` reads
        f.write("\n")


# --------------------------------------------------------------------------- #
# Writing atomically
# --------------------------------------------------------------------------- #


def _read_info(path):
    """The parsed JSON object at `path`, or None (missing, unreadable, not an object)."""
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read(1 << 20))  # kzoo's is a few kB
    except (OSError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def is_export(path):
    """Whether `path` is a folder kzoo's export wrote (a SavedModel, LiteRT or ONNX export).

    A `saved_model.pb` or a `model.tflite` proves nothing (a user's own
    SavedModel looks the same): the folder's `kzoo.json` (`assets/kzoo.json`
    beside a SavedModel) must be kzoo's, marked `"kzoo_export": 1`. Exports
    made before that marker are known by the keys every kzoo.json held
    (`LEGACY_INFO_KEYS`).
    """
    if not os.path.isdir(path) or os.path.islink(path):
        return False
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        info = _read_info(os.path.join(path, "assets", INFO_FILE))
    elif (os.path.isfile(os.path.join(path, TFLITE_FILE))
          or os.path.isfile(os.path.join(path, ONNX_FILE))):
        info = _read_info(os.path.join(path, INFO_FILE))
    else:
        return False
    return info is not None and (info.get(EXPORT_KEY) == 1
                                 or all(key in info for key in LEGACY_INFO_KEYS))


def _check_format(format, quantize="none", input_type="uint8"):
    if format not in FORMATS:
        raise ValueError(f"Argument `format` (--format) must be one of {list(FORMATS)}. "
                         f"Received: format={format!r}")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Argument `quantize` (--quantize) must be one of "
                         f"{list(QUANTIZATIONS)}. Received: quantize={quantize!r}")
    if quantize != "none" and format not in ("tflite", "all"):
        raise ValueError(f"Argument `quantize` (--quantize) applies to the LiteRT file: use "
                         f"format='tflite' or 'all'. Received: quantize={quantize!r} with "
                         f"format={format!r}")
    if input_type not in INPUT_TYPES:
        raise ValueError(f"Argument `input_type` (--input-type) must be one of "
                         f"{list(INPUT_TYPES)}. Received: input_type={input_type!r}")


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
                f"Argument `path`: {path!r} exists and is not a kzoo export (no kzoo.json "
                f"of kzoo's export in it); kzoo never replaces such a folder, with or "
                f"without --overwrite. Received: path={path!r}")
    parent = io.nearest_existing_parent(path)
    if not os.path.isdir(parent):
        raise ValueError(f"Argument `path` lies under {parent!r}, which is a file. "
                         f"Received: path={path!r}")


def export(model, path, *, class_names=None, format="saved_model", quantize="none",
           calibration_data=None, input_type="uint8", overwrite=False, _info=None):
    """Exports `model` for serving into the folder `path`, atomically.

    Args:
        model: a `keras.Model` taking raw pixels `(H, W, C)`, C 1 or 3, and
            answering class probabilities; or a source of `load_source` (a run
            directory, a `.keras` file, a zoo checkpoint name).
        path: the folder to write (e.g. `exports/lenet/1`).
        class_names: the names of the model's classes (default: those of the
            source when known, else `"0"`, `"1"`, ...).
        format: `"saved_model"` (signatures `serving_default` and
            `predict_images`, `assets/labels.txt`, `assets/kzoo.json`),
            `"tflite"` (`model.tflite`, LiteRT builtin ops only, the
            `serving_default` function, plus `labels.txt` and `kzoo.json`),
            `"onnx"` (`model.onnx`: input `images`, outputs `probabilities`
            and `classes`; plus `labels.txt` and `kzoo.json`) or `"all"` (the
            SavedModel with `model.tflite` and `model.onnx` beside it).
        quantize: the LiteRT file's: `"none"` (float32), `"float16"` (float16
            weights) or `"int8"` (full-integer, calibrated on
            `calibration_data`; its test accuracy is measured on the source's
            test split and written into `kzoo.json`).
        calibration_data: int8 only: a dataset name (`kzoo.data.list_datasets()`),
            a folder of images, or an array `(N, H, W, C)` of raw pixels;
            default: the source's training dataset (a run's, a checkpoint's).
        input_type: int8 only: the LiteRT file's input type, `"uint8"` or
            `"int8"` (`kzoo.json` gives its scale and zero point).
        overwrite: replace an existing export at `path` (only a folder kzoo's
            export wrote; never any other folder).

    Returns:
        `path`.

    Raises:
        ValueError: bad `format`, `quantize`, `input_type`, `calibration_data`,
            `path` (a file, an existing folder without `overwrite`, a folder
            that is not an export), `class_names` or `model`; a model a
            runtime cannot take (the message names the ops, and the layer where
            the converter says), or a file whose answers differ from the Keras
            model's. Nothing is written then.

    Examples:
        >>> kzoo.serving.export(model, "exports/lenet/1", class_names=names)
        >>> kzoo.serving.export("lenet_fashion_mnist", "exports/lenet/2", format="all",
        ...                     quantize="int8")
    """
    _check_format(format, quantize, input_type)
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
    calibration = None
    if quantize == "int8":
        calibration = _calibration_images(calibration_data, info, shape)
    elif calibration_data is not None:
        raise ValueError(f"Argument `calibration_data` (--calibration-data) is for "
                         f"quantize='int8'. Received: quantize={quantize!r}")
    images = _check_images(shape, calibration)
    with float32_compute(model):  # what is exported: a mixed precision model in float32
        expected = keras.ops.convert_to_numpy(
            model(tf.constant(images), training=False)).astype(np.float32)

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    _remove_stale_tmp(parent)
    tmp = tempfile.mkdtemp(dir=parent, prefix=TMP_PREFIX)
    try:
        _mark_tmp(tmp, path)
        target = os.path.join(tmp, "version")
        formats = {}
        with native_implementation(model) as lowered, float32_compute(model) as mixed:
            info["lowered_im2col_layers"] = len(lowered)
            info["float32_from_mixed_precision_layers"] = len(mixed)
            if format in ("saved_model", "all"):
                _write_saved_model(model, labels, target)
                info["signatures"] = {
                    "serving_default": {"inputs": {"images": ["float32", [None, *shape]]}}}
                if _image_shape(shape):
                    info["signatures"]["predict_images"] = {
                        "inputs": {"image_bytes": ["string", [None]]}}
                formats["saved_model"] = _check_saved_model(target, images, expected)
                saved_model = target
            else:
                os.makedirs(target)
                if format == "tflite":
                    saved_model = os.path.join(tmp, "staging")
                    _write_saved_model(model, labels, saved_model, with_images=False)
            if format in ("tflite", "all"):
                formats["tflite"], runner = _write_tflite(
                    model, saved_model, target, quantize, calibration, input_type, images,
                    expected)
                if quantize != "none":
                    accuracy = _test_accuracy(runner, model, info, shape)
                    if accuracy is not None:
                        formats["tflite"].update(accuracy)
            if format in ("onnx", "all"):
                formats["onnx"] = _write_onnx(model, target, images, expected)
        info["formats"] = formats
        info["quantize"] = quantize
        if format in ("saved_model", "all"):
            assets = os.path.join(target, "assets")
            os.makedirs(assets, exist_ok=True)
            _write_files(assets, labels, info)
        else:
            _write_files(target, labels, info)
        _make_readable(target)
        if os.path.lexists(path):
            # Move the old version aside first: in between there is no version, never half one.
            os.replace(path, os.path.join(tmp, "old"))
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _mark_tmp(tmp, path):
    """Marks `tmp` as kzoo's temporary folder (`TMP_MARKER`) for `path`."""
    with open(os.path.join(tmp, TMP_MARKER), "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                   "path": os.path.basename(path)}, f)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid we can judge: keep its folder
    return True


def _remove_stale_tmp(parent):
    """Removes leftovers of killed exports from `parent`: folders named `TMP_PREFIX*`
    holding kzoo's `TMP_MARKER` whose process is gone (same host) or that are older than
    `STALE_TMP_SECONDS`. A version moved aside by an overwrite killed before the new one
    took its place is moved back first. A folder without the marker is never touched."""
    for name in os.listdir(parent):
        tmp = os.path.join(parent, name)
        if not name.startswith(TMP_PREFIX) or os.path.islink(tmp) or not os.path.isdir(tmp):
            continue
        marker = _read_info(os.path.join(tmp, TMP_MARKER))
        if marker is None:
            _remove_unmarked_tmp(tmp)
            continue
        if not isinstance(marker.get("pid"), int) or marker["pid"] < 1:
            continue
        started = marker.get("started")
        age = time.time() - (started if isinstance(started, (int, float)) else 0)
        here = marker.get("host") == socket.gethostname()
        if age < STALE_TMP_SECONDS and not (here and not _process_alive(marker["pid"])):
            continue  # an export still running
        old, target = os.path.join(tmp, "old"), marker.get("path")
        if (isinstance(target, str) and _NAME.match(target) and os.path.isdir(old)
                and not os.path.lexists(os.path.join(parent, target))):
            try:
                os.replace(old, os.path.join(parent, target))
            except OSError:
                continue  # keep the leftover, and the version in it, rather than lose it
        shutil.rmtree(tmp, ignore_errors=True)


#: An export's temporary folder gets its marker at once: one still without it this many
#: seconds after it was made is the leftover of an export killed between the two.
UNMARKED_TMP_SECONDS = 2.0


def _remove_unmarked_tmp(tmp):
    """Removes `tmp` when it is what an export killed as it began leaves: an empty folder,
    or one holding only an empty marker file, older than `UNMARKED_TMP_SECONDS`. Anything
    else without kzoo's marker is never touched (and `os.rmdir` only removes an empty
    folder)."""
    try:
        names = os.listdir(tmp)
        marker = os.path.join(tmp, TMP_MARKER)
        if names not in ([], [TMP_MARKER]) or (names and os.path.getsize(marker)):
            return
        if time.time() - os.stat(tmp).st_mtime < UNMARKED_TMP_SECONDS:
            return  # an export that is just starting
        if names:
            os.remove(marker)
        os.rmdir(tmp)
    except OSError:
        pass


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
                   quantize="none", calibration_data=None, input_type="uint8",
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
        format: `"saved_model"`, `"tflite"`, `"onnx"` or `"all"` (see `export`).
        quantize: the LiteRT file's quantization (see `export`).
        calibration_data: int8 calibration images (see `export`).
        input_type: the int8 LiteRT file's input type (see `export`).
        overwrite: replace an existing version (only a kzoo export).
        class_names: override the source's class names.

    Returns:
        `(path, info)`: the version folder and the metadata of `assets/kzoo.json`.
    """
    _check_format(format, quantize, input_type)
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"Argument `name` (--name) must be letters, digits, '.', '_' or "
                         f"'-' (no '/' or '..'), starting with a letter or digit. "
                         f"Received: name={name!r}")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 1 <= version <= MAX_VERSION):
        raise ValueError(f"Argument `version` (--version) must be a positive int of at most "
                         f"{MAX_VERSION} (TF Serving's versions are int64). "
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
        if version > MAX_VERSION:
            raise ValueError(f"Argument `version` (--version): the highest version of "
                             f"{name!r} is {version - 1}, TF Serving's last (int64); pass a "
                             f"free version. Received: version=None")
    path = os.path.join(model_dir, str(version))
    if os.path.lexists(path) and not overwrite:
        raise ValueError(f"Argument `version` (--version): version {version} of {name!r} "
                         f"exists at {path!r}; pass --overwrite to replace it. "
                         f"Received: version={version}")
    _check_destination(path, overwrite)
    model, info = load_source(source)
    export(model, path, class_names=class_names, format=format, quantize=quantize,
           calibration_data=calibration_data, input_type=input_type, overwrite=overwrite,
           _info=info)
    assets = "assets" if format in ("saved_model", "all") else ""
    with open(os.path.join(path, assets, INFO_FILE)) as f:
        return path, json.load(f)
