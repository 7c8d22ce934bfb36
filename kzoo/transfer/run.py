"""`finetune`: a fine-tuning run in a run directory, as `kzoo train` writes one.

`kzoo finetune BASE --dataset NAME_OR_DIR ...` and `kzoo.transfer.finetune`
load a base (`load_base`), put a `classifier` head on it for the dataset's
classes and input shape, and `fine_tune` it on the labelled training images,
into the same run directory as `kzoo.training.train` (run.json, resume,
history.csv, TensorBoard logs, curves, confusion matrix, metrics, model.keras,
SavedModel). `run.json` records the base and its sha256; `kzoo publish`
ships the result with that lineage.

Resuming: each phase of `fine_tune` keeps its own checkpoint
(`checkpoint/<phase>/`); rerunning the same command rebuilds the model from
the same seed, a finished phase restores its last state without training, and
an interrupted one resumes from its last completed epoch.
"""

import dataclasses
import os
import re
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from kzoo.data import catalog, pipeline, sources, subsets
from kzoo.data import info as data_info
from kzoo.training import fit as fitting
from kzoo.training import run_dir
from kzoo.training.config import (MAX_BATCH_SIZE, MAX_DEFAULT_VALIDATION, MAX_EPOCHS, MAX_SEED,
                                  RunOptions, option)
from kzoo.training.trainer import RunData, report, save_run
from kzoo.transfer.bases import load_base
from kzoo.transfer.fine_tune import (DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, MODES, check_rates,
                                     fine_tune)
from kzoo.transfer.heads import classifier
from kzoo.version import __version__

POOLINGS = ("avg", "max", "flatten")


@dataclasses.dataclass
class FinetuneConfig(RunOptions):
    """What a fine-tuning run is; saved as `run.json` in the run directory.

    Attributes:
        base: a zoo checkpoint name (`"lenet_fashion_mnist"`), a model name
            with `weights`, a `.keras` file or a `kzoo train` run directory.
        dataset: a dataset name or a folder of images (one subfolder per class).
        weights: with a model-name base: a zoo tag, `"imagenet"` or a file.
        labels_per_class: train on this many labelled images of each class
            (a seeded, stratified subset); `None`: every training image.
        classes: comma-separated class indices to keep (`"5,6,7,8,9"`),
            relabelled 0..k-1; empty: all classes.
        mode: `"linear"`, `"head"`, `"full"` or `"auto"` (see `fine_tune`).
        epochs: as `fine_tune` takes it.
        head_epochs: as `fine_tune` takes it.
        learning_rate: as `fine_tune` takes it.
        base_lr_factor: as `fine_tune` takes it.
        layer_decay: as `fine_tune` takes it.
        batch_size: examples per batch.
        pooling: the classifier head's pooling (see `classifier`).
        dropout: the classifier head's dropout rate (see `classifier`).
        validation_size: training images held out for validation before the
            labelled subset is drawn (0 = none; `None` = a tenth of the
            training split, at most 5,000).
        augment: augmentations of the training images (`"flip,crop"`).
        seed: seed of the head, the split, the subset and the shuffle.

    Examples:
        >>> config = kzoo.transfer.FinetuneConfig("lenet_fashion_mnist", "digits",
        ...                                       labels_per_class=10, mode="linear")
        >>> metrics = kzoo.transfer.finetune(config, "runs/lenet-digits")
    """

    COMMAND = "finetune"

    base: str = dataclasses.field(metadata=option(
        "A zoo checkpoint name, a model name (with --weights), a .keras file or a run "
        "directory.", positional=True))
    dataset: str = dataclasses.field(default="digits", metadata=option(
        "A kzoo.data dataset name, or a folder of images with one subfolder per class."))
    weights: Optional[str] = dataclasses.field(default=None, metadata=option(
        "With a model-name BASE: a zoo tag (fashion_mnist), imagenet, or a weights file."))
    labels_per_class: Optional[int] = dataclasses.field(default=None, metadata=option(
        "Train on N labelled images per class (seeded, stratified) [default: all]."))
    classes: str = dataclasses.field(default="", metadata=option(
        "Comma-separated class indices to keep, relabelled 0..k-1 [default: all]."))
    mode: str = dataclasses.field(default="auto", metadata=option(
        "What trains: the new classifier (linear), the top stage too (head), all (full), "
        "or auto: full, which the transfer benchmark measured best at every label count.",
        choices=MODES))
    # fine_tune's defaults (measured there): 30 epochs at 1e-2.
    epochs: int = dataclasses.field(default=DEFAULT_EPOCHS, metadata=option(
        f"Epochs of all phases (at most {MAX_EPOCHS:,})."))
    head_epochs: Optional[int] = dataclasses.field(default=None, metadata=option(
        "Epochs of the classifier-only phase of head/full [default: half]; linear has no "
        "such phase."))
    batch_size: int = dataclasses.field(default=32, metadata=option(
        f"Examples per batch (at most {MAX_BATCH_SIZE:,})."))
    learning_rate: float = dataclasses.field(default=DEFAULT_LEARNING_RATE, metadata=option(
        "Learning rate of the classifier; phase 2 of full runs at a tenth of it."))
    base_lr_factor: float = dataclasses.field(default=0.1, metadata=option(
        "The base's learning rate over the classifier's, when it trains."))
    layer_decay: Optional[float] = dataclasses.field(default=None, metadata=option(
        "Per-stage learning-rate decay toward the input, in (0, 1] [default: none]."))
    pooling: str = dataclasses.field(default="avg", metadata=option(
        "Pooling of the head.", choices=POOLINGS))
    dropout: float = dataclasses.field(default=0.0, metadata=option(
        "Dropout before the classifier."))
    validation_size: Optional[int] = dataclasses.field(default=None, metadata=option(
        "Training images held out for validation [default: a tenth, at most 5000]."))
    augment: str = dataclasses.field(default="", metadata=option(
        "Comma-separated subset of flip,crop,scale,color,erase."))
    seed: int = dataclasses.field(default=0, metadata=option("Seed of head, split, subset."))

    @property
    def model(self):
        """The base, as the run's reports name the model."""
        return os.path.basename(os.path.normpath(self.base)) if self.base else self.base

    def class_list(self):
        """`classes` as a list of ints, or None."""
        if not self.classes:
            return None
        try:
            return [int(c) for c in str(self.classes).split(",") if c.strip()]
        except ValueError:
            raise ValueError(f"Argument `classes` must be comma-separated class indices "
                             f"(\"5,6,7\"). Received: classes={self.classes!r}") from None

    def check(self):
        """Validates every field but the base (`load_base` checks that); returns `self`."""
        if not isinstance(self.base, str) or not self.base:
            raise ValueError(f"Argument `base` must name a base. Received: base={self.base!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"Argument `dataset` must be a dataset name or a folder. "
                             f"Received: dataset={self.dataset!r}")
        if self.mode not in MODES:
            raise ValueError(f"Argument `mode` must be one of {list(MODES)}. "
                             f"Received: mode={self.mode!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"Argument `pooling` must be one of {list(POOLINGS)}. "
                             f"Received: pooling={self.pooling!r}")
        for name, minimum, maximum in (("epochs", 1, MAX_EPOCHS),
                                       ("batch_size", 1, MAX_BATCH_SIZE), ("seed", 0, MAX_SEED)):
            _check_int(getattr(self, name), name, minimum, maximum)
        for name in ("labels_per_class", "validation_size", "head_epochs"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), name, 1 if name == "labels_per_class" else 0)
        check_rates(self.learning_rate, self.base_lr_factor, self.layer_decay)
        if self.head_epochs is not None and self.head_epochs >= self.epochs:
            raise ValueError(f"Argument `head_epochs` must be below `epochs` ({self.epochs}): "
                             f"phase 2 gets the rest. Received: head_epochs={self.head_epochs}")
        pipeline.parse_augment(self.augment)
        classes = self.class_list()
        if classes is not None and len(classes) < 2:
            raise ValueError(f"Argument `classes` must keep at least 2 classes (a 1-class "
                             f"classifier answers that class for every image, at accuracy "
                             f"1.0). Received: classes={self.classes!r}")
        return self


def _check_int(value, name, minimum, maximum=None):
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum
            or (maximum is not None and value > maximum)):
        bound = "" if maximum is None else f", at most {maximum:,}"
        raise ValueError(f"Argument `{name}` must be an int >= {minimum}{bound}. "
                         f"Received: {name}={value!r}")


def dataset_info(config):
    """`kzoo.data.info` of `config.dataset`; its errors name `dataset` (--dataset), the
    argument the user gave, not kzoo.data's `name`."""
    try:
        return data_info(config.dataset, classes=config.class_list())
    except ValueError as e:
        message = re.sub(r"([Aa]rgument) `name`", r"\1 `dataset` (--dataset)", str(e))
        raise ValueError(message.replace("Received: name=", "Received: dataset=")) from None


def load_data(config):
    """Train (the labelled subset), validation (held out first) and test arrays."""
    classes = config.class_list()
    about = dataset_info(config)
    images, labels, source = sources.load_arrays(config.dataset, "train", classes=classes)
    test_split = "test" if "test" in about["splits"] else "validation"
    test = sources.load_arrays(config.dataset, test_split, classes=classes)[:2]
    size = config.validation_size  # resolved by `finetune`
    if size >= len(images):
        raise ValueError(f"Argument `validation_size` must be below the {len(images):,} "
                         f"training images. Received: validation_size={size}")
    order = np.random.default_rng(config.seed).permutation(len(images))
    validation = (images[order[:size]], labels[order[:size]])
    train = (images[order[size:]], labels[order[size:]])
    if config.labels_per_class is not None:
        train = subsets.per_class_subset(*train, config.labels_per_class, config.seed,
                                         about["class_names"])
    spec = catalog.DatasetSpec(str(about["name"]), tuple(about["shape"]),
                               tuple(about["class_names"]), dict(about["splits"]))
    return RunData(spec, source, train, validation, test)


def finetune(config, output_dir, *, overwrite=False, export=False, callbacks=(),
             verbose="auto"):
    """Fine-tunes `config.base` on `config.dataset` into `output_dir`, or resumes there.

    Everything is checked (the base, the data, the run directory) before
    anything is written.

    Args:
        config: a `FinetuneConfig`.
        output_dir: the run directory (a non-empty folder that is not a kzoo
            run is refused).
        overwrite: start afresh, removing `output_dir` if it is a kzoo run.
        export: also write a SavedModel to `output_dir/saved_model`.
        callbacks: extra Keras callbacks for every phase.
        verbose: as `fine_tune` takes it (`"auto"`: kzoo's progress lines).

    Returns:
        The metrics dict also written to `metrics.json` (with the `mode`
        trained, its `phases`, the base's lineage, and as `kzoo train`'s
        `epochs_run` and `stopped_early`: a phase stopped by the explosion
        guard ends the run there, and says so).
    """
    if not isinstance(config, FinetuneConfig):
        raise ValueError(f"Argument `config` must be a kzoo.transfer.FinetuneConfig. "
                         f"Received: config={config!r}")
    config.check()
    if config.validation_size is None:
        # Recorded resolved, so a rerun compares like with like.
        train_size = dataset_info(config)["splits"]["train"]
        config = dataclasses.replace(
            config, validation_size=min(MAX_DEFAULT_VALIDATION, train_size // 10))
    run_dir.check_run_file(output_dir)
    status = run_dir.prepare(output_dir, config.to_dict(), overwrite=overwrite, dry_run=True)
    if status == run_dir.FINISHED:
        run_dir.say(f"{output_dir} is a finished run; its metrics:")
        metrics = run_dir.read_metrics(output_dir)
        run_dir.tidy(output_dir)
        return metrics
    if status == run_dir.RESUME:
        fitting.check_resume(output_dir)  # a lost checkpoint: refused before anything is touched
    data = load_data(config)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    base, lineage = load_base(config.base, weights=config.weights)
    model = classifier(base, data.spec.num_classes, pooling=config.pooling,
                       dropout=config.dropout, input_shape=data.spec.shape)
    train_ds, validation_ds = data.pipelines(config)

    run_dir.prepare(output_dir, config.to_dict(), overwrite=overwrite)
    run_dir.start(output_dir, {
        "config": config.to_dict(),
        "command": config.command(output_dir),
        "base": lineage,
        "kzoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
    })
    run_dir.say(f"fine-tuning {config.base} ({lineage['kind']}) on {config.dataset}: "
                f"{len(data.train[0]):,} labelled, {len(data.validation[0]):,} validation, "
                f"{len(data.test[0]):,} test images; run directory {output_dir}")
    history = fine_tune(
        model, train_ds, validation_ds, mode=config.mode, epochs=config.epochs,
        head_epochs=config.head_epochs, learning_rate=config.learning_rate,
        base_lr_factor=config.base_lr_factor, layer_decay=config.layer_decay,
        callbacks=lambda phase: fitting.run_callbacks(output_dir, callbacks, phase=phase),
        verbose=verbose)
    seconds = sum(history.history.get("epoch_seconds", [0.0]))
    stopped = history.stopped_early
    metrics = report(model, config, data, output_dir, seconds,
                     stopped_early=None if stopped is None else _stopped_text(stopped))
    metrics.update({"mode": history.mode, "base": lineage,
                    "phases": [{"name": p["name"], "epochs": p["epochs"]}
                               for p in history.phases],
                    "labels_per_class": config.labels_per_class,
                    "labelled_examples": int(len(data.train[0]))})
    return save_run(model, data, output_dir, metrics, export=export)


def _stopped_text(stopped):
    """`fine_tune`'s `history.stopped_early` as one sentence."""
    skipped = stopped.get("skipped")
    return (f"phase {stopped['phase']}: {stopped['reason']}"
            + (f" The phase{'s' if len(skipped) > 1 else ''} after it "
               f"({', '.join(skipped)}) did not run." if skipped else ""))
