"""`kzoo.optimizers.get`: the textbook optimizers by name, as Keras 3 optimizers.

Every name maps to a Keras optimizer class with the defaults that make it the
textbook algorithm; only NAdam is kzoo's own (Keras's `Nadam` fixes the
momentum schedule, see `kzoo.optimizers.NAdam`). Each is checked against a
NumPy transcription of its textbook update in `tests/optimizers`.
"""

from typing import Any

import keras

from kzoo.optimizers.hyperparameters import check_learning_rate
from kzoo.optimizers.hyperparameters import check_non_negative
from kzoo.optimizers.hyperparameters import check_unit_interval
from kzoo.optimizers.nadam import NAdam

__all__ = ["get", "OPTIMIZERS"]

OPTIMIZERS = {
    "sgd": (keras.optimizers.SGD, {}),
    "momentum": (keras.optimizers.SGD, {"momentum": 0.9}),
    "nesterov": (keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
    # The textbook accumulator starts at 0 (Keras's default is 0.1).
    "adagrad": (keras.optimizers.Adagrad, {"initial_accumulator_value": 0.0}),
    "rmsprop": (keras.optimizers.RMSprop, {}),
    "adam": (keras.optimizers.Adam, {}),
    "amsgrad": (keras.optimizers.Adam, {"amsgrad": True}),
    "nadam": (NAdam, {}),
    "adamw": (keras.optimizers.AdamW, {}),
}
"""The optimizers `get` knows: name -> (class, defaults that differ from the class's own)."""

_UNIT_INTERVAL = ("momentum", "beta_1", "beta_2", "rho", "ema_momentum")
_NON_NEGATIVE = ("epsilon", "weight_decay", "initial_accumulator_value", "momentum_decay")


def get(name: str, **kwargs: Any) -> keras.optimizers.Optimizer:
    """Returns a new Keras 3 optimizer by textbook name.

    - `sgd`: `keras.optimizers.SGD()`; `w -= lr * g`.
    - `momentum`: `SGD(momentum=0.9)`; `v = m * v + lr * g; w -= v`.
    - `nesterov`: `SGD(momentum=0.9, nesterov=True)`; the gradient is taken at
      the look-ahead point `w - m * v` (1).
    - `adagrad`: `Adagrad(initial_accumulator_value=0.0)`;
      `G += g**2; w -= lr * g / sqrt(G + eps)`.
    - `rmsprop`: `RMSprop()` (`rho=0.9`);
      `G = rho * G + (1 - rho) * g**2; w -= lr * g / sqrt(G + eps)`.
    - `adam`: `Adam()`; bias-corrected moments (2).
    - `amsgrad`: `Adam(amsgrad=True)`; Adam with `v_max = max(v_max, v)` (3).
    - `nadam`: `kzoo.optimizers.NAdam()` (`momentum_decay=0.004`); the
      published NAdam.
    - `adamw`: `AdamW()` (`weight_decay=0.004`); Adam plus the decoupled
      decay `w -= lr * weight_decay * w`.

    (1) Keras stores the look-ahead parameters `w - m*v` in the variable
    (Sutskever et al.'s reformulation); the iterates are the textbook ones,
    shifted. (2) Keras adds `epsilon` to `sqrt(v)` before bias correction
    (the "epsilon hat" of Kingma and Ba, Section 2), which differs from
    Algorithm 1 only in how `epsilon` scales. (3) As in Keras and PyTorch, the
    bias corrections of Adam are kept.

    Keyword arguments override these defaults and are passed to the class.
    Numeric hyperparameters are checked, which Keras does not do: the learning
    rate must be >= 0; `momentum`, `beta_1`, `beta_2`, `rho` must lie in
    [0, 1); `epsilon`, `weight_decay`, `initial_accumulator_value`,
    `momentum_decay` must be >= 0.

    Args:
        name: one of `sgd`, `momentum`, `nesterov`, `adagrad`, `rmsprop`,
            `adam`, `amsgrad`, `nadam`, `adamw` (case-insensitive).
        **kwargs: constructor arguments of the optimizer class, e.g.
            `learning_rate=0.1` or a
            `keras.optimizers.schedules.LearningRateSchedule`.

    Returns:
        A new, unbuilt `keras.optimizers.Optimizer`, usable in
        `model.compile` and saved with its state in `.keras` files.

    Raises:
        ValueError: for an unknown name or an invalid hyperparameter.

    Examples:
        >>> optimizer = kzoo.optimizers.get("nesterov", learning_rate=0.1)
        >>> model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(
            f"Argument `name` must be one of {list(OPTIMIZERS)}. Received: name={name!r}"
        )
    cls, defaults = OPTIMIZERS[key]
    config = {**defaults, **kwargs}
    if "learning_rate" in config:
        check_learning_rate(config["learning_rate"])
    for arg in _UNIT_INTERVAL:
        if arg in config:
            check_unit_interval(config[arg], arg)
    for arg in _NON_NEGATIVE:
        if arg in config:
            check_non_negative(config[arg], arg)
    if cls is keras.optimizers.SGD and "momentum" in config:
        # Keras's SGD insists on a Python float.
        config["momentum"] = float(config["momentum"])
    return cls(**config)
