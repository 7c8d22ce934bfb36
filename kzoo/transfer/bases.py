"""`load_base`: a pretrained base for `classifier`, from any of kzoo's sources.

What `source` is decides how it is read, in this order: a model the caller
already has; a zoo checkpoint name (`saved_models/manifest.json`); a
registered model name (then `weights=` is required); a path ending in
`.keras`; a `kzoo train` run directory (its `model.keras`). Names come first,
so a zoo name always wins over a same-named file, as `create_model`'s tags
do.
"""

import os

import keras

from kzoo.models import pretrained, registry
from kzoo.training import run_dir
from kzoo.utils import io, keras_files

__all__ = ["load_base", "RUN_MODEL_FILE"]

#: The model file of a `kzoo train` run directory.
RUN_MODEL_FILE = "model.keras"


def _checkpoint_names():
    return sorted(entry["name"] for entry in pretrained.read_manifest())


def _fail(source, weights, why):
    raise ValueError(
        f"Argument `source` {why}. It must be a zoo checkpoint name "
        f"({_checkpoint_names()}), a model name of kzoo.list_models() with weights=<tag or "
        f"file>, a .keras file or a `kzoo train` run directory. "
        f"Received: source={source!r}, weights={weights!r}"
    )


def _from_file(path, source, kind):
    model = keras_files.load_model_file(path, argument="source")
    return model, {"source": source, "kind": kind, "path": os.path.abspath(path),
                   "sha256": io.sha256(path)}


def load_base(source, *, weights=None):
    """A pretrained base model for `kzoo.transfer.classifier`, and where it came from.

    Args:
        source: one of

            - a zoo checkpoint name, e.g. `"lenet_fashion_mnist"` (see
              `saved_models/manifest.json`): its architecture built with the
              checkpoint's weights and without its top
              (`create_model(architecture, weights=tag, include_top=False)`);
            - a model name of `kzoo.list_models()` with `weights=` a tag
              (`"fashion_mnist"`, `"imagenet"`) or a weights file: built
              without its top;
            - the path of a `.keras` file, loaded as it is (with its top:
              `classifier` cuts it);
            - a `kzoo train` run directory: its `model.keras`, as it is;
            - a `keras.Model`: returned as it is.
        weights: only with a model name: the `weights=` of `create_model`.

    Returns:
        `(model, info)`: the `keras.Model` and a dict with `"source"`,
        `"kind"` (`"checkpoint"`, `"model"`, `"keras_file"`, `"run"` or
        `"keras_model"`) and `"sha256"` (of the file loaded, `None` when there
        is none, e.g. for keras.applications' `"imagenet"` download), plus
        `"architecture"`, `"weights"` or `"path"` where they apply.

    Raises:
        ValueError: for anything else (the message lists the zoo checkpoint
            names), for `weights` given with a source that is not a model
            name, or a model name without `weights`; for a `.keras` file
            (or a run's `model.keras`) that is empty, truncated, not a zip
            archive, without `config.json` or otherwise damaged (the message
            names the file and what is wrong with it).

    Examples:
        >>> base, info = kzoo.transfer.load_base("lenet_fashion_mnist")
        >>> info["kind"], info["sha256"][:8]
        ('checkpoint', 'd6dac5a1')
        >>> model = kzoo.transfer.classifier(base, 10)
    """
    if isinstance(source, keras.Model):
        if weights is not None:
            _fail(source, weights, "is a model: `weights` does not apply")
        return source, {"source": source.name, "kind": "keras_model", "sha256": None}
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        _fail(source, weights, "is neither a name nor a path")
    source = os.fspath(source)
    entries = {entry["name"]: entry for entry in pretrained.read_manifest()}
    if source in entries:
        if weights is not None:
            _fail(source, weights, "is a zoo checkpoint: `weights` does not apply")
        entry = entries[source]
        if "base" in entry:
            # A fine-tuned checkpoint (published from `kzoo finetune`): its own head and
            # input; loaded as it is, sha256-checked (classifier cuts its top).
            model = keras_files.load_model_file(pretrained.locate(entry), argument="source")
            return model, {"source": source, "kind": "checkpoint",
                           "architecture": entry["architecture"], "sha256": entry["sha256"]}
        tag = pretrained.entry_tag(entry)
        model = registry.create_model(entry["architecture"], weights=tag, include_top=False)
        return model, {"source": source, "kind": "checkpoint",
                       "architecture": entry["architecture"], "weights": tag,
                       "sha256": entry["sha256"]}
    if source in registry.list_models():
        if weights is None:
            available = list(registry.get_entry(source).weights) + pretrained.tags(source)
            _fail(source, weights, f"is a model name, which needs weights= (its weights: "
                                   f"{available}, or a weights file)")
        model = registry.create_model(source, weights=weights, include_top=False)
        entry = pretrained.find(source, weights)
        if entry is not None:
            digest = entry["sha256"]
        elif isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
            digest = io.sha256(weights)
        else:
            digest = None
        return model, {"source": source, "kind": "model", "architecture": source,
                       "weights": os.fspath(weights), "sha256": digest}
    if weights is not None:
        _fail(source, weights, "is not a model name: `weights` applies to model names only")
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            _fail(source, weights, "names a .keras file that does not exist")
        return _from_file(source, source, "keras_file")
    if run_dir.is_run(source):
        path = os.path.join(source, RUN_MODEL_FILE)
        if not os.path.isfile(path):
            _fail(source, weights, f"is a kzoo run without a {RUN_MODEL_FILE} (not finished?)")
        return _from_file(path, source, "run")
    _fail(source, weights, "is not a zoo checkpoint name, a model name, a .keras file or a "
                           "kzoo run directory")
