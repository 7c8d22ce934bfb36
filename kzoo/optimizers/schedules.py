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

__all__ = ["StepDecay", "ExponentialDecay", "InverseTimeDecay", "LinearWarmup", "SCHEDULES",
           "make_schedule"]


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

    Examples:
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

    Examples:
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

    Examples:
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


@kzoo_export("kzoo.optimizers.schedules.LinearWarmup")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warmup of `warmup_steps` steps, then `after` (shifted to start at 0).

    `lr(t) = after(0) · (t + 1) / warmup_steps` for `t < warmup_steps`, then
    `after(t − warmup_steps)`: the rate climbs to `after`'s initial rate and
    the schedule then runs as if training started there (Goyal et al. 2017's
    gradual warmup).

    Args:
        after: a float (constant after the warmup) or a `LearningRateSchedule`.
        warmup_steps: optimizer steps of the warmup, >= 1.
        name: optional name of the schedule.

    Examples:
        >>> lr = kzoo.optimizers.schedules.LinearWarmup(0.1, warmup_steps=100)
        >>> float(lr(0)), float(lr(99)), float(lr(5000))
        (0.001, 0.1, 0.1)
    """

    def __init__(self, after, warmup_steps, name="LinearWarmup"):
        super().__init__()
        if isinstance(after, dict):  # from_config
            after = keras.optimizers.schedules.deserialize(after)
        if not isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = check_learning_rate(after, "after")
        self.after = after
        self.warmup_steps = _check_positive_int(warmup_steps, "warmup_steps")
        self.name = name

    def _after(self, step):
        if isinstance(self.after, float):
            return ops.cast(self.after, "float32")
        return ops.cast(self.after(step), "float32")

    def __call__(self, step):
        t = ops.cast(step, "float32")
        w = float(self.warmup_steps)
        peak = self._after(ops.cast(0, "int64"))
        warm = peak * (t + 1.0) / w
        later = self._after(ops.maximum(ops.cast(step, "int64") - self.warmup_steps, 0))
        return ops.where(t < w, warm, later)

    def get_config(self):
        after = self.after if isinstance(self.after, float) else \
            keras.optimizers.schedules.serialize(self.after)
        return {"after": after, "warmup_steps": self.warmup_steps, "name": self.name}


SCHEDULES = ("constant", "cosine", "step", "exponential", "inverse_time", "onecycle")
"""Names `make_schedule` (and `kzoo train --schedule`) accepts."""
#: One-cycle (Smith 2018, fastai's defaults): a linear climb from lr/25 over the
#: first 30% of the steps, then a cosine down to lr/10⁴.
ONECYCLE_START, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4


def make_schedule(name, learning_rate, *, epochs, steps_per_epoch, warmup_epochs=0):
    """The learning rate of a whole run by schedule name: a float or a schedule.

    Args:
        name: `"constant"`, `"cosine"` (to 0 over the run, Keras's
            `CosineDecay`), `"step"` (×0.1 at 50% and 75% of the run),
            `"exponential"` (α₀·e^(−kt), k chosen so the rate falls ×100 over
            the run), `"inverse_time"` (α₀/(1 + kt), k = 1 per epoch) or
            `"onecycle"` (from α₀/25 up to α₀ over the first 30% of the run,
            then a cosine down to α₀/10⁴; Smith's one-cycle with fastai's
            defaults, Keras's `CosineDecay` with its warmup).
        learning_rate: the initial rate α₀ (the peak for `"onecycle"`).
        epochs: epochs of the run.
        steps_per_epoch: optimizer steps (batches) per epoch.
        warmup_epochs: epochs (a number >= 0, may be fractional) of a linear
            warmup to α₀ before the schedule, which then runs over the
            remaining steps (`"cosine"` uses Keras's own warmup; the others
            `LinearWarmup`). Not with `"onecycle"`, which has its own.

    Returns:
        `learning_rate` itself for `"constant"`, else a `LearningRateSchedule`.

    Examples:
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
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, numbers.Real) or not (
            0 <= warmup_epochs < epochs):
        raise ValueError(f"Argument `warmup_epochs` must be a number >= 0 and below the "
                         f"{epochs} epochs of the run. Received: warmup_epochs={warmup_epochs!r}")
    if warmup_epochs and name == "onecycle":
        raise ValueError("Argument `warmup_epochs`: the 'onecycle' schedule has its own warmup "
                         f"(30% of the run). Received: warmup_epochs={warmup_epochs!r}")
    total = epochs * steps_per_epoch
    warmup = int(round(warmup_epochs * steps_per_epoch))
    schedules = keras.optimizers.schedules
    if name == "onecycle":
        climb = max(1, int(round(ONECYCLE_START * total)))
        return schedules.CosineDecay(
            learning_rate / ONECYCLE_DIV, decay_steps=max(1, total - climb),
            alpha=1.0 / ONECYCLE_FINAL_DIV, warmup_target=learning_rate, warmup_steps=climb)
    if name == "cosine" and warmup:
        # Keras's warmup climbs from its initial rate: start it one step's worth above 0.
        return schedules.CosineDecay(learning_rate / warmup, decay_steps=max(1, total - warmup),
                                     warmup_target=learning_rate, warmup_steps=warmup)
    if warmup:
        return LinearWarmup(_decay(name, learning_rate, total - warmup, steps_per_epoch), warmup)
    return _decay(name, learning_rate, total, steps_per_epoch)


def _decay(name, learning_rate, total, steps_per_epoch):
    """The schedules without warmup, over `total` steps."""
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
