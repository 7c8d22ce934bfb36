"""`kzoo train`, `kzoo evaluate` and `kzoo predict` (registered on `kzoo.cli.main`)."""

import json
import os
import sys

import click

from kzoo.cli import user_errors


def _model_args(pairs):
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg takes KEY=VALUE (JSON value). Received: {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


@click.command("train")
@click.argument("model")
@click.option("--dataset", default="fashion_mnist", show_default=True)
@click.option("--epochs", default=10, show_default=True, type=int)
@click.option("--batch-size", default=128, show_default=True, type=int)
@click.option("--optimizer", default="adam", show_default=True,
              help="A kzoo.optimizers.get name: sgd, momentum, nesterov, adagrad, rmsprop, "
                   "adam, amsgrad, nadam, adamw.")
@click.option("--learning-rate", default=1e-3, show_default=True, type=float)
@click.option("--schedule", default="constant", show_default=True,
              type=click.Choice(["constant", "cosine", "step", "exponential", "inverse_time"]))
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--augment", default="", help="Comma-separated subset of flip,crop,scale,color.")
@click.option("--normalize", default="scale", show_default=True,
              type=click.Choice(["scale", "standardize"]))
@click.option("--validation-size", default=5000, show_default=True, type=int,
              help="Training images held out for validation.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--conv-impl", default="native", show_default=True,
              type=click.Choice(["native", "im2col"]))
@click.option("--model-arg", multiple=True, metavar="KEY=VALUE",
              help="Extra builder argument (JSON value), repeatable.")
@click.option("--output", default=None,
              help="Run directory [default: runs/MODEL-DATASET-seedSEED].")
@click.option("--overwrite", is_flag=True, help="Start afresh in an existing run directory.")
@click.option("--export", is_flag=True, help="Also write a SavedModel to RUN/saved_model.")
@user_errors
def train_cmd(model, dataset, epochs, batch_size, optimizer, learning_rate, schedule,
              weight_decay, augment, normalize, validation_size, seed, conv_impl, model_arg,
              output, overwrite, export):
    """Train MODEL on a dataset into a run directory (rerun to resume)."""
    from kzoo.training.trainer import TrainConfig, train

    config = TrainConfig(
        model=model, dataset=dataset, epochs=epochs, batch_size=batch_size,
        optimizer=optimizer, learning_rate=learning_rate, schedule=schedule,
        weight_decay=weight_decay, augment=augment, normalize=normalize,
        validation_size=validation_size, seed=seed, conv_impl=conv_impl,
        model_kwargs=_model_args(model_arg),
    )
    output = output or os.path.join("runs", f"{model}-{dataset}-seed{seed}")
    try:
        metrics = train(config, output, overwrite=overwrite, export=export)
    except KeyboardInterrupt:
        click.echo(f"kzoo: interrupted; the last completed epoch is kept in {output}/checkpoint. "
                   "Run the same command to resume.", err=True)
        sys.exit(130)
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}); "
               f"run directory {output}")


def resolve_model_file(path):
    """A run directory or a `.keras` file → the `.keras` file."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}: expected a run directory or a "
                                ".keras file.")
    return path


def class_names_for(model_file, num_classes):
    """Class names from the run's metrics.json, else the manifest, else numbers."""
    from kzoo.zoo import manifest_entry_for_file

    metrics = os.path.join(os.path.dirname(model_file), "metrics.json")
    if os.path.exists(metrics):
        with open(metrics) as f:
            names = json.load(f).get("class_names")
        if names and len(names) == num_classes:
            return names
    entry = manifest_entry_for_file(model_file)
    if entry and len(entry.get("class_names", [])) == num_classes:
        return entry["class_names"]
    return [str(i) for i in range(num_classes)]


@click.command("evaluate")
@click.argument("run_or_model_file")
@click.option("--dataset", default="fashion_mnist", show_default=True)
@click.option("--batch-size", default=512, show_default=True, type=int)
@user_errors
def evaluate_cmd(run_or_model_file, dataset, batch_size):
    """Evaluate a run directory or a .keras model on a dataset's test split."""
    from kzoo.zoo import evaluate_model_file

    result = evaluate_model_file(resolve_model_file(run_or_model_file), dataset,
                                 batch_size=batch_size)
    click.echo(f"{dataset} test: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f} "
               f"({result['examples']:,} images)")


@click.command("predict")
@click.argument("model_file")
@click.argument("images", nargs=-1, required=True)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1))
@user_errors
def predict_cmd(model_file, images, top_k):
    """Classify PNG/JPEG IMAGES with a .keras model (or run directory): top-k classes.

    Each image is resized to the model's input size and converted to its
    channels (grayscale or RGB); the output says when that happened.
    """
    import keras
    import numpy as np

    import kzoo  # noqa: F401 - registers kzoo layers for loading
    from kzoo.zoo import read_image

    model_file = resolve_model_file(model_file)
    model = keras.saving.load_model(model_file)
    height, width, channels = model.input_shape[1:]
    names = class_names_for(model_file, model.output_shape[-1])
    read = [read_image(path, (height, width), channels, return_original=True)
            for path in images]
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


@click.command("publish")
@click.argument("run_dir")
@click.option("--name", default=None, help="Checkpoint name [default: MODEL_DATASET].")
@user_errors
def publish_cmd(run_dir, name):
    """Ship a finished run's model in saved_models/ and record it in the manifest."""
    from kzoo.zoo import publish

    entry = publish(run_dir, name)
    click.echo(f"{entry['name']}: test accuracy {entry['test_accuracy']:.4f}, "
               f"sha256 {entry['sha256'][:12]}..., file saved_models/{entry['file']}")
