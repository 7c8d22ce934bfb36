"""`kzoo.training.train`: train a zoo model on a dataset into a run directory.

A run directory holds everything a run makes:

    run.json              the configuration (and the command that reproduces it)
    checkpoint/           the state after the last completed epoch (resume)
    logs/                 TensorBoard logs
    history.csv           per-epoch loss and accuracy, train and validation
    model.keras           the trained model, raw pixels in, probabilities out
    metrics.json          test accuracy and loss, per-class accuracy, timings
    curves.png            loss and accuracy curves, train vs validation
    confusion_matrix.png  the test confusion matrix
    saved_model/          (with `export=True`) a SavedModel for TF Serving

Running the same configuration into the same directory resumes from the last
completed epoch after a crash, a kill or Ctrl-C; every file is written
atomically. The trained model carries its preprocessing (scaling, and
standardization when asked), so it takes raw pixel values 0–255.
"""

import dataclasses
import json
import os
import shutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kzoo.utils import io

SCHEDULES = ("constant", "cosine", "step", "exponential", "inverse_time")
RUN_FILES = ("run.json", "history.csv", "model.keras", "metrics.json", "curves.png",
             "confusion_matrix.png")


@dataclasses.dataclass
class TrainConfig:
    """What a training run is; saved as `run.json` in the run directory.

    Attributes:
        model: a registered model name (`kzoo.list_models()`).
        dataset: a dataset name (`kzoo.data.list_datasets()`).
        epochs: number of epochs.
        batch_size: examples per batch.
        optimizer: a `kzoo.optimizers.get` name.
        learning_rate: the initial learning rate.
        schedule: `"constant"`, `"cosine"` (to 0 over the run), `"step"`
            (×0.1 at 50% and 75% of the run), `"exponential"` (α₀·e^(−kt),
            ×0.01 over the run) or `"inverse_time"` (α₀/(1 + kt), k = 1 per epoch).
        weight_decay: decoupled weight decay (0 = none).
        augment: augmentations for the train split (`"flip,crop"`, see
            `kzoo.data.load`).
        normalize: `"scale"` or `"standardize"` (in the model).
        validation_size: training examples held out for validation (0 = use
            no validation set).
        seed: seed of the weights, the split, the shuffle and the augmentation.
        conv_impl: `"native"` or `"im2col"`.
        model_kwargs: further keyword arguments of the builder.
    """

    model: str
    dataset: str = "fashion_mnist"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    weight_decay: float = 0.0
    augment: str = ""
    normalize: str = "scale"
    validation_size: int = 5000
    seed: int = 0
    conv_impl: str = "native"
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    def check(self):
        import kzoo
        from kzoo.data import catalog, pipeline

        kzoo.models.registry.get_entry(self.model)
        catalog.get_spec(self.dataset)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Argument `{name}` must be a positive int. "
                                 f"Received: {name}={value!r}")
        if not isinstance(self.validation_size, int) or self.validation_size < 0:
            raise ValueError("Argument `validation_size` must be an int >= 0. "
                             f"Received: validation_size={self.validation_size!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Argument `schedule` must be one of {list(SCHEDULES)}. "
                             f"Received: schedule={self.schedule!r}")
        if self.normalize not in ("scale", "standardize"):
            raise ValueError("Argument `normalize` must be 'scale' or 'standardize'. "
                             f"Received: normalize={self.normalize!r}")
        pipeline.parse_augment(self.augment)
        # Builds the optimizer once: a bad name or hyperparameter fails here.
        self.make_optimizer(steps_per_epoch=1)

    def make_optimizer(self, steps_per_epoch):
        import kzoo

        total = self.epochs * steps_per_epoch
        lr = self.learning_rate
        schedules = keras.optimizers.schedules
        if self.schedule == "cosine":
            lr = schedules.CosineDecay(self.learning_rate, decay_steps=total)
        elif self.schedule == "step":
            lr = schedules.PiecewiseConstantDecay(
                [int(total * 0.5), int(total * 0.75)],
                [self.learning_rate, self.learning_rate * 0.1, self.learning_rate * 0.01],
            )
        elif self.schedule == "exponential":
            # α₀·e^(−kt) with k chosen so the rate falls ×100 over the run.
            lr = kzoo.optimizers.schedules.ExponentialDecay(
                self.learning_rate, k=float(np.log(100.0)) / max(total, 1))
        elif self.schedule == "inverse_time":
            lr = kzoo.optimizers.schedules.InverseTimeDecay(
                self.learning_rate, k=1.0 / steps_per_epoch)
        kwargs = {"learning_rate": lr}
        if self.weight_decay:
            kwargs["weight_decay"] = self.weight_decay
        return kzoo.optimizers.get(self.optimizer, **kwargs)

    def command(self, output_dir):
        """The `kzoo train` command line that reproduces this run."""
        parts = ["kzoo", "train", self.model, "--dataset", self.dataset,
                 "--epochs", str(self.epochs), "--batch-size", str(self.batch_size),
                 "--optimizer", self.optimizer, "--learning-rate", repr(self.learning_rate),
                 "--schedule", self.schedule, "--seed", str(self.seed),
                 "--validation-size", str(self.validation_size)]
        if self.weight_decay:
            parts += ["--weight-decay", repr(self.weight_decay)]
        if self.augment:
            parts += ["--augment", self.augment]
        if self.normalize != "scale":
            parts += ["--normalize", self.normalize]
        if self.conv_impl != "native":
            parts += ["--conv-impl", self.conv_impl]
        for key, value in sorted(self.model_kwargs.items()):
            parts += ["--model-arg", f"{key}={json.dumps(value)}"]
        return " ".join(parts + ["--output", output_dir])


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (wall time of the epoch) to the logs, so history.csv keeps it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = round(time.time() - self._start, 2)


def build_model(config, mean=None, std=None):
    """The zoo model with its preprocessing inside: raw pixels 0–255 in."""
    import kzoo

    spec = kzoo.data.catalog.get_spec(config.dataset)
    pixels = keras.Input(spec.shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(pixels)
    if config.normalize == "standardize":
        x = keras.layers.Normalization(mean=mean, variance=np.square(std), name="standardize")(x)
    kwargs = dict(config.model_kwargs)
    kwargs.setdefault("conv_impl", config.conv_impl)
    return kzoo.create_model(
        config.model, input_tensor=x, input_shape=spec.shape, classes=spec.num_classes,
        weights=None, **kwargs,
    )


def _split(images, labels, validation_size, seed):
    order = np.random.default_rng(seed).permutation(len(images))
    val, train = order[:validation_size], order[validation_size:]
    return (images[train], labels[train]), (images[val], labels[val])


def check_run_dir(run_dir, config):
    """A run directory made for another configuration is a `ValueError`."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = json.load(f).get("config", {})
    if saved.get("model") != config.model or saved.get("dataset") != config.dataset:
        raise ValueError(
            f"Run directory {run_dir!r} belongs to model {saved.get('model')!r} on "
            f"{saved.get('dataset')!r}; use another --output or --overwrite. "
            f"Received: model={config.model!r}, dataset={config.dataset!r}"
        )
    different = {k: (saved.get(k), v) for k, v in dataclasses.asdict(config).items()
                 if saved.get(k) != v}
    if different:
        raise ValueError(
            f"Run directory {run_dir!r} was made with other settings "
            f"({', '.join(f'{k}: {a!r} there' for k, (a, _) in different.items())}); resuming "
            f"would mix runs. Use another --output or --overwrite. Received: "
            + ", ".join(f"{k}={b!r}" for k, (_, b) in different.items())
        )


def train(config, output_dir, *, overwrite=False, export=False, verbose="auto", callbacks=()):
    """Trains `config.model` on `config.dataset` into `output_dir`, or resumes there.

    Args:
        config: a `TrainConfig`.
        output_dir: the run directory (created; resumed when it holds a
            checkpoint of the same configuration).
        overwrite: start afresh, deleting what `output_dir` holds.
        export: also write a SavedModel to `output_dir/saved_model`.
        verbose: Keras `fit` verbosity (`"auto"`: progress bars on a terminal).
        callbacks: extra Keras callbacks, run after the checkpoint is saved.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:

    >>> from kzoo.training import TrainConfig, train
    >>> metrics = train(TrainConfig("lenet", "fashion_mnist", epochs=10), "runs/lenet")
    >>> metrics["test_accuracy"]
    """
    import kzoo
    from kzoo.callbacks import ExplosionGuard
    from kzoo.training import reports

    config.check()
    if overwrite and os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    check_run_dir(output_dir, config)
    os.makedirs(output_dir, exist_ok=True)
    metrics_path = os.path.join(output_dir, "metrics.json")
    if os.path.exists(metrics_path):
        print(f"kzoo: {output_dir} is a finished run; its metrics:", file=sys.stderr)
        with open(metrics_path) as f:
            return json.load(f)

    io.write_json(os.path.join(output_dir, "run.json"), {
        "config": dataclasses.asdict(config),
        "command": config.command(output_dir),
        "kzoo": kzoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
    })
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    spec = kzoo.data.catalog.get_spec(config.dataset)
    images, labels, source = kzoo.data.load_arrays(config.dataset, "train")
    test_images, test_labels, _ = kzoo.data.load_arrays(config.dataset, "test")
    (x_train, y_train), (x_val, y_val) = _split(images, labels, config.validation_size,
                                                config.seed)
    mean = std = None
    if config.normalize == "standardize":
        pixels = x_train.reshape(-1, x_train.shape[-1]) / 255.0
        mean, std = pixels.mean(0), np.maximum(pixels.std(0), 1e-7)
    train_ds = kzoo.data.from_arrays(x_train, y_train, config.batch_size, shuffle=True,
                                     normalize=None, augment=config.augment, seed=config.seed)
    val_ds = None
    if len(x_val):
        val_ds = kzoo.data.from_arrays(x_val, y_val, 512, normalize=None)
    steps_per_epoch = int(np.ceil(len(x_train) / config.batch_size))

    model = build_model(config, mean, std)
    model.compile(optimizer=config.make_optimizer(steps_per_epoch),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"kzoo: training {config.model} ({model.count_params():,} parameters) on "
          f"{config.dataset} from {source}: {len(x_train):,} train, {len(x_val):,} validation, "
          f"{len(test_images):,} test images; run directory {output_dir}", file=sys.stderr)

    history_path = os.path.join(output_dir, "history.csv")
    callbacks = [
        # Order matters: the timer fills the logs before the history row is
        # written, the checkpoint is written after it, and before the user's
        # callbacks (which may stop or interrupt the run).
        EpochTimer(),
        keras.callbacks.CSVLogger(history_path, append=True),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
        ExplosionGuard(),
        keras.callbacks.BackupAndRestore(os.path.join(output_dir, "checkpoint"),
                                         delete_checkpoint=False),
        *callbacks,
    ]
    if verbose == "auto":
        # Progress bars on a terminal; one line per epoch in logs and pipes.
        verbose = 1 if sys.stdout.isatty() else 2
    start = time.time()
    # The dataset shuffles itself (seeded), so fit must not.
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks,
              verbose=verbose, shuffle=False)
    train_seconds = time.time() - start

    test_ds = kzoo.data.from_arrays(test_images, test_labels, 512, normalize=None)
    probabilities = model.predict(test_ds, verbose=0)
    predictions = probabilities.argmax(axis=-1)
    test_loss = float(keras.losses.sparse_categorical_crossentropy(
        test_labels, probabilities).numpy().mean())
    counts = reports.confusion_matrix(test_labels, predictions, spec.num_classes)
    history = reports.read_history(history_path) if os.path.exists(history_path) else {}
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "test_accuracy": float((predictions == test_labels).mean()),
        "test_loss": test_loss,
        "per_class_accuracy": {
            name: float(counts[i, i] / max(counts[i].sum(), 1))
            for i, name in enumerate(spec.class_names)
        },
        "epochs": config.epochs,
        "train_seconds_this_session": round(train_seconds, 1),
        # All epochs, across resumed sessions (from history.csv).
        "train_seconds": round(float(np.nansum(history.get("epoch_seconds", [np.nan]))), 1),
        "params": int(model.count_params()),
        "input_shape": list(spec.shape),
        "class_names": list(spec.class_names),
        "seed": config.seed,
        "command": config.command(output_dir),
    }
    if history.get("val_accuracy"):
        metrics["best_val_accuracy"] = float(np.nanmax(history["val_accuracy"]))

    io.save_model(model, os.path.join(output_dir, "model.keras"))
    if history:
        reports.plot_curves(history, os.path.join(output_dir, "curves.png"),
                            title=f"{config.model} on {config.dataset}")
    reports.plot_confusion_matrix(counts, spec.class_names,
                                  os.path.join(output_dir, "confusion_matrix.png"),
                                  title=f"{config.model}: test accuracy "
                                        f"{metrics['test_accuracy']:.4f}")
    if export:
        io.export_saved_model(model, os.path.join(output_dir, "saved_model"))
    io.write_json(metrics_path, metrics)
    # The run is complete: the resume checkpoint is no longer needed.
    shutil.rmtree(os.path.join(output_dir, "checkpoint"), ignore_errors=True)
    return metrics
