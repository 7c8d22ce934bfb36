"""`publish`: a finished run becomes one of the zoo's shipped checkpoints."""

import json
import os

from kzoo.models import pretrained
from kzoo.training import run_dir
from kzoo.training.evaluate import evaluate_model_file


def publish(run_path, name=None, root=None):
    """Adds a finished run's model to the shipped checkpoints and the manifest.

    Re-evaluates `run_path/model.keras` on the test split, then copies it to
    `<shipped folder>/<name>.keras` (atomically) and records its
    architecture, dataset, input shape, class names, test accuracy, parameter
    count, sha256, download URL and the `kzoo train` (or `kzoo finetune`)
    command that reproduces it; a fine-tuned run also records its base (source,
    kind, architecture, sha256) as its lineage. An entry of the same name is
    replaced. A run trained with `--tta` is evaluated (and its accuracy
    recorded) with test-time augmentation, as its own metrics are.

    Args:
        run_path: a finished run directory (it holds `metrics.json`).
        name: the checkpoint name. Defaults to `MODEL_DATASET`.
        root: the shipped folder (default `kzoo.models.pretrained.shipped_root()`).

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
    name = name or f"{metrics['model']}_{dataset}"
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"Argument `name` must be letters, digits, '_' and '-'. "
                         f"Received: name={name!r}")
    model_file = os.path.join(run_path, "model.keras")
    lineage = {"base": run["base"]} if "base" in run else {}  # a `kzoo finetune` run
    if lineage:
        # Its test set may be a class subset or a folder: the run's own evaluation counts.
        accuracy = metrics["test_accuracy"]
    else:
        # A run trained with --tta reports the accuracy of each image and its flip; so does
        # its checkpoint (`tta` in the entry says so).
        accuracy = evaluate_model_file(model_file, metrics["dataset"],
                                       tta=bool(run["config"].get("tta")))["accuracy"]
    architecture = run.get("base", {}).get("architecture") or metrics["model"]
    return pretrained.add_checkpoint(model_file, {
        "name": name,
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
    }, root)
