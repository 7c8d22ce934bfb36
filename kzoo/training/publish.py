"""`publish`: a finished run becomes one of the zoo's shipped checkpoints."""

import json
import os

from kzoo.models import pretrained, registry
from kzoo.training import run_dir
from kzoo.training.evaluate import evaluate_model_file


def _check_name(name, default):
    if name is None:
        return default
    if not isinstance(name, str) or not name or not name.replace("_", "").replace(
            "-", "").isalnum():
        raise ValueError(f"Argument `name` must be letters, digits, '_' and '-'. "
                         f"Received: name={name!r}")
    return name


def _check_tag(tag, *, name, architecture, fine_tuned, root):
    """The `weights=` tag of the new entry (None for a fine-tuned run), one that
    `kzoo.create_model(architecture, weights=tag)` will load."""
    if fine_tuned:
        if tag is not None:
            raise ValueError(f"Argument `tag`: a fine-tuned run is published with its own head "
                             f"and input and loaded by name (kzoo.transfer.load_base), never as "
                             f"`weights=` of a builder; it takes no tag. Received: tag={tag!r}")
        return None
    if not isinstance(tag, str) or not tag.strip() or tag != tag.strip():
        raise ValueError(f"Argument `tag` must be a non-empty name without surrounding "
                         f"spaces. Received: tag={tag!r}")
    weights = registry.get_entry(architecture, argument="architecture").weights
    if tag in weights:
        raise ValueError(f"Argument `tag`: weights={tag!r} of {architecture!r} loads "
                         f"keras.applications' file, never a zoo checkpoint; choose another "
                         f"tag. Received: tag={tag!r}")
    other = pretrained.find(architecture, tag, root)
    if other is not None and other["name"] != name:
        raise ValueError(f"Argument `tag`: weights={tag!r} of {architecture!r} already loads "
                         f"checkpoint {other['name']!r}; publish under that name with "
                         f"--overwrite to replace it, or choose another tag (--tag). "
                         f"Received: tag={tag!r}")
    return tag


def publish(run_path, name=None, root=None, *, tag=None, overwrite=False):
    """Adds a finished run's model to the shipped checkpoints and the manifest.

    Re-evaluates `run_path/model.keras` on the test split, then copies it to
    `<shipped folder>/<name>.keras` (atomically) and records its
    architecture, dataset, input shape, class names, test accuracy, parameter
    count, sha256, download URL and the `kzoo train` (or `kzoo finetune`)
    command that reproduces it; a fine-tuned run also records its base (source,
    kind, architecture, sha256) as its lineage. A run trained with `--tta` is
    evaluated (and its accuracy recorded) with test-time augmentation, as its
    own metrics are.

    A checkpoint of the same name is replaced only with `overwrite` (the old
    and new test accuracies are said on stderr); a file of that name the
    manifest does not list never is. The tag must be one
    `kzoo.create_model(architecture, weights=tag)` loads: not a weights name
    of the family (`"imagenet"`), nor the tag of another checkpoint of the
    architecture. Everything is checked before the run is evaluated.

    Args:
        run_path: a finished run directory (it holds `metrics.json`).
        name: the checkpoint name. Defaults to `MODEL_DATASET`.
        root: the shipped folder (default `kzoo.models.pretrained.shipped_root()`,
            which `$KZOO_SAVED_MODELS` replaces).
        tag: the `weights=` tag. Defaults to the dataset's name; a fine-tuned
            run has none (it is loaded by name, `kzoo.transfer.load_base`).
        overwrite: replace a checkpoint of the same name.

    Returns:
        The manifest entry.
    """
    is_dir = isinstance(run_path, (str, os.PathLike)) and os.path.isdir(run_path)
    run = run_dir.read_run(run_path) if is_dir else None
    if run is None or not os.path.isfile(os.path.join(run_path, run_dir.METRICS_FILE)):
        raise ValueError(f"Argument `run_path` (RUN_DIR) must be a finished kzoo run "
                         f"directory (holding run.json and metrics.json). "
                         f"Received: run_path={run_path!r}")
    metrics = run_dir.read_metrics(run_path)
    dataset = os.path.basename(os.path.normpath(str(metrics["dataset"])))
    name = _check_name(name, f"{metrics['model']}_{dataset}")
    lineage = {"base": run["base"]} if "base" in run else {}  # a `kzoo finetune` run
    architecture = run.get("base", {}).get("architecture") or metrics["model"]
    tag = _check_tag(metrics["dataset"] if tag is None and not lineage else tag, name=name,
                     architecture=architecture, fine_tuned=bool(lineage), root=root)
    old = pretrained.check_new_checkpoint(name, root, overwrite=overwrite)
    model_file = os.path.join(run_path, "model.keras")
    if lineage:
        # Its test set may be a class subset or a folder: the run's own evaluation counts.
        accuracy = metrics["test_accuracy"]
    else:
        # A run trained with --tta reports the accuracy of each image and its flip; so does
        # its checkpoint (`tta` in the entry says so).
        accuracy = evaluate_model_file(model_file, metrics["dataset"],
                                       tta=bool(run["config"].get("tta")))["accuracy"]
    entry = pretrained.add_checkpoint(model_file, {
        "name": name,
        **({"tag": tag} if tag is not None else {}),
        "architecture": architecture,
        "dataset": metrics["dataset"],
        "input_shape": metrics["input_shape"],
        "class_names": metrics["class_names"],
        "test_accuracy": round(accuracy, 4),
        **({"tta": True} if run["config"].get("tta") and not lineage else {}),
        "params": metrics["params"],
        "command": run["command"].rsplit(" --output ", 1)[0],
        "config": json.loads(json.dumps(run["config"])),
        **lineage,
    }, root, overwrite=overwrite)
    if old is not None:
        run_dir.say(f"replaced checkpoint {name!r}: test accuracy "
                    f"{old.get('test_accuracy')} -> {entry['test_accuracy']}")
    return entry
