"""The zoo's own trained checkpoints: the manifest, verified loading, evaluation.

`saved_models/manifest.json` lists each checkpoint the zoo ships: name,
architecture, dataset, input shape, class names, test accuracy, parameter
count, file, sha256 and the `kzoo train` command that reproduces it. A
checkpoint is a `.keras` model that takes raw pixels (0–255) and carries its
own preprocessing. Loading one checks its sha256 first: a changed or truncated
file is an error, never silently wrong weights.
"""

import json
import os

import numpy as np

from kzoo.utils import io

#: The repository's saved_models/ beside the kzoo package.
REPOSITORY_SAVED_MODELS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models"
)


def saved_models_root():
    """Where the shipped checkpoints live: $KZOO_SAVED_MODELS, else the repository's."""
    return os.environ.get("KZOO_SAVED_MODELS", REPOSITORY_SAVED_MODELS)


class ChecksumError(ValueError):
    """A checkpoint file does not match the sha256 in the manifest."""


def manifest_path(root=None):
    return os.path.join(root or saved_models_root(), "manifest.json")


def read_manifest(root=None):
    """The manifest's list of checkpoint entries (empty when there is none)."""
    path = manifest_path(root)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["checkpoints"]


def write_manifest(entries, root=None):
    io.write_json(manifest_path(root), {
        "about": "Checkpoints trained by kzoo's own CLI; each takes raw pixels 0-255.",
        "checkpoints": sorted(entries, key=lambda e: e["name"]),
    })


def find_checkpoint(architecture, weights, root=None):
    """The manifest entry of `architecture` trained on `weights` (a dataset name), or None."""
    for entry in read_manifest(root):
        if entry["architecture"] == architecture and weights in (entry["dataset"], entry["name"]):
            return entry
    return None


def available_weights(architecture, root=None):
    """Dataset names the zoo ships checkpoints of `architecture` for."""
    return sorted({e["dataset"] for e in read_manifest(root) if e["architecture"] == architecture})


def manifest_entry_for_file(path, root=None):
    """The manifest entry whose file is `path`, or None."""
    path = os.path.abspath(path)
    for entry in read_manifest(root):
        if os.path.abspath(os.path.join(root or saved_models_root(), entry["file"])) == path:
            return entry
    return None


def verified_checkpoint_path(entry, root=None):
    """The checkpoint file of a manifest entry after checking its sha256."""
    path = os.path.join(root or saved_models_root(), entry["file"])
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Checkpoint {entry['name']!r} is listed in the manifest but its file {path!r} "
            "is missing."
        )
    digest = io.sha256(path)
    if digest != entry["sha256"]:
        raise ChecksumError(
            f"Checkpoint file {path!r} does not match the manifest's sha256 (the file is "
            f"changed or truncated); refusing to load it. Expected sha256={entry['sha256']}. "
            f"Received: sha256={digest}"
        )
    return path


def load_checkpoint(entry, root=None):
    """The shipped `keras.Model` of a manifest entry, sha256-verified."""
    import keras

    import kzoo  # noqa: F401 - registers kzoo layers

    return keras.saving.load_model(verified_checkpoint_path(entry, root))


def create_pretrained(architecture, weights, root=None, **kwargs):
    """`kzoo.create_model(architecture, weights=<dataset>)` for the zoo's checkpoints.

    Builds the architecture with the checkpoint's preprocessing in front (raw
    pixels in), then copies the checkpoint's weights layer by layer by name —
    all of them with `include_top=True`, the feature layers otherwise (for
    fine-tuning with a new head).
    """
    import keras

    from kzoo.models.registry import get_entry

    entry = find_checkpoint(architecture, weights, root)
    shipped = load_checkpoint(entry, root)
    input_shape = kwargs.pop("input_shape", None) or tuple(entry["input_shape"])
    if tuple(input_shape)[-1] != entry["input_shape"][-1]:
        raise ValueError(
            f"Checkpoint {entry['name']!r} takes {entry['input_shape'][-1]} channel(s). "
            f"Received: input_shape={tuple(input_shape)}"
        )
    include_top = kwargs.get("include_top", True)
    if include_top and kwargs.get("classes", len(entry["class_names"])) != len(
            entry["class_names"]):
        raise ValueError(
            f"With include_top=True, checkpoint {entry['name']!r} has "
            f"{len(entry['class_names'])} classes. Received: classes={kwargs['classes']}"
        )
    kwargs.setdefault("classes", len(entry["class_names"]))
    pixels = keras.Input(tuple(input_shape), name="pixels")
    x = pixels
    preprocessing = []
    for layer in shipped.layers[1:]:
        if layer.name not in ("scale", "standardize"):
            break
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
        preprocessing.append(layer.name)
    model = get_entry(architecture).builder(input_tensor=x, input_shape=tuple(input_shape),
                                            weights=None, **kwargs)
    copied = 0
    for layer in model.layers:
        if layer.name in preprocessing or not layer.weights:
            continue
        try:
            source = shipped.get_layer(layer.name)
        except ValueError:
            continue
        if [w.shape for w in source.weights] == [w.shape for w in layer.weights]:
            layer.set_weights(source.get_weights())
            copied += 1
    if copied == 0:
        raise ValueError(f"No layer of {architecture!r} matched checkpoint {entry['name']!r}.")
    return model


def read_image(path, size, channels, return_original=False):
    """A PNG/JPEG file as raw pixels (H, W, C) float32 0–255, resized and converted.

    Args:
        path: the image file.
        size: `(height, width)` to resize to; `None` entries keep the image's own.
        channels: 1 (converted to grayscale) or 3 (converted to RGB).
        return_original: also return the file's own `(height, width, mode)`,
            e.g. `(480, 640, "RGB")`, so a caller can say what was converted.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable or corrupt image, or an unsupported channel count.
    """
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}.")
    if channels not in (1, 3):
        raise ValueError(f"Images can be fed to 1- or 3-channel models. Received: "
                         f"channels={channels}")
    try:
        with Image.open(path) as image:
            original = (image.height, image.width, image.mode)
            height, width = (s or own for s, own in zip(size, original))
            image = image.convert("L" if channels == 1 else "RGB")
            if (height, width) != original[:2]:
                image = image.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, dtype="float32").reshape(height, width, channels)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"Cannot read image {path!r} (unreadable or corrupt): {e}") from None
    return (pixels, original) if return_original else pixels


def evaluate_model_file(model_file, dataset, batch_size=512):
    """Test accuracy and loss of a `.keras` model file (raw pixels in) on `dataset`."""
    import keras

    import kzoo

    spec = kzoo.data.catalog.get_spec(dataset)
    entry = manifest_entry_for_file(model_file)
    if entry is not None:
        verified_checkpoint_path(entry)
    model = keras.saving.load_model(model_file)
    expected = tuple(model.input_shape[1:])
    if expected != tuple(spec.shape) or model.output_shape[-1] != spec.num_classes:
        raise ValueError(
            f"Model {model_file!r} takes {expected} images with {model.output_shape[-1]} "
            f"classes; dataset {dataset!r} has {tuple(spec.shape)} images with "
            f"{spec.num_classes} classes. Received: dataset={dataset!r}"
        )
    images, labels, _ = kzoo.data.load_arrays(dataset, "test")
    ds = kzoo.data.from_arrays(images, labels, batch_size, normalize=None)
    probabilities = model.predict(ds, verbose=0)
    loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return {
        "accuracy": float((probabilities.argmax(-1) == labels).mean()),
        "loss": float(np.mean(loss)),
        "examples": int(len(labels)),
    }


def publish(run_dir, name=None, root=None):
    """Adds a finished run's model to the shipped checkpoints and the manifest.

    Copies `run_dir/model.keras` to `saved_models/<name>.keras` (atomically),
    re-evaluates it on the test split, and records its architecture, dataset,
    input shape, class names, test accuracy, parameter count, sha256 and the
    `kzoo train` command that reproduces it. An entry of the same name is
    replaced.

    Returns:
        The manifest entry.
    """
    import shutil

    root = root or saved_models_root()
    metrics_file = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(metrics_file):
        raise FileNotFoundError(f"{run_dir!r} is not a finished run (no metrics.json).")
    with open(metrics_file) as f:
        metrics = json.load(f)
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    name = name or f"{metrics['model']}_{metrics['dataset']}"
    target = os.path.join(root, f"{name}.keras")
    with io.atomic_path(target, suffix=".keras") as tmp:
        shutil.copyfile(os.path.join(run_dir, "model.keras"), tmp)
    result = evaluate_model_file(target, metrics["dataset"])
    entry = {
        "name": name,
        "architecture": metrics["model"],
        "dataset": metrics["dataset"],
        "input_shape": metrics["input_shape"],
        "class_names": metrics["class_names"],
        "test_accuracy": round(result["accuracy"], 4),
        "params": metrics["params"],
        "file": os.path.basename(target),
        "sha256": io.sha256(target),
        "command": run["command"].rsplit(" --output ", 1)[0],
        "config": run["config"],
    }
    entries = [e for e in read_manifest(root) if e["name"] != name] + [entry]
    write_manifest(entries, root)
    return entry
