"""`EpochStepDecay`: multiply the learning rate by a factor every k epochs."""

import math
import numbers
from typing import Optional

import keras

from kzoo.api_export import kzoo_export
from kzoo.callbacks.explosion_guard import current_learning_rate


@kzoo_export("kzoo.callbacks.EpochStepDecay")
class EpochStepDecay(keras.callbacks.Callback):
    """Sets `lr = initial_learning_rate * factor ** (epoch // every)` before each epoch.

    The per-epoch form of `kzoo.optimizers.schedules.StepDecay` (which counts
    optimizer steps). The optimizer must have a plain (float) learning rate.

    Args:
        factor: multiplier applied every `every` epochs, > 0. Defaults to `0.5`.
        every: number of epochs between two decays, > 0. Defaults to `10`.
        initial_learning_rate: the learning rate of epoch 0. Defaults to the
            optimizer's learning rate when training first begins.

    Examples:
        >>> decay = kzoo.callbacks.EpochStepDecay(factor=0.1, every=30)
        >>> model.fit(x, y, epochs=90, callbacks=[decay])
    """

    def __init__(
        self,
        factor: float = 0.5,
        every: int = 10,
        initial_learning_rate: Optional[float] = None,
    ):
        super().__init__()
        if (
            isinstance(factor, bool)
            or not isinstance(factor, numbers.Real)
            or not math.isfinite(factor)
            or factor <= 0
        ):
            raise ValueError(
                f"Argument `factor` must be a positive number. Received: factor={factor!r}"
            )
        if not isinstance(every, numbers.Integral) or isinstance(every, bool) or every <= 0:
            raise ValueError(
                f"Argument `every` must be a positive integer. Received: every={every!r}"
            )
        if initial_learning_rate is not None and (
            isinstance(initial_learning_rate, bool)
            or not isinstance(initial_learning_rate, numbers.Real)
            or initial_learning_rate < 0
        ):
            raise ValueError(
                "Argument `initial_learning_rate` must be a non-negative number or None. "
                f"Received: initial_learning_rate={initial_learning_rate!r}"
            )
        self.factor = float(factor)
        self.every = int(every)
        self.initial_learning_rate = initial_learning_rate
        self._initial = initial_learning_rate

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate this callback sets for (0-based) `epoch`."""
        return self._initial * self.factor ** (epoch // self.every)

    def on_train_begin(self, logs=None):
        if isinstance(
            self.model.optimizer._learning_rate,
            keras.optimizers.schedules.LearningRateSchedule,
        ):
            raise ValueError(
                "EpochStepDecay needs an optimizer with a float learning rate, not a "
                "LearningRateSchedule. Received: learning_rate="
                f"{self.model.optimizer._learning_rate!r}"
            )
        if self._initial is None:
            self._initial = current_learning_rate(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate_at(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model)

    def get_config(self):
        return {
            "factor": self.factor,
            "every": self.every,
            "initial_learning_rate": self.initial_learning_rate,
        }
