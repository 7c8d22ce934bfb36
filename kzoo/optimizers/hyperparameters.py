"""Hyperparameter checks shared by kzoo optimizers and schedules.

Keras accepts, for instance, a negative learning rate or `beta_1=1.5` without
complaint; kzoo refuses them with a `ValueError` naming the argument.
Callables, tensors and `LearningRateSchedule`s are not numbers and pass through.
"""

import math
import numbers

__all__ = ["check_learning_rate", "check_unit_interval", "check_non_negative"]


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_learning_rate(value, name="learning_rate"):
    """A number must be finite and >= 0; schedules and callables pass through."""
    if isinstance(value, bool) or (
        _is_number(value) and (not math.isfinite(value) or value < 0)
    ):
        raise ValueError(
            f"Argument `{name}` must be a non-negative finite number, a "
            f"`LearningRateSchedule` or a callable. Received: {name}={value!r}"
        )
    return value


def check_unit_interval(value, name):
    """A number must lie in [0, 1) (momentum, beta_1, beta_2, rho)."""
    if isinstance(value, bool) or (
        _is_number(value) and not (0.0 <= value < 1.0)
    ):
        raise ValueError(
            f"Argument `{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
    return value


def check_non_negative(value, name):
    """`None` passes; a number must be finite and >= 0 (epsilon, weight_decay)."""
    if value is None:
        return value
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Argument `{name}` must be a non-negative finite number. "
            f"Received: {name}={value!r}"
        )
    return value
