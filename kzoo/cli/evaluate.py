"""`kzoo evaluate` and `kzoo predict`: a run directory or a `.keras` file at work."""

import json
import os

import click
import numpy as np

from kzoo.data.images import read_image
from kzoo.models import pretrained
from kzoo.training.evaluate import evaluate_model_file, load_model_file


def resolve_model_file(path, argument):
    """A run directory or a `.keras` file → the `.keras` file; `argument` names it in errors."""
    given = path
    if os.path.isdir(path):
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Argument `{argument}`: No model file at {path!r}: expected a "
                                f"run directory (holding model.keras) or a .keras file. "
                                f"Received: {argument}={given!r}")
    return path


def class_names_for(model_file, num_classes):
    """Class names from the run's metrics.json, else the manifest, else numbers."""
    metrics = os.path.join(os.path.dirname(model_file), "metrics.json")
    if os.path.exists(metrics):
        with open(metrics) as f:
            names = json.load(f).get("class_names")
        if names and len(names) == num_classes:
            return names
    entry = pretrained.entry_for_file(model_file)
    if entry and len(entry.get("class_names", [])) == num_classes:
        return entry["class_names"]
    return [str(i) for i in range(num_classes)]


@click.command("evaluate")
@click.argument("run_or_model_file")
@click.option("--dataset", default="fashion_mnist", show_default=True)
@click.option("--batch-size", default=512, show_default=True, type=click.IntRange(min=1))
def evaluate_cmd(run_or_model_file, dataset, batch_size):
    """Evaluate a run directory or a .keras model on a dataset's test split."""
    result = evaluate_model_file(resolve_model_file(run_or_model_file, "RUN_OR_MODEL_FILE"),
                                 dataset,
                                 batch_size=batch_size)
    click.echo(f"{dataset} test: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f} "
               f"({result['examples']:,} images)")


@click.command("predict")
@click.argument("model_file")
@click.argument("images", nargs=-1, required=True)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1))
def predict_cmd(model_file, images, top_k):
    """Classify PNG/JPEG IMAGES with a .keras model (or run directory): top-k classes.

    Each image is resized to the model's input size and converted to its
    channels (grayscale or RGB); the output says when that happened.
    """
    model_file = resolve_model_file(model_file, "MODEL_FILE")
    model = load_model_file(model_file)
    if len(model.input_shape) != 4:
        raise ValueError(f"Argument `MODEL_FILE`: model {model_file!r} takes inputs of shape "
                         f"{tuple(model.input_shape[1:])}, not images (height, width, "
                         f"channels). Received: MODEL_FILE={model_file!r}")
    height, width, channels = model.input_shape[1:]
    names = class_names_for(model_file, model.output_shape[-1])
    read = [read_image(path, (height, width), channels, return_original=True,
                       argument="IMAGES") for path in images]
    sizes = {pixels.shape for pixels, _ in read}
    if len(sizes) > 1:  # a model with free height/width, and images of several sizes
        raise ValueError(f"Model {model_file!r} takes any image size, but one batch needs one "
                         f"size; predict these images one at a time. Received: sizes "
                         f"{sorted(s[:2] for s in sizes)}")
    probabilities = model.predict(np.stack([pixels for pixels, _ in read]), verbose=0)
    mode, target = ("L", "grayscale") if channels == 1 else ("RGB", "RGB")
    for path, (pixels, original), p in zip(images, read, probabilities):
        best = np.argsort(p)[::-1][:top_k]
        ranked = ", ".join(f"{names[i]} {p[i]:.3f}" for i in best)
        # Say what was done to fit the model's input.
        h, w, original_mode = original
        converted = (h, w) != pixels.shape[:2] or original_mode != mode
        note = (f" ({w}×{h} {original_mode} → {pixels.shape[1]}×{pixels.shape[0]} {target})"
                if converted else "")
        click.echo(f"{path}{note}: {ranked}")


COMMANDS = (evaluate_cmd, predict_cmd)
