"""`fine_tune`: train a `classifier()` model in one or two phases.

- `"linear"`: the base is a fixed feature extractor; only the new classifier
  (`hidden`, `predictions`) trains, for `epochs` epochs.
- `"head"`: phase 1 trains the classifier for `head_epochs`; phase 2 also
  trains the base's last stage (`freezing.stage_boundary`), at
  `learning_rate × base_lr_factor`, the classifier at `learning_rate`.
- `"full"`: phase 1 as in `"head"`; phase 2 trains every layer, the base at
  `learning_rate × base_lr_factor`, the classifier at `learning_rate`, both
  × `FULL_PHASE_LR_FACTOR` (0.1) when phase 1 ran.
- `"auto"`: the mode the project's rule (`choose_mode`) picks for the
  labelled examples per class; measured here, that is `"full"` at every count.

Batch normalization layers stay frozen in every phase unless `train_bn=True`
(see `kzoo.transfer.freeze`). Each phase compiles the model afresh (a new
optimizer for the weights that train in it).
"""

import sys
import warnings

import keras
import numpy as np
import tensorflow as tf

from kzoo import optimizers as kzoo_optimizers
from kzoo.callbacks import ExplosionGuard
from kzoo.callbacks.progress import progress_verbosity
from kzoo.training.config import MAX_BATCH_SIZE, MAX_EPOCHS
from kzoo.transfer import freezing
from kzoo.transfer.optimizer import LayerwiseOptimizer

__all__ = ["fine_tune", "choose_mode", "labels_per_class", "MODES", "DEFAULT_EPOCHS",
           "DEFAULT_LEARNING_RATE", "FULL_PHASE_LR_FACTOR"]

MODES = ("linear", "head", "full", "auto")
#: The defaults of `fine_tune` and `kzoo finetune` (`FinetuneConfig`), one set for both.
#: Measured with 10 labelled digits per class (mode "full", seed 0): the shipped LeNet
#: reached 0.79 test accuracy with 30 epochs at 1e-2 and stayed at chance (0.12) with
#: 10 epochs at 1e-3; the shipped ResNet-20 0.76 against 0.44 (0.71 with 30 at 1e-3).
DEFAULT_EPOCHS = 30
DEFAULT_LEARNING_RATE = 1e-2
#: Phase 2 of `"full"` after a head phase runs at `learning_rate` × this: its new optimizer
#: starts with no moments, and Adam's first steps are about `learning_rate` per weight
#: whatever the gradient. At 1e-2 on the README's example (resnet20 from fashion_mnist,
#: 30 epochs) the loss jumped from 0.07 to 0.96 at the phase switch and the explosion guard
#: stopped the run; at a tenth, no jump and the same 0.969 test accuracy.
FULL_PHASE_LR_FACTOR = 0.1

def _notice(message):
    print(f"kzoo: {message}", file=sys.stderr, flush=True)


def choose_mode(per_class: float) -> str:
    """The project's rule for `mode="auto"`, from the labelled examples per class.

    The textbook rule keeps the network fixed with a small dataset (`"linear"`)
    and trains more of it as the data grows (`"head"`, then `"full"`). The
    transfer benchmark (`benchmarks/results/transfer.md`: lenet and resnet20
    bases, split and digits protocols, 2, 5, 10 and 50 labels per class, 3 seeds)
    measured the opposite here: `"linear"` was never the best transfer mode,
    and `"full"` (phase 1 on the new classifier, then every layer with the
    base at `base_lr_factor` × the learning rate and BatchNorm frozen) was best
    or within 0.01 of the best at every budget, from 2 labels per class up.
    Phase 2 at a low learning rate with frozen statistics is what keeps the
    few-label case from overfitting, not the frozen base. So the rule is
    `"full"` at every count; the count is still reported.

    Args:
        per_class: labelled training examples per class (> 0).

    Returns:
        The mode `fine_tune(mode="auto")` trains: `"full"`.

    Examples:
        >>> kzoo.transfer.choose_mode(2), kzoo.transfer.choose_mode(5000)
        ('full', 'full')
    """
    if not per_class > 0:
        raise ValueError(
            f"Argument `per_class` must be a number > 0 (labelled examples per class). "
            f"Received: per_class={per_class!r}")
    return "full"


def _labels(train_data):
    """The labels of `train_data` as a 1-D int array (one-hot rows are argmaxed)."""
    if isinstance(train_data, tf.data.Dataset):
        if train_data.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                "Argument `train_data`: mode='auto' counts the labels, which needs a finite "
                "dataset (this one repeats forever). Received: an infinite tf.data.Dataset"
            )
        batches = [np.asarray(element[1]) for element in train_data.as_numpy_iterator()]
        labels = [b.reshape(-1) if b.ndim <= 1 or b.shape[-1] == 1 else b.argmax(-1).reshape(-1)
                  for b in batches]
        return np.concatenate(labels) if labels else np.zeros((0,), "int64")
    y = np.asarray(train_data[1])
    if y.ndim > 1 and y.shape[-1] > 1:
        y = y.argmax(-1)
    return y.reshape(-1)


def labels_per_class(train_data, classes: int) -> float:
    """Labelled examples of `train_data` per class: their number over `classes`."""
    return len(_labels(train_data)) / classes


def _check_data(train_data, argument="train_data"):
    if isinstance(train_data, tf.data.Dataset):
        return
    if isinstance(train_data, (tuple, list)) and len(train_data) == 2:
        return
    raise ValueError(
        f"Argument `{argument}` must be a tf.data.Dataset of (images, labels) or a tuple "
        f"(images, labels) of arrays. Received: {argument} of type {type(train_data).__name__}"
    )


def _check_arrays(model, data, argument):
    """An `(images, labels)` pair of arrays that `model` can train on, before any training.

    The images: a non-empty batch of the model's input shape, finite numbers.
    The labels: one integer class index per image, in `[0, classes)`.
    Returns the pair as NumPy arrays.
    """
    images, labels = data
    expected = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    try:
        images = np.asarray(images)
        labels = np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Argument `{argument}` must be (images, labels) arrays ({e}). "
                         f"Received: {argument} of types {[type(a).__name__ for a in data]}"
                         ) from None
    if (images.ndim != len(expected) + 1 or len(images) == 0
            or any(e is not None and e != s for e, s in zip(expected, images.shape[1:]))):
        hint = " (one image: pass images[None])" if images.ndim == len(expected) else ""
        raise ValueError(f"Argument `{argument}`: its images must be a non-empty batch "
                         f"(N, *{expected}) of what `model` takes{hint}. Received: images of "
                         f"shape {images.shape}")
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
        raise ValueError(f"Argument `{argument}`: its images must be numbers. Received: images "
                         f"of dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.inexact):
        bad = np.size(images) - int(np.count_nonzero(np.isfinite(images)))
        if bad:
            raise ValueError(f"Argument `{argument}`: its images must be finite numbers (NaN "
                             f"or infinite pixels make every loss NaN). Received: {bad:,} NaN "
                             f"or infinite values in images of shape {images.shape}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        hint = " (one-hot rows: pass labels.argmax(-1))" if labels.ndim == 2 else ""
        raise ValueError(f"Argument `{argument}`: its labels must be one integer class index "
                         f"per image, shape (N,){hint}. Received: labels of shape "
                         f"{labels.shape}")
    if len(labels) != len(images):
        raise ValueError(f"Argument `{argument}`: its images and labels must be as many. "
                         f"Received: {len(images):,} images and {len(labels):,} labels")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise ValueError(f"Argument `{argument}`: its labels must be integer class indices. "
                         f"Received: labels of dtype {labels.dtype}")
    if np.issubdtype(labels.dtype, np.floating):
        fractional = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if len(fractional):
            i = int(fractional[0])
            raise ValueError(f"Argument `{argument}`: its labels must be integer class "
                             f"indices (a fractional label would be truncated). Received: "
                             f"labels[{i}]={labels[i].item()!r} ({len(fractional):,} such "
                             f"labels)")
    outside = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(outside):
        i = int(outside[0])
        raise ValueError(f"Argument `{argument}`: its labels must be class indices in "
                         f"[0, {classes}) (the model has {classes} classes). Received: "
                         f"labels[{i}]={labels[i].item()!r} ({len(outside):,} labels "
                         f"outside)")
    return images, labels.astype("int64")


def _check_dataset(model, dataset, argument):
    """A `tf.data.Dataset` of `(images, labels)` batches whose images fit `model`.

    Only the element spec is checked: the values are read by training.
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"Argument `{argument}` must be a tf.data.Dataset of (images, labels) "
                         f"batches. Received: a dataset of elements {spec}")
    images = spec[0]
    expected = tuple(model.input_shape[1:])
    shape = getattr(images, "shape", None)
    if shape is None or shape.rank is None:
        return
    dims = tuple(shape.as_list())
    if len(dims) != len(expected) + 1 or any(
            e is not None and s is not None and e != s for e, s in zip(expected, dims[1:])):
        raise ValueError(f"Argument `{argument}`: its images must be batches (batch, "
                         f"*{expected}) of what `model` takes. Received: a dataset of images "
                         f"{tuple(dims)}")


def _check_number(value, name, *, low, high=None, low_open=True):
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if ok:
        ok = ((value > low if low_open else value >= low) and (high is None or value <= high)
              and np.isfinite(value))
    if not ok:
        bounds = f"({low}, {high}]" if high is not None else ("> 0" if low_open else f">= {low}")
        finite = "" if high is not None else "finite "
        raise ValueError(f"Argument `{name}` must be a {finite}number {bounds}. "
                         f"Received: {name}={value!r}")
    return float(value)


def check_rates(learning_rate, base_lr_factor, layer_decay):
    """`learning_rate` and `base_lr_factor` finite and > 0, `layer_decay` None or in (0, 1]."""
    learning_rate = _check_number(learning_rate, "learning_rate", low=0)
    base_lr_factor = _check_number(base_lr_factor, "base_lr_factor", low=0)
    if layer_decay is not None:
        layer_decay = _check_number(layer_decay, "layer_decay", low=0, high=1)
    return learning_rate, base_lr_factor, layer_decay


def _check_int(value, name, *, minimum, maximum=None, at_most=None):
    """`value` as an int: `>= minimum`, in `[minimum, maximum]`, or `>= minimum` below
    the sanity bound `at_most` (said in the message)."""
    top = maximum if maximum is not None else at_most
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
            or (top is not None and value > top)):
        if maximum is not None:
            bounds = f"in [{minimum}, {maximum}]"
        else:
            bounds = f">= {minimum}" + ("" if at_most is None else f", at most {at_most:,}")
        raise ValueError(f"Argument `{name}` must be an int {bounds}. Received: {name}={value!r}")
    return int(value)


def _make_optimizer(optimizer, learning_rate):
    """A new optimizer: a kzoo.optimizers name, or a copy of an optimizer with this rate."""
    if isinstance(optimizer, str) and optimizer.lower() in kzoo_optimizers.OPTIMIZERS:
        return kzoo_optimizers.get(optimizer, learning_rate=learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return type(optimizer).from_config({**optimizer.get_config(),
                                            "learning_rate": learning_rate})
    raise ValueError(
        f"Argument `optimizer` must be a name of kzoo.optimizers.get "
        f"({list(kzoo_optimizers.OPTIMIZERS)}) or a keras.optimizers.Optimizer. "
        f"Received: optimizer={optimizer!r}"
    )


def _loss(model):
    activation = getattr(model.get_layer("predictions"), "activation", None)
    if activation is None or getattr(activation, "__name__", "") == "linear":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return "sparse_categorical_crossentropy"


def _multipliers(model, *, base_lr_factor, layer_decay):
    """`{layer name: learning-rate multiplier}` of the base's layers with weights.

    A base layer in stage i of n (the head is stage n) gets
    `base_lr_factor × layer_decay ** (n - i)` (timm's
    `param_groups_layer_decay`, times the base factor); the head keeps 1.
    """
    stage_of = freezing.stage_of_layers(model)
    n = max(stage_of.values(), default=0) + 1
    multipliers = {}
    for layer in model.layers[:freezing.head_start(model)]:
        if layer.weights:
            decay = 1.0 if layer_decay is None else layer_decay ** (n - stage_of[layer.name])
            multipliers[layer.name] = base_lr_factor * decay
            # A nested model's (ConvNeXt's Sequential stem) variables are named after its
            # own layers in one session and after the model in another (a loaded .keras
            # file): name both, so a saved optimizer state loads into the same groups.
            for inner in getattr(layer, "layers", ()):
                multipliers[inner.name] = base_lr_factor * decay
    return multipliers


def _fit(model, train_data, validation_data, *, initial_epoch, epochs, batch_size, callbacks,
         verbose):
    kwargs = dict(validation_data=validation_data, initial_epoch=initial_epoch, epochs=epochs,
                  callbacks=list(callbacks), verbose=verbose)
    if isinstance(train_data, tf.data.Dataset):
        # A dataset is shuffled (or not) by its own pipeline.
        return model.fit(train_data, shuffle=False, **kwargs)
    x, y = train_data
    return model.fit(x, y, batch_size=batch_size, **kwargs)


def fine_tune(model, train_data, validation_data=None, *, mode="full", epochs=DEFAULT_EPOCHS,
              head_epochs=None, learning_rate=DEFAULT_LEARNING_RATE, base_lr_factor=0.1,
              layer_decay=None, callbacks=(), optimizer="adam", verbose="auto",
              train_bn=False, batch_size=32) -> keras.callbacks.History:
    """Fine-tunes a `kzoo.transfer.classifier` model on labelled images.

    Modes:

    - `"linear"`: the base stays a fixed feature extractor; only the new
      classifier (`predictions`, and `hidden` if present) trains, for
      `epochs` epochs at `learning_rate`.
    - `"head"`: phase 1 trains the classifier for `head_epochs`; phase 2 the
      classifier and the base's last stage (the layers after the output of
      its second-to-last stage, moved back a stage while those hold no
      weights), the rest of `epochs`.
    - `"full"`: phase 1 as in `"head"`; phase 2 every layer, the rest of
      `epochs`, at a tenth of the rates below (`FULL_PHASE_LR_FACTOR`) when
      phase 1 ran: a fresh optimizer at the head's full rate made the loss
      jump at the switch, enough to trip the explosion guard.
    - `"auto"`: the project's rule (`kzoo.transfer.choose_mode`) on the
      labelled examples per class of `train_data` (their number over the
      model's classes): `"full"` at every count, because the transfer
      benchmark found `"full"` best or within 0.01 of the best from 2 labels
      per class up, where the textbook rule would keep the network fixed. A
      `kzoo: fine_tune auto: N labels per class -> mode '...'` line on stderr
      gives the count and the mode.

    In phase 2 the model is compiled again with a new optimizer: the
    classifier at `learning_rate`, a base layer at
    `learning_rate × base_lr_factor`, and with `layer_decay` also
    `× layer_decay ** (n - i)` for a layer of stage i of n (the stages of
    `kzoo.models.features.find_stages`; the head is stage n: timm's
    `param_groups_layer_decay`), through `kzoo.transfer.LayerwiseOptimizer`.
    Pass `base_lr_factor=1.0` for timm's layer decay alone. BatchNorm layers
    stay frozen (inference mode, statistics untouched) unless
    `train_bn=True`. Each phase compiles with
    `loss="sparse_categorical_crossentropy"` (from logits when `predictions`
    has no activation) and `metrics=["accuracy"]`, and leaves the model's
    trainable flags as its last phase set them.

    Args:
        model: a `kzoo.transfer.classifier` model (it has `predictions`;
            `pooler` marks where the head starts).
        train_data: a `tf.data.Dataset` of `(images, labels)` batches, or a
            tuple `(images, labels)` of arrays: as many finite images of the
            model's input shape as integer labels in `[0, classes)` (arrays
            are checked before training; of a dataset, the image shape).
        validation_data: optional, as `keras.Model.fit` takes it.
        mode: `"linear"`, `"head"`, `"full"` or `"auto"`. Defaults to
            `"full"`.
        epochs: total epochs of all phases, in [1, 10,000]. Defaults to 30
            (`DEFAULT_EPOCHS`, as `kzoo finetune`).
        head_epochs: epochs of phase 1 of `"head"` and `"full"`, in
            [0, epochs − 1]; 0 skips it. Defaults to `epochs // 2`.
            `"linear"` has no such phase: it warns that `head_epochs`,
            `base_lr_factor`, `layer_decay` and `train_bn` do nothing there.
        learning_rate: the classifier's learning rate, > 0. Defaults to 1e-2
            (`DEFAULT_LEARNING_RATE`, as `kzoo finetune`). Phase 2 of `"full"`
            after a head phase uses a tenth of it (and of the base's rates).
        base_lr_factor: the base's learning rate over `learning_rate` in
            phase 2, > 0. Defaults to 0.1.
        layer_decay: `None`, or a number in (0, 1]: the per-stage decay.
        callbacks: Keras callbacks, passed to every phase's `fit`; or a
            function `callbacks(phase_name) -> list` giving each phase its
            own (`kzoo finetune` keeps a checkpoint per phase).
        optimizer: a name of `kzoo.optimizers.get` (`"adam"`, `"sgd"`, ...)
            or a `keras.optimizers.Optimizer` whose class and configuration
            are used with each phase's learning rate. Defaults to `"adam"`.
        verbose: `"auto"` (default): kzoo's `kzoo.callbacks.Progress`
            (progress within each epoch, the ETA of the epoch and of all
            phases; plain lines when stdout is not a terminal); `0`, `1`,
            `2`: Keras's `fit` verbosity.
        train_bn: whether trainable BatchNorm layers train in phase 2.
            Defaults to `False`.
        batch_size: batch size for array `train_data`, in [1, 65,536].
            Defaults to 32.

    Returns:
        A `keras.callbacks.History` of all phases (`history.history` lists
        every epoch in order, `history.epoch` counts on across phases), with
        `history.mode` (the mode trained, as `"auto"` chose it),
        `history.phases` (per phase: `name`, `epochs`, `trainable` layers
        with weights) of the phases that ran, `history.stopped_early`
        (`None`, or why the last phase that ran ended early: `{"phase",
        "epoch", "reason", "exploded"}`; a `kzoo.callbacks.ExplosionGuard`
        that stopped a phase also skips the phases after it, listed in
        `"skipped"`) and, for `"auto"`, `history.labels_per_class`. With
        `verbose` on, each epoch is labelled on stderr (`kzoo: phase 2/2:
        full, epoch 3/15`).

    Raises:
        ValueError: before any training, for an unknown mode, `epochs` or
            `batch_size` out of range, a `head_epochs` out of range,
            `learning_rate` <= 0, `base_lr_factor` <= 0, a `layer_decay`
            outside (0, 1], unknown data, images and labels of different
            lengths, images of another shape than the model's input or with
            NaN or infinite pixels, labels that are fractional, negative or
            not below the model's classes, or a model without a
            `predictions` layer or with fewer than 2 classes.

    Examples:
        >>> base = kzoo.create_model("lenet", weights="fashion_mnist", include_top=False)
        >>> model = kzoo.transfer.classifier(base, 10, input_shape=(8, 8, 1))
        >>> images, labels, _ = kzoo.data.load_arrays("digits", "train")
        >>> history = kzoo.transfer.fine_tune(model, (images, labels), mode="linear", epochs=3)
        >>> history.mode
        'linear'
    """
    _check_model(model)
    if mode not in MODES:
        raise ValueError(f"Argument `mode` must be one of {list(MODES)}. Received: mode={mode!r}")
    epochs = _check_int(epochs, "epochs", minimum=1, at_most=MAX_EPOCHS)
    batch_size = _check_int(batch_size, "batch_size", minimum=1, at_most=MAX_BATCH_SIZE)
    learning_rate, base_lr_factor, layer_decay = check_rates(learning_rate, base_lr_factor,
                                                             layer_decay)
    if head_epochs is not None:
        head_epochs = _check_int(head_epochs, "head_epochs", minimum=0, maximum=epochs - 1)
    _make_optimizer(optimizer, learning_rate)  # refuses an unknown optimizer before training
    train_data = _checked_data(model, train_data, "train_data")
    if validation_data is not None:
        validation_data = _checked_data(model, validation_data, "validation_data")
    if mode == "linear":
        _warn_unused_in_linear(head_epochs=head_epochs, base_lr_factor=base_lr_factor,
                               layer_decay=layer_decay, train_bn=train_bn)

    per_class = None
    if mode == "auto":
        per_class = labels_per_class(train_data, int(model.get_layer("predictions").units))
        mode = choose_mode(per_class)
        _notice(f"fine_tune auto: {per_class:.4g} labels per class -> mode {mode!r}")

    phases = _plan(model, mode, epochs=epochs, head_epochs=head_epochs,
                   learning_rate=learning_rate, base_lr_factor=base_lr_factor,
                   layer_decay=layer_decay, optimizer=optimizer, train_bn=train_bn)
    loss = _loss(model)
    # One Progress for every phase: epochs counted, and the run's ETA taken, over all of them.
    keras_verbose, progress = progress_verbosity(
        verbose, total_epochs=epochs, batch_size=_static_batch(train_data, batch_size))
    histories, stopped_early = [], None
    for number, phase in enumerate(phases, 1):
        freezing.set_boundary(model, phase.pop("boundary"), train_bn=phase.pop("train_bn"))
        model.compile(optimizer=phase.pop("optimizer"), loss=loss, metrics=["accuracy"])
        phase["trainable"] = [layer.name for layer in model.layers if layer.trainable_weights]
        phase_callbacks = list(callbacks(phase["name"]) if callable(callbacks) else callbacks)
        initial_epoch = phase.pop("initial_epoch")
        label = PhaseLabel(f"phase {number}/{len(phases)}: {phase['name']}", initial_epoch,
                           phase["epochs"])
        histories.append(_fit(model, train_data, validation_data,
                              initial_epoch=initial_epoch,
                              epochs=phase.pop("last_epoch"), batch_size=batch_size,
                              callbacks=([label] if verbose else []) + phase_callbacks
                              + progress, verbose=keras_verbose))
        stopped_early = _stop_reason(model, phase_callbacks, phase["name"])
        if stopped_early is not None and stopped_early["exploded"]:
            # The later phases would start from the diverged weights.
            stopped_early["skipped"] = [later["name"] for later in phases[number:]]
            break
    history = _merged(histories)
    history.mode = mode
    history.phases = phases[:len(histories)]
    history.stopped_early = stopped_early
    if per_class is not None:
        history.labels_per_class = per_class
    return history


def _static_batch(train_data, batch_size):
    """Examples per step, when known before training (for the progress's images/s)."""
    if not isinstance(train_data, tf.data.Dataset):
        return batch_size
    size = tf.nest.flatten(train_data.element_spec)[0].shape
    return int(size[0]) if size.rank and size[0] is not None else None


class PhaseLabel(keras.callbacks.Callback):
    """Names the phase of each epoch: `kzoo: phase 2/2: full, epoch 3/15` on stderr."""

    def __init__(self, name, initial_epoch, epochs):
        super().__init__()
        self.name, self.initial_epoch, self.epochs = name, initial_epoch, epochs

    def on_epoch_begin(self, epoch, logs=None):
        _notice(f"{self.name}, epoch {epoch - self.initial_epoch + 1}/{self.epochs}")


def _stop_reason(model, callbacks, phase):
    """Why the phase's fit ended before its last epoch, or None when it ran them all.

    `{"phase", "epoch" (1-based, counted over all phases, or None), "reason",
    "exploded"}`; `exploded` when an `ExplosionGuard` stopped it (the loss
    blew up), which ends the fine-tuning (`fine_tune` adds the `skipped`
    phases).
    """
    if not model.stop_training:
        return None
    for callback in callbacks:
        if isinstance(callback, ExplosionGuard) and callback.stopped:
            return {"phase": phase, "epoch": callback.stopped_epoch + 1,
                    "reason": callback.reason, "exploded": True}
    names = sorted({type(c).__name__ for c in callbacks})
    return {"phase": phase, "epoch": None, "exploded": False,
            "reason": f"a callback stopped training (model.stop_training; callbacks: {names})"}


def _checked_data(model, data, argument):
    _check_data(data, argument)
    if isinstance(data, tf.data.Dataset):
        _check_dataset(model, data, argument)
        return data
    return _check_arrays(model, data, argument)


def _warn_unused_in_linear(**given):
    """A warning naming each argument that `mode="linear"` (one phase, base frozen) ignores."""
    defaults = {"head_epochs": None, "base_lr_factor": 0.1, "layer_decay": None,
                "train_bn": False}
    unused = {name: value for name, value in given.items() if value != defaults[name]}
    if unused:
        names = ", ".join(f"`{n}`" for n in unused)
        one = len(unused) == 1
        warnings.warn(
            f"Argument{'' if one else 's'} {names} {'does' if one else 'do'} nothing with "
            f"mode='linear' (one phase of `epochs` epochs on the new classifier, the base "
            f"frozen): {'it applies' if one else 'they apply'} to 'head' and 'full'. Received: "
            + ", ".join(f"{n}={v!r}" for n, v in unused.items()) + ", mode='linear'",
            UserWarning, stacklevel=3)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError(f"Argument `model` must be a keras.Model from "
                         f"kzoo.transfer.classifier. Received: model={model!r}")
    names = [layer.name for layer in model.layers]
    if "predictions" not in names:
        raise ValueError(
            "Argument `model` must be a kzoo.transfer.classifier model: it has no "
            f"`predictions` layer. Received: model={model.name!r} with layers {names[-5:]}"
        )
    classes = getattr(model.get_layer("predictions"), "units", None)
    if classes is not None and classes < 2:
        raise ValueError(
            f"Argument `model` must classify into at least 2 classes (a 1-class softmax "
            f"answers 1.0 whatever the image, so its accuracy says nothing). Received: "
            f"model={model.name!r} with {classes} class")


def _plan(model, mode, *, epochs, head_epochs, learning_rate, base_lr_factor, layer_decay,
          optimizer, train_bn):
    """The phases of `mode`: name, boundary, optimizer, epochs and BN policy of each."""
    def phase(name, boundary, optimizer_, initial_epoch, last_epoch, phase_train_bn=False):
        return {"name": name, "epochs": last_epoch - initial_epoch, "boundary": boundary,
                "optimizer": optimizer_, "initial_epoch": initial_epoch,
                "last_epoch": last_epoch, "train_bn": phase_train_bn}

    head_boundary = freezing.head_start(model) - 1
    if mode == "linear":
        return [phase("linear", head_boundary, _make_optimizer(optimizer, learning_rate), 0,
                      epochs)]
    head_epochs = epochs // 2 if head_epochs is None else head_epochs
    phases = []
    if head_epochs:
        phases.append(phase("head", head_boundary, _make_optimizer(optimizer, learning_rate), 0,
                            head_epochs))
    multipliers = _multipliers(model, base_lr_factor=base_lr_factor, layer_decay=layer_decay)
    # After a head phase, "full" fine-tunes a trained head: a tenth of its rate.
    rate = learning_rate * (FULL_PHASE_LR_FACTOR if mode == "full" and head_epochs else 1.0)
    second = _make_optimizer(optimizer, rate)
    if any(m != 1.0 for m in multipliers.values()):
        second = LayerwiseOptimizer(second, multipliers)
    if mode == "head":
        phases.append(phase("top", freezing.stage_boundary(model), second, head_epochs, epochs,
                            train_bn))
    else:
        phases.append(phase("full", -1, second, head_epochs, epochs, train_bn))
    return phases


def _merged(histories):
    """The last phase's History, holding every phase's epochs in order."""
    history = histories[-1]
    merged = {}
    for h in histories:
        for key, values in h.history.items():
            merged.setdefault(key, []).extend(values)
    history.history = merged
    history.epoch = [e for h in histories for e in h.epoch]
    return history
