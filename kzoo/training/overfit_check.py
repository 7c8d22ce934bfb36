"""The "can it overfit a tiny subset?" sanity check of a model and its training set-up."""

import dataclasses
import numbers
from typing import Optional, Union

import keras
import numpy as np

__all__ = ["overfit_check", "OverfitResult", "without_regularization"]

_NOISE_LAYERS = (
    keras.layers.Dropout,  # also SpatialDropout1D/2D/3D
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


@dataclasses.dataclass(frozen=True)
class OverfitResult:
    """What `kzoo.training.overfit_check` found.

    Attributes:
        n: number of training examples used.
        reached_100: whether the training accuracy reached 100%.
        epochs_to_100: first epoch (1-based) whose training accuracy was
            100%, or `None`.
        epochs_run: number of epochs trained (training stops at 100% unless
            `stop_at_100=False`).
        train_accuracy: training accuracy of the last epoch.
        final_accuracy: accuracy on the `n` examples in inference mode after
            training (differs from `train_accuracy` only through layers that
            behave differently at inference, e.g. batch normalization).
        losses: training loss of every epoch.
        loss_ratio: last loss / first loss: how far the loss fell.
        epochs_to_half_loss: first epoch (1-based) whose loss was at most
            half the first epoch's, or `None`: how fast the loss fell.
    """

    n: int
    reached_100: bool
    epochs_to_100: Optional[int]
    epochs_run: int
    train_accuracy: float
    final_accuracy: float
    losses: tuple
    loss_ratio: float
    epochs_to_half_loss: Optional[int] = None

    @property
    def first_loss(self) -> float:
        return self.losses[0]

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    def summary(self) -> str:
        """A few human-readable lines."""
        verdict = (
            f"reached 100% training accuracy at epoch {self.epochs_to_100}"
            if self.reached_100
            else f"did NOT reach 100% training accuracy in {self.epochs_run} epochs "
            f"(last: {self.train_accuracy:.1%})"
        )
        halved = (
            f"halved by epoch {self.epochs_to_half_loss}"
            if self.epochs_to_half_loss
            else "never halved"
        )
        return (
            f"overfit check on {self.n} examples: {verdict}\n"
            f"loss {self.first_loss:.4g} -> {self.final_loss:.4g} (x{self.loss_ratio:.3g}) "
            f"over {self.epochs_run} epochs, {halved}; "
            f"inference accuracy {self.final_accuracy:.1%}"
        )


def without_regularization(model: keras.Model) -> keras.Model:
    """A copy of `model`, same weights, with dropout, noise and regularizers off.

    The copy is made with `keras.models.clone_model` (Functional and
    Sequential models, or any model with a working `get_config`), then every
    layer is changed in place: `Dropout`-family rates and `GaussianNoise`
    standard deviations become 0, `dropout`/`recurrent_dropout` attributes
    become 0, and weight (`*_regularizer`) and activity regularizers are
    removed. Batch normalization is kept: it is part of the model, not a
    penalty. `model` itself is not changed.

    Args:
        model: a Keras model.

    Returns:
        The unregularized copy (not compiled).

    Raises:
        ValueError: when the model cannot be cloned.

    Examples:
        >>> plain = kzoo.training.without_regularization(model)
    """
    try:
        clone = keras.models.clone_model(model)
    except Exception as e:  # Subclassed models without a config cannot be cloned.
        raise ValueError(
            "Argument `model` must be clonable by keras.models.clone_model (a Functional or "
            f"Sequential model, or one with get_config). Received: model={model!r} ({e})"
        ) from e
    if model.built and model.weights:
        if not clone.built:
            clone.build(model.input_shape)
        clone.set_weights(model.get_weights())
    for layer in clone._flatten_layers(include_self=True):
        if isinstance(layer, _NOISE_LAYERS):
            layer.rate = 0.0
        if isinstance(layer, keras.layers.GaussianNoise):
            layer.stddev = 0.0
        for attr in ("dropout", "recurrent_dropout"):
            if isinstance(getattr(layer, attr, None), numbers.Real):
                setattr(layer, attr, 0.0)
        for attr in list(vars(layer)):
            if attr.endswith("_regularizer") and getattr(layer, attr) is not None:
                setattr(layer, attr, None)
    for variable in clone.weights:
        variable.regularizer = None
    return clone


def _infer_loss(y, outputs):
    """(loss, metric) from the label layout and whether outputs are probabilities."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[-1] == 1:
        from_logits = bool(outputs.min() < 0 or outputs.max() > 1)
        return (
            keras.losses.BinaryCrossentropy(from_logits=from_logits),
            keras.metrics.BinaryAccuracy(threshold=0.0 if from_logits else 0.5, name="accuracy"),
        )
    from_logits = not (
        outputs.min() >= 0
        and outputs.max() <= 1
        and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3)
    )
    y = np.asarray(y)
    if y.ndim == outputs.ndim and y.shape[-1] == outputs.shape[-1] and y.shape[-1] > 1:
        return (
            keras.losses.CategoricalCrossentropy(from_logits=from_logits),
            keras.metrics.CategoricalAccuracy(name="accuracy"),
        )
    return (
        keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    )


class _StopAt(keras.callbacks.Callback):
    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("accuracy", 0.0) >= self.target:
            self.model.stop_training = True


def make_optimizer(optimizer, learning_rate):
    """`optimizer`: a `kzoo.optimizers.get` name becomes a fresh optimizer, else unchanged.

    Raises:
        ValueError: naming `optimizer` or `learning_rate`.
    """
    from kzoo.optimizers import registry

    if not isinstance(optimizer, str):
        return optimizer  # a Keras optimizer, for `compile`
    key = optimizer.lower()
    if key not in registry.OPTIMIZERS:
        raise ValueError(
            f"Argument `optimizer` must be a Keras optimizer or a kzoo.optimizers.get name, "
            f"one of {list(registry.OPTIMIZERS)}. Received: optimizer={optimizer!r}"
        )
    kwargs = {} if learning_rate is None else {"learning_rate": learning_rate}
    return registry.get(key, **kwargs)


def overfit_check(
    model: keras.Model,
    x,
    y,
    n: int = 20,
    *,
    epochs: int = 200,
    optimizer: Union[str, keras.optimizers.Optimizer] = "adam",
    learning_rate: Optional[float] = 1e-3,
    loss=None,
    batch_size: Optional[int] = None,
    stop_at_100: bool = True,
    verbose: int = 0,
) -> OverfitResult:
    """Trains on `n` examples with regularization off: does it reach 100% accuracy?

    The standard sanity check before a long run (CS231n, "babysitting the
    learning process"): a model and a training set-up that work can drive
    the training loss of a tiny subset towards zero and classify it
    perfectly. If they cannot, something is wrong with the model, the loss,
    the labels or the learning rate.

    The check trains a copy of `model` made by
    `kzoo.training.without_regularization` (same weights; dropout, noise and
    weight/activity regularizers off), so `model` itself is left untouched.
    It uses the first `n` examples, full-batch by default, without
    shuffling, so a run is deterministic given the model's weights.

    Args:
        model: a Keras classifier (Functional or Sequential, or clonable);
            its outputs may be probabilities or logits (detected).
        x: inputs, an array whose first axis indexes examples.
        y: integer labels `(N,)` or one-hot labels `(N, classes)`; for a
            single output unit, 0/1 labels.
        n: number of examples to overfit, 1 <= n <= len(x). Defaults to 20.
        epochs: maximum number of epochs. Defaults to 200.
        optimizer: a name for `kzoo.optimizers.get` or a fresh Keras
            optimizer. Defaults to `"adam"`.
        learning_rate: passed to `kzoo.optimizers.get` with a name (ignored
            for an optimizer instance). Defaults to `1e-3`.
        loss: a Keras loss; by default cross-entropy matching the labels and
            whether the outputs are probabilities or logits.
        batch_size: defaults to `n` (full batch).
        stop_at_100: stop as soon as an epoch reaches 100% training accuracy.
        verbose: Keras `fit` verbosity.

    Returns:
        An `OverfitResult`: `reached_100`, `epochs_to_100`, `losses`,
        `loss_ratio`, accuracies; `.summary()` formats it.

    Raises:
        ValueError: for invalid `n`, `epochs` or mismatched `x`/`y`.

    Reference:

    - [CS231n, "Neural Networks Part 3: Learning and Evaluation"](
        https://cs231n.github.io/neural-networks-3/#sanitycheck)

    Examples:
        >>> model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=10)
        >>> result = kzoo.training.overfit_check(model, x_train, y_train, n=20)
        >>> result.reached_100, result.epochs_to_100, result.loss_ratio
        (True, 37, 0.004)
    """
    if len(x) != len(y):
        raise ValueError(
            f"Arguments `x` and `y` must have the same length. Received: len(x)={len(x)}, "
            f"len(y)={len(y)}"
        )
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or not 1 <= n <= len(x):
        raise ValueError(
            f"Argument `n` must be an integer in [1, {len(x)}] (the number of examples). "
            f"Received: n={n!r}"
        )
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(
            f"Argument `epochs` must be a positive integer. Received: epochs={epochs!r}"
        )
    optimizer = make_optimizer(optimizer, learning_rate)
    x_small = np.asarray(x[:n])
    y_small = np.asarray(y[:n])

    clone = without_regularization(model)
    if loss is None:
        loss, metric = _infer_loss(y_small, clone(x_small, training=False))
    else:
        metric = "accuracy"
    clone.compile(optimizer=optimizer, loss=loss, metrics=[metric])
    callbacks = [_StopAt(1.0)] if stop_at_100 else []
    history = clone.fit(
        x_small,
        y_small,
        batch_size=batch_size or n,
        epochs=int(epochs),
        shuffle=False,
        verbose=verbose,
        callbacks=callbacks,
    ).history
    accuracies = [float(a) for a in history["accuracy"]]
    losses = tuple(float(v) for v in history["loss"])
    hits = [i for i, a in enumerate(accuracies) if a >= 1.0]
    evaluation = clone.evaluate(
        x_small, y_small, batch_size=batch_size or n, verbose=0, return_dict=True
    )
    return OverfitResult(
        n=int(n),
        reached_100=bool(hits),
        epochs_to_100=hits[0] + 1 if hits else None,
        epochs_run=len(losses),
        train_accuracy=accuracies[-1],
        final_accuracy=float(evaluation["accuracy"]),
        losses=losses,
        loss_ratio=losses[-1] / losses[0] if losses[0] else float("nan"),
        epochs_to_half_loss=next(
            (i + 1 for i, v in enumerate(losses) if v <= 0.5 * losses[0]), None
        ),
    )
