"""`ExplosionGuard`: stop training when the loss blows up, and say why."""

import math
import warnings
from typing import Optional

import keras

from kzoo.api_export import kzoo_export


def current_learning_rate(model) -> Optional[float]:
    """The optimizer's current learning rate as a float (None if unavailable)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(optimizer.learning_rate)
    except (AttributeError, TypeError, ValueError):
        return None


@kzoo_export("kzoo.callbacks.ExplosionGuard")
class ExplosionGuard(keras.callbacks.Callback):
    """Stops training when the loss becomes non-finite or exceeds `factor` x its first value.

    After every training batch the monitored value is compared with the first
    one seen in this `fit` call. When it is NaN or infinite, or larger than
    `factor` times that first value (a first value <= 0 disables the ratio
    test), training stops gracefully (`model.stop_training = True`) and a
    `RuntimeWarning` names the learning rate, the usual culprit, and its value.
    The reason stays in `reason` for programs.

    Keras reports a batch's `loss` as the running mean over the epoch so far;
    a diverging run drives that mean up too, a step or two later.

    Args:
        monitor: the log key to watch. Defaults to `"loss"`.
        factor: the blow-up threshold as a multiple of the first value, > 1.
            Defaults to `3.0`.

    Attributes:
        stopped: whether this callback stopped the last `fit`.
        reason: the message given when it stopped, else `None`.
        first_value: the first monitored value of the last `fit`.
        learning_rate: the learning rate when it stopped, else `None`.
        stopped_epoch: the epoch where it stopped (0-based), else `None`.
        stopped_batch: the batch where it stopped (0-based), else `None`.

    Examples:
        >>> guard = kzoo.callbacks.ExplosionGuard()
        >>> model.compile(optimizer=kzoo.optimizers.get("sgd", learning_rate=10.0), loss="mse")
        >>> model.fit(x, y, epochs=5, callbacks=[guard])
        >>> guard.reason
        'Training stopped at epoch 1, batch 3: loss=inf is not finite. The learning rate ...'
    """

    def __init__(self, monitor: str = "loss", factor: float = 3.0):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"Argument `monitor` must be a non-empty string. Received: monitor={monitor!r}"
            )
        if (
            isinstance(factor, bool)
            or not isinstance(factor, (int, float))
            or not math.isfinite(factor)
            or factor <= 1
        ):
            raise ValueError(
                f"Argument `factor` must be a finite number > 1. Received: factor={factor!r}"
            )
        self.monitor = monitor
        self.factor = float(factor)
        self._reset()

    def _reset(self):
        self.stopped = False
        self.reason = None
        self.first_value = None
        self.learning_rate = None
        self.stopped_epoch = None
        self.stopped_batch = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped or not logs or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if self.first_value is None and math.isfinite(value):
            self.first_value = value
            return
        if not math.isfinite(value):
            problem = f"{self.monitor}={value} is not finite"
        elif self.first_value is not None and self.first_value > 0 and (
            value > self.factor * self.first_value
        ):
            problem = (
                f"{self.monitor}={value:.4g} exceeds {self.factor:g} x its first value "
                f"{self.first_value:.4g}"
            )
        else:
            return
        self._stop(batch, problem)

    def _stop(self, batch, problem):
        self.stopped = True
        self.stopped_epoch = self._epoch
        self.stopped_batch = batch
        self.learning_rate = current_learning_rate(self.model)
        if self.learning_rate is None:
            advice = "The learning rate is the likely cause; try a smaller one."
        else:
            advice = (
                f"The learning rate is the likely cause: it was {self.learning_rate:.6g}; "
                f"try a smaller one (e.g. {self.learning_rate / 10:.3g})."
            )
        self.reason = (
            f"Training stopped at epoch {self._epoch + 1}, batch {batch + 1}: {problem}. {advice}"
        )
        self.model.stop_training = True
        warnings.warn(f"ExplosionGuard: {self.reason}", RuntimeWarning, stacklevel=2)

    def get_config(self):
        return {"monitor": self.monitor, "factor": self.factor}
