"""`kzoo.training.train`: train a model on a dataset into a run directory.

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
atomically. The trained zoo model carries its preprocessing (scaling, and
standardization when asked), so it takes raw pixel values 0–255.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from kzoo import distribute
from kzoo.data import catalog, pipeline, sources
from kzoo.models import registry
from kzoo.serving.export import export_saved_model
from kzoo.training import reports, run_dir
from kzoo.training.config import TrainConfig
from kzoo.training.evaluate import evaluate_model
from kzoo.training.fit import check_resume, fit
from kzoo.layers.batch_norm import set_batch_norm_impl
from kzoo.utils import io, runtime
from kzoo.version import __version__


def build_zoo_model(config, mean=None, std=None):
    """The zoo model of `config` with its preprocessing inside: raw pixels 0–255 in.

    Args:
        config: a `TrainConfig`.
        mean: per-channel means for `normalize="standardize"`.
        std: per-channel standard deviations for `normalize="standardize"`.
    """
    spec = catalog.get_spec(config.dataset)
    pixels = keras.Input(spec.shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(pixels)
    if config.normalize == "standardize":
        x = keras.layers.Normalization(mean=mean, variance=np.square(std), name="standardize")(x)
    kwargs = dict(config.model_kwargs)
    kwargs.setdefault("conv_impl", config.conv_impl)
    try:
        return registry.create_model(
            config.model, input_tensor=x, input_shape=spec.shape, classes=spec.num_classes,
            weights=None, **kwargs,
        )
    except TypeError as e:  # a builder argument of the wrong type (--model-arg)
        raise ValueError(f"Argument `model_kwargs` does not fit model {config.model!r}: {e}. "
                         f"Received: model_kwargs={config.model_kwargs!r}") from None


#: Examples per validation batch (fewer under several replicas: `RunData.pipelines`).
VALIDATION_BATCH = 512


@dataclasses.dataclass
class RunData:
    """The arrays and pipelines of a run, split and seeded."""

    spec: catalog.DatasetSpec
    source: str
    train: tuple
    validation: tuple
    test: tuple
    mean: np.ndarray = None
    std: np.ndarray = None

    def epoch_pipeline(self, config, epoch):
        """Epoch `epoch`'s training batches, in an order drawn from `(seed, epoch)` alone.

        The multi-worker loop trains on these: every worker, and a resumed
        run, sees exactly the batches an uninterrupted single process would.
        """
        generator = np.random.default_rng([config.seed, epoch])
        order = generator.permutation(len(self.train[0]))
        return pipeline.from_arrays(self.train[0][order], self.train[1][order],
                                    config.batch_size, normalize=None, augment=config.augment,
                                    seed=int(generator.integers(2**31)),
                                    **self._label_options(config, train=True))

    def _label_options(self, config, train):
        """One-hot labels, mixed on the train split, when `config` mixes (a `TrainConfig`)."""
        if not getattr(config, "mixes", False):  # a FinetuneConfig never mixes
            return {}
        return {"num_classes": self.spec.num_classes,
                "mixup": config.mixup if train else 0.0,
                "cutmix": config.cutmix if train else 0.0}

    def pipelines(self, config, replicas=1):
        """The shuffled, augmented training batches and the validation batches.

        When `config` mixes (`mixup`, `cutmix`) the labels of both are
        one-hot rows, mixed in the training batches.

        Under `replicas` > 1, Keras 3.15's `fit` and `evaluate` all-reduce the
        first batch of each dataset to build the model, which fails ("Inputs to
        operation AddN ... must have the same size") unless that batch splits
        evenly across the replicas: the global batch must be a multiple of
        `replicas` (checked), and the validation batch is cut to one.
        """
        if config.batch_size % replicas and config.batch_size < len(self.train[0]):
            raise ValueError(
                f"Argument `batch_size` (the global batch) must be a multiple of the "
                f"{replicas} replicas in sync, which each take an equal share of it. "
                f"Received: batch_size={config.batch_size}")
        train = pipeline.from_arrays(*self.train, config.batch_size, shuffle=True,
                                     normalize=None, augment=config.augment, seed=config.seed,
                                     **self._label_options(config, train=True))
        validation = None
        size = len(self.validation[0])
        if size:
            batch = min(VALIDATION_BATCH, size)
            batch = max(batch - batch % replicas, min(replicas, size))
            validation = pipeline.from_arrays(*self.validation, batch, normalize=None,
                                              **self._label_options(config, train=False))
        return train, validation


def load_data(config, download=False):
    """The train/validation split (seeded) and the test split of `config.dataset`.

    `download=True` lets tensorflow-datasets fetch a dataset found nowhere locally.
    """
    spec = catalog.get_spec(config.dataset)
    images, labels, source = sources.load_arrays(config.dataset, "train", download=download)
    if config.validation_size > len(images) - 1:
        raise ValueError(f"Argument `validation_size` must be below the {len(images):,} "
                         f"training images found. Received: "
                         f"validation_size={config.validation_size}")
    test = sources.load_arrays(config.dataset, "test", download=download)[:2]
    order = np.random.default_rng(config.seed).permutation(len(images))
    val, train = order[:config.validation_size], order[config.validation_size:]
    data = RunData(spec, source, (images[train], labels[train]), (images[val], labels[val]),
                   test)
    if config.normalize == "standardize":
        pixels = data.train[0].reshape(-1, data.train[0].shape[-1]) / 255.0
        data.mean, data.std = pixels.mean(0), np.maximum(pixels.std(0), 1e-7)
    return data


def check_model(model, spec, where):
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `build_model` must return a keras.Model. "
                         f"Received: {type(model).__name__} from {where}")
    shape = tuple(model.input_shape[1:])
    fits = len(shape) == len(spec.shape) and all(
        a is None or a == b for a, b in zip(shape, spec.shape))
    if not fits or model.output_shape[-1] != spec.num_classes:
        raise ValueError(
            f"Argument `build_model` returned a model taking {shape} with "
            f"{model.output_shape[-1]} outputs; the dataset has {spec.shape} images and "
            f"{spec.num_classes} classes. Received: {where}"
        )
    return model


def train(config, output_dir, *, strategy=None, build_model=None, callbacks=(),
          overwrite=False, export=False, download=False, verbose="auto"):
    """Trains a model on `config.dataset` into `output_dir`, or resumes there.

    Everything is checked before anything is written: a bad configuration, a
    folder that is not a kzoo run, or missing data leave nothing behind.

    Args:
        config: a `TrainConfig`.
        output_dir: the run directory (created; resumed when it holds a run
            of the same configuration). A non-empty folder that is not a kzoo
            run is refused.
        strategy: a `tf.distribute.Strategy` (e.g. from
            `kzoo.distribute.get_strategy`); the model and its optimizer are
            built inside `strategy.scope()` (default: the default strategy).
            `config.batch_size` is the global batch. Under
            `MultiWorkerMirroredStrategy` every worker runs `train` with the
            same arguments; they train with `kzoo.distribute.fit_distributed`
            on the same batches (drawn from the seed and the epoch), and only
            the chief writes `output_dir` (the others return their test
            metrics, with `"chief": False`).
        build_model: `build_model(config) -> keras.Model` replaces the zoo
            builder (e.g. a fine-tuning model). It takes raw pixels 0-255 of
            the dataset's shape and returns class probabilities.
        callbacks: extra Keras callbacks, run after the checkpoint is saved.
        overwrite: start afresh, removing `output_dir` if it is a kzoo run.
        export: also write a SavedModel to `output_dir/saved_model`.
        download: let tensorflow-datasets download a dataset found nowhere
            locally (needs a network).
        verbose: `"auto"`: kzoo's `kzoo.callbacks.Progress` (progress within
            each epoch, the time left of the epoch and of the run; plain lines
            when stdout is not a terminal); `0`, `1`, `2`: Keras's `fit`
            verbosity.

    Returns:
        The metrics dict also written to `metrics.json`.

    Examples:
        >>> from kzoo.training import TrainConfig, train
        >>> metrics = train(TrainConfig("lenet", "fashion_mnist", epochs=10), "runs/lenet")
        >>> metrics["test_accuracy"]
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"Argument `config` must be a kzoo.training.TrainConfig. "
                         f"Received: config={config!r}")
    if build_model is not None and not callable(build_model):
        raise ValueError(f"Argument `build_model` must be a function of the config. "
                         f"Received: build_model={build_model!r}")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(f"Argument `strategy` must be a tf.distribute.Strategy. "
                         f"Received: strategy={strategy!r}")
    config = config.resolved()
    run_dir.check_run_file(output_dir)
    status = run_dir.prepare(output_dir, config.to_dict(), overwrite=overwrite, dry_run=True,
                             defaults=TrainConfig.defaults())
    if status == run_dir.FINISHED:
        run_dir.say(f"{output_dir} is a finished run; its metrics:")
        metrics = run_dir.read_metrics(output_dir)
        run_dir.tidy(output_dir)
        return metrics
    if status == run_dir.RESUME:
        check_resume(output_dir)  # a lost checkpoint: refused before anything is touched

    data = load_data(config, download=download)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    strategy = strategy or tf.distribute.get_strategy()
    # Multi-worker: every worker trains, only the chief writes the run directory.
    chief = distribute.is_chief(strategy)
    steps_per_epoch = int(np.ceil(len(data.train[0]) / config.batch_size))
    with strategy.scope():
        if build_model is None:
            model = build_zoo_model(config, data.mean, data.std)
            where = f"model {config.model!r}"
        else:
            model = check_model(build_model(config), data.spec, f"build_model={build_model!r}")
            where = f"build_model {getattr(build_model, '__name__', build_model)!r}"
        norms, fused = set_batch_norm_impl(model, config.batch_norm_impl,
                                           strategy.num_replicas_in_sync)
        model.compile(optimizer=config.make_optimizer(steps_per_epoch),
                      loss=config.make_loss(), metrics=["accuracy"],
                      jit_compile=config.jit_compile)
    train_ds, validation_ds = data.pipelines(config, strategy.num_replicas_in_sync)

    replicas = strategy.num_replicas_in_sync
    if chief:
        # Checks passed and the model is built: only now is anything written.
        run_dir.prepare(output_dir, config.to_dict(), overwrite=overwrite,
                        defaults=TrainConfig.defaults())
        run_dir.start(output_dir, {
            "config": config.to_dict(),
            "command": config.command(output_dir),
            # How this session ran; not part of the configuration (a run may resume
            # under another strategy).
            "distribution": {"strategy": distribute.strategy_name(strategy),
                             "replicas": replicas},
            # The speed choices in effect (docs/guides/training.md, "Speed").
            "runtime": {**runtime.describe(jit_compile=config.jit_compile),
                        "batch_norm_layers": norms, "fused_batch_norm_layers": fused},
            "kzoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
        })
        run_dir.say(
            f"training {where} ({model.count_params():,} parameters) on {config.dataset} from "
            f"{data.source}: {len(data.train[0]):,} train, {len(data.validation[0]):,} "
            f"validation, {len(data.test[0]):,} test images"
            + (f", {replicas} replicas" if replicas > 1 else "")
            + f"; run directory {output_dir}")
        hint = runtime.onednn_hint()
        if hint:
            run_dir.say(hint)
    seconds, stopped_early = fit(
        model, train_ds, validation_ds, epochs=config.epochs, output_dir=output_dir,
        callbacks=callbacks, verbose=verbose, batch_size=config.batch_size,
        epoch_data=lambda epoch: data.epoch_pipeline(config, epoch))
    if not chief:
        evaluated, _ = evaluate_model(model, *data.test, data.spec.class_names, tta=config.tta)
        return {"model": config.model, "dataset": config.dataset, "chief": False,
                "test_accuracy": evaluated["test_accuracy"], "test_loss": evaluated["test_loss"]}
    metrics = report(model, config, data, output_dir, seconds, stopped_early=stopped_early)
    return save_run(model, data, output_dir, metrics, export=export)


def save_run(model, data, output_dir, metrics, *, export=False):
    """The end of a run: `model.keras`, the SavedModel (`export`), `metrics.json`."""
    io.save_model(model, os.path.join(output_dir, "model.keras"))
    if export:
        export_saved_model(model, os.path.join(output_dir, "saved_model"),
                           class_names=list(data.spec.class_names))
    run_dir.finish(output_dir, metrics)
    return metrics


def report(model, config, data, output_dir, seconds, *, stopped_early=None):
    """Test metrics, curves and the confusion matrix of a fitted model.

    The metrics record the epochs planned (`epochs`), the epochs run
    (`epochs_run`, from history.csv, over every session) and `stopped_early`:
    None, or why training ended before its last epoch.
    """
    spec = data.spec
    tta = getattr(config, "tta", False)  # a FinetuneConfig has none
    evaluated, counts = evaluate_model(model, *data.test, spec.class_names, tta=tta)
    history_path = os.path.join(output_dir, run_dir.HISTORY_FILE)
    history = reports.read_history(history_path) if os.path.exists(history_path) else {}
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "test_accuracy": evaluated["test_accuracy"],
        "test_loss": evaluated["test_loss"],
        "per_class_accuracy": evaluated["per_class_accuracy"],
        "epochs": config.epochs,
        "epochs_run": len(history.get("epoch", [])),
        "stopped_early": stopped_early,
        "train_seconds_this_session": round(seconds, 1),
        # All epochs, across resumed sessions (from history.csv).
        "train_seconds": round(float(np.nansum(history.get("epoch_seconds", [np.nan]))), 1),
        "params": int(model.count_params()),
        "input_shape": list(spec.shape),
        "class_names": list(spec.class_names),
        "seed": config.seed,
        "command": config.command(output_dir),
    }
    if tta:
        metrics["tta"] = True  # the test metrics are of the image and its flip
    if history.get("val_accuracy"):
        metrics["best_val_accuracy"] = float(np.nanmax(history["val_accuracy"]))
    if history:
        reports.plot_curves(history, os.path.join(output_dir, "curves.png"),
                            title=f"{config.model} on {config.dataset}")
    reports.plot_confusion_matrix(counts, spec.class_names,
                                  os.path.join(output_dir, "confusion_matrix.png"),
                                  title=f"{config.model}: test accuracy "
                                        f"{metrics['test_accuracy']:.4f}")
    return metrics
