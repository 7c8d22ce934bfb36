"""`kzoo evaluate` and `kzoo predict`: a run directory or a `.keras` file at work."""

import itertools
import os

import click
import numpy as np

from kzoo.data.images import read_image
from kzoo.models import pretrained
from kzoo.training import reports, run_dir
from kzoo.training.config import MAX_BATCH_SIZE
from kzoo.training.evaluate import evaluate_model_file, load_model_file
from kzoo.transfer.cam import cam_method, class_activation_map
from kzoo.utils import io

#: The PNG text chunk (key, value) that marks a heatmap kzoo's `predict --explain` wrote:
#: only such a file is ever replaced; any other file of that name is the user's and kept.
HEATMAP_MARK = ("kzoo", "predict --explain")


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
    """Class names from the run's metrics.json, else the manifest, else numbers.

    A damaged metrics.json is said (one warning line naming it), not fatal.
    """
    run = os.path.dirname(model_file)
    if os.path.exists(os.path.join(run, run_dir.METRICS_FILE)):
        try:
            names = run_dir.read_metrics(run).get("class_names")
        except ValueError as e:
            click.echo(f"kzoo: warning: {e} Class names are taken from elsewhere.", err=True)
            names = None
        if names and len(names) == num_classes:
            return names
    entry = pretrained.entry_for_file(model_file)
    if entry and len(entry.get("class_names", [])) == num_classes:
        return entry["class_names"]
    return [str(i) for i in range(num_classes)]


@click.command("evaluate")
@click.argument("run_or_model_file")
@click.option("--dataset", default="fashion_mnist", show_default=True)
@click.option("--batch-size", default=512, show_default=True,
              type=click.IntRange(min=1, max=MAX_BATCH_SIZE))
@click.option("--tta", is_flag=True,
              help="Test-time augmentation: the mean of the probabilities of each image and "
                   "its horizontal flip.")
def evaluate_cmd(run_or_model_file, dataset, batch_size, tta):
    """Evaluate a run directory or a .keras model on a dataset's test split."""
    result = evaluate_model_file(resolve_model_file(run_or_model_file, "RUN_OR_MODEL_FILE"),
                                 dataset, batch_size=batch_size, tta=tta)
    click.echo(f"{dataset} test{' (flip TTA)' if tta else ''}: accuracy "
               f"{result['accuracy']:.4f}, loss {result['loss']:.4f} "
               f"({result['examples']:,} images)")


def is_kzoo_heatmap(path):
    """Whether `path` is a PNG file (not a link) that `kzoo predict --explain` wrote."""
    from PIL import Image

    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        with Image.open(path) as image:
            return (image.format == "PNG"
                    and getattr(image, "text", {}).get(HEATMAP_MARK[0]) == HEATMAP_MARK[1])
    except Exception:  # noqa: BLE001 - any file PIL cannot read is not kzoo's heatmap
        return False


def explain_paths(images, directory):
    """`directory/<image stem>_cam.png` per image; a repeated stem gets `_2`, `_3`, ...

    A name taken by anything but a heatmap kzoo wrote (a user's file or folder)
    is kept as it is: the heatmap goes to the next free name.

    Returns:
        `(paths, notes)`: the file of each image, and one line per name kept.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"Option `--explain-dir`: {directory!r} exists and is not a folder. "
                         f"Received: --explain-dir={directory!r}")
    paths, notes, claimed = [], [], set()
    for image in images:
        stem = os.path.splitext(os.path.basename(image))[0]
        for n in itertools.count(1):
            path = os.path.join(directory, f"{stem}_cam.png" if n == 1 else f"{stem}_{n}_cam.png")
            if path in claimed:
                continue
            if not os.path.lexists(path) or is_kzoo_heatmap(path):
                break
            notes.append(f"kzoo: {path} is not a heatmap kzoo wrote; it is kept, and the "
                         f"heatmap of {image} goes beside it")
        claimed.add(path)
        paths.append(path)
    return paths, notes


def write_heatmap(pixels, heatmap, title, path):
    """The heatmap overlay PNG at `path` (atomically), marked as kzoo's (`HEATMAP_MARK`)."""
    from PIL import Image, PngImagePlugin

    with io.atomic_path(path, suffix=".png") as tmp:
        reports.plot_heatmap_overlay(pixels, heatmap, title, tmp)
        with Image.open(tmp) as image:
            text, image = dict(image.text), image.copy()
        info = PngImagePlugin.PngInfo()
        for key, value in {**text, HEATMAP_MARK[0]: HEATMAP_MARK[1]}.items():
            info.add_text(key, value)
        image.save(tmp, format="PNG", pnginfo=info)


@click.command("predict")
@click.argument("model_file")
@click.argument("images", nargs=-1, required=True)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--explain", is_flag=True,
              help="Also write each image with the class activation map of its top-1 class "
                   "overlaid (CAM or Grad-CAM) as <image stem>_cam.png in --explain-dir.")
@click.option("--explain-dir", default=None, metavar="DIR",
              help="Folder of the --explain heatmaps (created; implies --explain). A "
                   "heatmap kzoo wrote there before is replaced; any other file of the same "
                   "name is kept and the heatmap written beside it (_2_cam.png, ...). "
                   "[default: explain]")
def predict_cmd(model_file, images, top_k, explain, explain_dir):
    """Classify PNG/JPEG IMAGES with a .keras model (or run directory): top-k classes.

    Each image is resized to the model's input size and converted to its
    channels (grayscale or RGB); the output says when that happened. With
    --explain, the heatmap is drawn over that model input: what the model saw.
    """
    model_file = resolve_model_file(model_file, "MODEL_FILE")
    model = load_model_file(model_file)
    if len(model.input_shape) != 4:
        raise ValueError(f"Argument `MODEL_FILE`: model {model_file!r} takes inputs of shape "
                         f"{tuple(model.input_shape[1:])}, not images (height, width, "
                         f"channels). Received: MODEL_FILE={model_file!r}")
    explain = explain or explain_dir is not None
    if explain:
        explain_dir = explain_dir or "explain"
        heatmap_files, notes = explain_paths(images, explain_dir)
        try:
            method = cam_method(model)
        except ValueError as e:
            raise ValueError(f"Option `--explain`: cannot explain {model_file!r}: {e}") from None
    height, width, channels = model.input_shape[1:]
    names = class_names_for(model_file, model.output_shape[-1])
    read = [read_image(path, (height, width), channels, return_original=True,
                       argument="IMAGES") for path in images]
    sizes = {pixels.shape for pixels, _ in read}
    if len(sizes) > 1:  # a model with free height/width, and images of several sizes
        raise ValueError(f"Model {model_file!r} takes any image size, but one batch needs one "
                         f"size; predict these images one at a time. Received: sizes "
                         f"{sorted(s[:2] for s in sizes)}")
    batch = np.stack([pixels for pixels, _ in read])
    probabilities = model.predict(batch, verbose=0)
    ranking = np.argsort(probabilities, axis=-1)[:, ::-1]
    if explain:  # the map of each image's top-1 class, at the model input's size
        heatmaps = class_activation_map(model, batch, ranking[:, 0], upsample=True,
                                        normalize=True)
    mode, target = ("L", "grayscale") if channels == 1 else ("RGB", "RGB")
    if explain:
        for note in notes:  # the user's files of a heatmap's name, kept
            click.echo(note, err=True)
    for n, (path, (pixels, original), p) in enumerate(zip(images, read, probabilities)):
        best = ranking[n, :top_k]
        ranked = ", ".join(f"{names[i]} {p[i]:.3f}" for i in best)
        # Say what was done to fit the model's input.
        h, w, original_mode = original
        converted = (h, w) != pixels.shape[:2] or original_mode != mode
        note = (f" ({w}×{h} {original_mode} → {pixels.shape[1]}×{pixels.shape[0]} {target})"
                if converted else "")
        heatmap = ""
        if explain:
            top1 = best[0]
            write_heatmap(pixels, heatmaps[n], f"{names[top1]} {p[top1]:.3f} ({method})",
                          heatmap_files[n])
            heatmap = f"  [heatmap: {heatmap_files[n]} ({method})]"
        click.echo(f"{path}{note}: {ranked}{heatmap}")


COMMANDS = (evaluate_cmd, predict_cmd)
