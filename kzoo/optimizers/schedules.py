"""Learning-rate schedules by step: step decay, exponential `e^(-kt)`, inverse time.

All are `keras.optimizers.schedules.LearningRateSchedule`s registered for
serialization, so an optimizer using one saves and loads with the model. The
step `t` is the optimizer's iteration count (batches, not epochs); for a
per-epoch step decay use `kzoo.callbacks.EpochStepDecay`.
"""

import math
import numbers

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.optimizers.hyperparameters import check_learning_rate
from kzoo.optimizers.hyperparameters import check_non_negative

__all__ = ["StepDecay", "ExponentialDecay", "InverseTimeDecay", "SCHEDULES", "make_schedule"]


def _check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def _check_factor(value):
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"Argument `factor` must be a positive number. Received: factor={value!r}")
    return float(value)


@kzoo_export("kzoo.optimizers.schedules.StepDecay")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Multiplies the learning rate by `factor` every `step_size` steps.

    `lr(t) = initial_learning_rate * factor ** floor(t / step_size)`.

    Args:
        initial_learning_rate: the learning rate at step 0, >= 0.
        factor: multiplier applied every `step_size` steps, > 0 (typically 0.1
            or 0.5).
        step_size: number of optimizer steps between two decays, > 0. For a
            decay every `k` epochs, pass `k * steps_per_epoch`.
        name: optional name of the schedule.

    Example:

    >>> schedule = kzoo.optimizers.schedules.StepDecay(0.1, factor=0.5, step_size=1000)
    >>> optimizer = kzoo.optimizers.get("momentum", learning_rate=schedule)
    """

    def __init__(self, initial_learning_rate, factor=0.1, step_size=1000, name="StepDecay"):
        super().__init__()
        self.initial_learning_rate = check_learning_rate(
            initial_learning_rate, "initial_learning_rate"
        )
        self.factor = _check_factor(factor)
        self.step_size = _check_positive_int(step_size, "step_size")
        self.name = name

    def __call__(self, step):
        dtype = "float32"
        # Integer division keeps floor(t / k) exact for any step count.
        p = ops.cast(ops.floor_divide(ops.cast(step, "int64"), self.step_size), dtype)
        return ops.multiply(
            ops.cast(self.initial_learning_rate, dtype),
            ops.power(ops.cast(self.factor, dtype), p),
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "factor": self.factor,
            "step_size": self.step_size,
            "name": self.name,
        }


@kzoo_export("kzoo.optimizers.schedules.ExponentialDecay")
class ExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential decay with rate `k`: `lr(t) = initial_learning_rate * exp(-k * t)`.

    The same function as `keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate, decay_steps=1, decay_rate=exp(-k))`, but computed as
    `exp(-k t)`: Keras raises the float32-rounded `exp(-k)` to the power `t`,
    whose rounding error grows with `t`.

    Args:
        initial_learning_rate: the learning rate at step 0, >= 0.
        k: decay rate per step, >= 0.
        name: optional name of the schedule.

    Example:

    >>> schedule = kzoo.optimizers.schedules.ExponentialDecay(0.1, k=1e-4)
    >>> optimizer = kzoo.optimizers.get("sgd", learning_rate=schedule)
    """

    def __init__(self, initial_learning_rate, k, name="ExponentialDecay"):
        super().__init__()
        self.initial_learning_rate = check_learning_rate(
            initial_learning_rate, "initial_learning_rate"
        )
        self.k = check_non_negative(k, "k")
        self.name = name

    def __call__(self, step):
        dtype = "float32"
        t = ops.cast(step, dtype)
        return ops.multiply(
            ops.cast(self.initial_learning_rate, dtype),
            ops.exp(ops.multiply(ops.cast(-self.k, dtype), t)),
        )

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "k": self.k, "name": self.name}


@kzoo_export("kzoo.optimizers.schedules.InverseTimeDecay")
class InverseTimeDecay(keras.optimizers.schedules.InverseTimeDecay):
    """Inverse-time decay with rate `k`: `lr(t) = initial_learning_rate / (1 + k * t)`.

    Keras's `keras.optimizers.schedules.InverseTimeDecay` with
    `decay_steps=1`, `decay_rate=k` and no staircase, parameterized by `k`.

    Args:
        initial_learning_rate: the learning rate at step 0, >= 0.
        k: decay rate per step, >= 0.
        name: optional name of the schedule.

    Example:

    >>> schedule = kzoo.optimizers.schedules.InverseTimeDecay(0.1, k=1e-3)
    >>> optimizer = kzoo.optimizers.get("adagrad", learning_rate=schedule)
    """

    def __init__(self, initial_learning_rate, k, name="InverseTimeDecay"):
        check_learning_rate(initial_learning_rate, "initial_learning_rate")
        check_non_negative(k, "k")
        super().__init__(
            initial_learning_rate, decay_steps=1, decay_rate=k, staircase=False, name=name
        )
        self.k = k

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "k": self.k, "name": self.name}


#: Names `make_schedule` (and `kzoo train --schedule`) accepts.
SCHEDULES = ("constant", "cosine", "step", "exponential", "inverse_time")


def make_schedule(name, learning_rate, *, epochs, steps_per_epoch):
    """The learning rate of a whole run by schedule name: a float or a schedule.

    Args:
        name: `"constant"`, `"cosine"` (to 0 over the run, Keras's
            `CosineDecay`), `"step"` (×0.1 at 50% and 75% of the run),
            `"exponential"` (α₀·e^(−kt), k chosen so the rate falls ×100 over
            the run) or `"inverse_time"` (α₀/(1 + kt), k = 1 per epoch).
        learning_rate: the initial rate α₀.
        epochs: epochs of the run.
        steps_per_epoch: optimizer steps (batches) per epoch.

    Returns:
        `learning_rate` itself for `"constant"`, else a `LearningRateSchedule`.

    Example:

    >>> lr = kzoo.optimizers.schedules.make_schedule("cosine", 0.1, epochs=10,
    ...                                               steps_per_epoch=100)
    >>> float(lr(1000))
    0.0
    """
    if name not in SCHEDULES:
        raise ValueError(f"Argument `schedule` must be one of {list(SCHEDULES)}. "
                         f"Received: schedule={name!r}")
    check_learning_rate(learning_rate)
    epochs = _check_positive_int(epochs, "epochs")
    steps_per_epoch = _check_positive_int(steps_per_epoch, "steps_per_epoch")
    total = epochs * steps_per_epoch
    schedules = keras.optimizers.schedules
    if name == "cosine":
        return schedules.CosineDecay(learning_rate, decay_steps=total)
    if name == "step":
        return schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)],
            [learning_rate, learning_rate * 0.1, learning_rate * 0.01],
        )
    if name == "exponential":
        return ExponentialDecay(learning_rate, k=math.log(100.0) / total)
    if name == "inverse_time":
        return InverseTimeDecay(learning_rate, k=1.0 / steps_per_epoch)
    return learning_rate
