"""`TrainConfig`: the one description of a training run's options.

Each field carries its command-line help in its metadata, so the `kzoo train`
options, the `run.json` record and `TrainConfig.command()` (the command line
that reproduces a run) all come from the fields below.
"""

import dataclasses
import json
import numbers
import shlex
from typing import Optional

import keras

from kzoo.data import catalog, mixing, pipeline
from kzoo.layers.batch_norm import BATCH_NORM_IMPLEMENTATIONS
from kzoo.losses import SparseCategoricalCrossentropy
from kzoo.models import registry
from kzoo.optimizers import registry as optimizer_registry
from kzoo.optimizers.schedules import SCHEDULES, make_schedule

NORMALIZATIONS = ("scale", "standardize")
CONV_IMPLEMENTATIONS = ("native", "im2col")
#: Default validation size: at most this many, and at most a tenth of the training split.
MAX_DEFAULT_VALIDATION = 5000
#: Bounds of the count options, so that a typo (`--epochs 99999999999`) is refused rather
#: than trained for ever: epochs of a run (and of a fine-tuning, a trial), examples per
#: batch, and the seed (NumPy's and Keras's `set_random_seed` take at most 2**32 - 1).
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_SEED = 2**32 - 1


def option(help, *, choices=None, flag=None, positional=False, multiple=False):
    """Field metadata read by the CLI and by `RunOptions.command`."""
    return {"help": help, "choices": choices, "flag": flag, "positional": positional,
            "multiple": multiple}


class RunOptions:
    """The options of a run, described once by a dataclass's fields.

    Subclasses are dataclasses whose fields carry `option(...)` metadata and
    name their command in `COMMAND` (`"train"`, `"finetune"`): the CLI
    generates its flags from `options()`, and `command()` writes the command
    line that reproduces the run.
    """

    COMMAND = "train"

    @classmethod
    def options(cls):
        """`(field, flag, metadata)` for every field, in declaration order."""
        return [(f, f.metadata.get("flag") or "--" + f.name.replace("_", "-"), f.metadata)
                for f in dataclasses.fields(cls)]

    def command(self, output_dir):
        """The `kzoo` command line that reproduces this run (every option given)."""
        parts = ["kzoo", self.COMMAND]
        for field, flag, meta in self.options():
            value = getattr(self, field.name)
            if meta["positional"]:
                parts.append(str(value))
            elif meta["multiple"]:
                for key, item in sorted(value.items()):
                    parts += [flag, f"{key}={json.dumps(item)}"]
            elif isinstance(value, bool):  # a flag: given when true
                parts += [flag] if value else []
            elif value is not None and value != "":
                parts += [flag, repr(value) if isinstance(value, float) else str(value)]
        return " ".join(shlex.quote(p) for p in parts + ["--output", str(output_dir)])

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def defaults(cls):
        """`{field: default}` of the fields that have one.

        A `run.json` written before a field existed lacks it: its run was
        made with the default (`kzoo.training.run_dir.prepare` reads it so).
        """
        values = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                values[f.name] = f.default_factory()
        return values

    @classmethod
    def from_dict(cls, values):
        """The options a `run.json` recorded; unknown keys are a `ValueError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown {cls.__name__} fields {unknown}; expected some of "
                             f"{sorted(names)}. Received: {values!r}")
        return cls(**values)


@dataclasses.dataclass
class TrainConfig(RunOptions):
    """What a training run is; saved as `run.json` in the run directory.

    Attributes:
        model: a registered model name (`kzoo.list_models()`).
        dataset: a dataset name (`kzoo.data.list_datasets()`).
        epochs: number of epochs, at most `MAX_EPOCHS` (10,000).
        batch_size: examples per batch (the global batch under a strategy),
            at most `MAX_BATCH_SIZE` (65,536).
        optimizer: a `kzoo.optimizers.get` name.
        learning_rate: the initial learning rate.
        schedule: a `kzoo.optimizers.schedules.make_schedule` name:
            `"constant"`, `"cosine"`, `"step"`, `"exponential"`,
            `"inverse_time"` or `"onecycle"`.
        warmup_epochs: epochs (may be fractional) of a linear warmup to
            `learning_rate` before `schedule`, which then runs over the
            remaining steps (0 = none; not with `"onecycle"`, which has
            its own).
        momentum: the optimizer's `momentum` argument (`None` = the
            optimizer's default): for `"sgd"`, `"momentum"`, `"nesterov"`
            and `"rmsprop"`; any other optimizer refuses it.
        weight_decay: decoupled weight decay (0 = none).
        label_smoothing: ε of the cross-entropy's smoothed targets
            `(1 − ε)·onehot + ε/K` (0 = the plain sparse cross-entropy;
            `kzoo.losses.SparseCategoricalCrossentropy`).
        ema: momentum `m` of an exponential moving average of the weights
            (Keras's optimizer `use_ema=True, ema_momentum=m`; e.g. 0.999;
            0 = off). Validation, `model.keras` and the test metrics use
            the averaged weights.
        augment: augmentations for the train split (`"flip,crop,erase"`,
            see `kzoo.data.load`).
        mixup: α of Mixup's Beta(α, α) on the training batches (Zhang et
            al. 2018; `keras.layers.MixUp`; e.g. 0.2; 0 = off).
        cutmix: α of CutMix's Beta(α, α), in [0, 1] (Yun et al. 2019;
            `kzoo.data.CutMix`; e.g. 1.0; 0 = off). With `mixup` too, each
            batch gets one of the two, CutMix with probability 0.5 (timm's
            default). Either makes the labels soft: the loss is then the
            categorical cross-entropy of one-hot labels (validation too).
        normalize: `"scale"` or `"standardize"` (in the model).
        validation_size: training examples held out for validation (0 = no
            validation set; `None` = a tenth of the training split, at most
            5,000).
        seed: seed of the weights, the split, the shuffle and the augmentation,
            in [0, 2**32 - 1].
        conv_impl: `"native"` or `"im2col"`.
        batch_norm_impl: `"fused"` (the default: TensorFlow's fused
            BatchNorm kernel in training wherever it applies, 1.1-1.2x
            faster on 2 CPU cores) or `"formula"` (the formula as separate
            ops); the same results to float32 round-off.
        jit_compile: compile the train step with XLA (`model.compile(
            jit_compile=True)`). Off by default: on 2 CPU cores it trained
            ResNet-9 no faster (docs/benchmarks/train_speed.md).
        tta: test-time augmentation: the test metrics are those of the mean
            of the probabilities of each image and of its horizontal flip.
        model_kwargs: further keyword arguments of the builder.

    Examples:
        >>> config = kzoo.training.TrainConfig("lenet", "fashion_mnist", epochs=8)
        >>> config.command("runs/lenet")
        'kzoo train lenet --dataset fashion_mnist --epochs 8 ...'
    """

    model: str = dataclasses.field(metadata=option(
        "A registered model name (kzoo list).", positional=True))
    dataset: str = dataclasses.field(default="fashion_mnist", metadata=option(
        "A kzoo.data dataset: fashion_mnist, mnist, cifar10, digits (offline)."))
    epochs: int = dataclasses.field(default=10, metadata=option(
        f"Number of epochs (at most {MAX_EPOCHS:,})."))
    batch_size: int = dataclasses.field(default=128, metadata=option(
        f"Examples per batch (at most {MAX_BATCH_SIZE:,})."))
    optimizer: str = dataclasses.field(default="adam", metadata=option(
        "A kzoo.optimizers.get name.", choices=tuple(optimizer_registry.OPTIMIZERS)))
    learning_rate: float = dataclasses.field(default=1e-3, metadata=option(
        "Initial learning rate."))
    schedule: str = dataclasses.field(default="constant", metadata=option(
        "Learning-rate schedule over the run.", choices=SCHEDULES))
    weight_decay: float = dataclasses.field(default=0.0, metadata=option(
        "Decoupled weight decay (0 = none)."))
    augment: str = dataclasses.field(default="", metadata=option(
        "Comma-separated subset of " + ",".join(pipeline.AUGMENTATIONS)
        + " (erase: random erasing)."))
    normalize: str = dataclasses.field(default="scale", metadata=option(
        "Input normalization inside the model.", choices=NORMALIZATIONS))
    validation_size: Optional[int] = dataclasses.field(default=None, metadata=option(
        "Training images held out for validation [default: a tenth of the training "
        "split, at most 5000]."))
    seed: int = dataclasses.field(default=0, metadata=option(
        "Seed of weights, split, shuffle and augmentation."))
    conv_impl: str = dataclasses.field(default="native", metadata=option(
        "Convolution implementation.", choices=CONV_IMPLEMENTATIONS))
    warmup_epochs: float = dataclasses.field(default=0.0, metadata=option(
        "Epochs (may be fractional) of linear learning-rate warmup before the schedule "
        "(0 = none; onecycle has its own)."))
    momentum: Optional[float] = dataclasses.field(default=None, metadata=option(
        "Momentum of sgd, momentum, nesterov or rmsprop [default: the optimizer's]."))
    label_smoothing: float = dataclasses.field(default=0.0, metadata=option(
        "Label smoothing ε of the cross-entropy, in [0, 1) (0 = none)."))
    ema: float = dataclasses.field(default=0.0, metadata=option(
        "Momentum of an exponential moving average of the weights, in [0, 1), e.g. 0.999; "
        "validation, model.keras and the test metrics use it (0 = off)."))
    mixup: float = dataclasses.field(default=0.0, metadata=option(
        "Mixup α of Beta(α, α) on the training batches, e.g. 0.2 (0 = off)."))
    cutmix: float = dataclasses.field(default=0.0, metadata=option(
        "CutMix α of Beta(α, α), in [0, 1], e.g. 1.0 (0 = off); with --mixup each batch "
        "gets one of the two."))
    tta: bool = dataclasses.field(default=False, metadata=option(
        "Test-time augmentation: test metrics of the mean of the probabilities of each "
        "image and its horizontal flip."))
    model_kwargs: dict = dataclasses.field(default_factory=dict, metadata=option(
        "Extra builder argument KEY=VALUE (JSON value), repeatable.", flag="--model-arg",
        multiple=True))
    batch_norm_impl: str = dataclasses.field(default="fused", metadata=option(
        "BatchNorm in training: TensorFlow's fused kernel where it applies, or the formula "
        "as separate ops (same results to float32 round-off).",
        choices=BATCH_NORM_IMPLEMENTATIONS))
    jit_compile: bool = dataclasses.field(default=False, metadata=option(
        "Compile the train step with XLA (no faster on CPU here; try it on a GPU)."))

    # ----------------------------------------------------------------- #
    # Validation
    # ----------------------------------------------------------------- #

    def check(self):
        """Validates every field; a bad one is a `ValueError` naming it. Returns `self`."""
        if not isinstance(self.model, str):
            raise ValueError(f"Argument `model` must be a model name. Received: "
                             f"model={self.model!r}")
        entry = registry.get_entry(self.model, argument="model")
        spec = catalog.get_spec(self.dataset)
        _check_int(self.epochs, "epochs", minimum=1, maximum=MAX_EPOCHS)
        _check_int(self.batch_size, "batch_size", minimum=1, maximum=MAX_BATCH_SIZE)
        _check_int(self.seed, "seed", minimum=0, maximum=MAX_SEED)
        for name in ("learning_rate", "weight_decay", "warmup_epochs"):
            value = getattr(self, name)
            if not _is_number(value) or not (value >= 0 and value < float("inf")):
                raise ValueError(f"Argument `{name}` must be a finite number >= 0. "
                                 f"Received: {name}={value!r}")
        for name in ("label_smoothing", "ema"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < 1:
                raise ValueError(f"Argument `{name}` must be a number in [0, 1) (0 = off). "
                                 f"Received: {name}={value!r}")
        if self.momentum is not None:
            self._check_momentum()
        mixing.check_mixing(self.mixup, self.cutmix)
        for name in ("tta", "jit_compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Argument `{name}` must be True or False. Received: "
                                 f"{name}={getattr(self, name)!r}")
        for name, allowed in (("optimizer", tuple(optimizer_registry.OPTIMIZERS)),
                              ("schedule", SCHEDULES), ("normalize", NORMALIZATIONS),
                              ("conv_impl", CONV_IMPLEMENTATIONS),
                              ("batch_norm_impl", BATCH_NORM_IMPLEMENTATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Argument `{name}` must be one of {list(allowed)}. "
                                 f"Received: {name}={getattr(self, name)!r}")
        pipeline.parse_augment(self.augment)
        train_size = spec.splits["train"]
        if self.validation_size is not None:
            _check_int(self.validation_size, "validation_size", minimum=0)
            if self.validation_size > train_size - self.batch_size:
                raise ValueError(
                    f"Argument `validation_size` must leave at least one batch "
                    f"({self.batch_size}) of the {train_size:,} training images of "
                    f"{self.dataset!r} to train on: at most {train_size - self.batch_size}. "
                    f"Received: validation_size={self.validation_size}"
                )
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"Argument `model_kwargs` must be a dict. Received: "
                             f"model_kwargs={self.model_kwargs!r}")
        _check_builder_arguments(entry, self.model_kwargs)
        # Builds the optimizer once: a bad hyperparameter fails here, by name.
        self.make_optimizer(steps_per_epoch=1)
        return self

    def resolved(self):
        """A checked copy with the defaults that depend on the dataset filled in."""
        self.check()
        size = self.validation_size
        if size is None:
            train_size = catalog.get_spec(self.dataset).splits["train"]
            size = min(MAX_DEFAULT_VALIDATION, train_size // 10)
        return dataclasses.replace(self, validation_size=size)

    def _check_momentum(self):
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"Argument `momentum` must be a number in [0, 1) or None. "
                             f"Received: momentum={self.momentum!r}")
        takes = [name for name in optimizer_registry.OPTIMIZERS if _takes_momentum(name)]
        if self.optimizer in optimizer_registry.OPTIMIZERS and not _takes_momentum(
                self.optimizer):
            raise ValueError(f"Argument `momentum` applies to the optimizers {takes}; "
                             f"{self.optimizer!r} has no momentum argument. Received: "
                             f"momentum={self.momentum!r}, optimizer={self.optimizer!r}")

    def make_optimizer(self, steps_per_epoch):
        """The run's optimizer, from `optimizer`, `learning_rate`, `schedule` and the rest.

        The learning rate follows `schedule` after `warmup_epochs`; `momentum`
        is passed when set; `ema` > 0 turns on Keras's moving average of the
        weights (`use_ema=True, ema_momentum=ema`).
        """
        lr = make_schedule(self.schedule, self.learning_rate, epochs=self.epochs,
                           steps_per_epoch=steps_per_epoch, warmup_epochs=self.warmup_epochs)
        kwargs = {"learning_rate": lr}
        if self.weight_decay:
            kwargs["weight_decay"] = self.weight_decay
        if self.momentum is not None:
            kwargs["momentum"] = self.momentum
        if self.ema:
            kwargs.update(use_ema=True, ema_momentum=float(self.ema))
        return optimizer_registry.get(self.optimizer, **kwargs)

    @property
    def mixes(self):
        """Whether the training batches are mixed (`mixup` or `cutmix`): soft labels."""
        return bool(self.mixup or self.cutmix)

    def make_loss(self):
        """The run's loss: the cross-entropy, label-smoothed when `label_smoothing` > 0.

        Of integer labels (`kzoo.losses.SparseCategoricalCrossentropy`), or
        of one-hot and mixed rows when the run `mixes`
        (`keras.losses.CategoricalCrossentropy`, whose smoothing is the same
        `(1 − ε)·t + ε/K`).
        """
        if self.mixes:
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)
        if self.label_smoothing:
            return SparseCategoricalCrossentropy(label_smoothing=self.label_smoothing)
        return "sparse_categorical_crossentropy"


# Arguments the trainer itself passes to every builder.
_TRAINER_ARGUMENTS = ("input_tensor", "input_shape", "classes", "weights")


def _check_builder_arguments(entry, kwargs):
    import inspect

    parameters = inspect.signature(entry.builder).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for key in kwargs:
        if key == "include_top":
            raise ValueError(
                f"Argument `model_kwargs` cannot set 'include_top': training needs the model's "
                f"classifier (fine-tune a headless model with `build_model`). Received: "
                f"model_kwargs={kwargs!r}"
            )
        if key in _TRAINER_ARGUMENTS:
            raise ValueError(
                f"Argument `model_kwargs` cannot set {key!r}: the trainer sets it from the "
                f"dataset. Received: model_kwargs={kwargs!r}"
            )
        if not takes_any and key not in parameters:
            known = sorted(k for k in parameters if k not in _TRAINER_ARGUMENTS)
            raise ValueError(
                f"Argument `model_kwargs`: model {entry.name!r} has no argument {key!r}; it "
                f"takes {known}. Received: model_kwargs={kwargs!r}"
            )


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _takes_momentum(optimizer):
    import inspect

    cls, _ = optimizer_registry.OPTIMIZERS[optimizer]
    return "momentum" in inspect.signature(cls.__init__).parameters


def _check_int(value, name, *, minimum, maximum=None):
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum
            or (maximum is not None and value > maximum)):
        bounds = f">= {minimum}" + ("" if maximum is None else f", at most {maximum:,}")
        raise ValueError(f"Argument `{name}` must be an int {bounds}. "
                         f"Received: {name}={value!r}")
