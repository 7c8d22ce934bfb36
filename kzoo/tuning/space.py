"""Search spaces: a TOML file (or a preset) of hyperparameters → KerasTuner's.

A space is one table per hyperparameter, named as `kzoo train` names its
options (`learning_rate`, `weight_decay`, `optimizer`, `momentum` (for the
trials whose optimizer takes one), `batch_size`, `schedule`, `warmup_epochs`,
`augment`, `normalize`, `conv_impl`, `label_smoothing`, `ema`, `mixup`,
`cutmix`, and `model` as
a choice of registered names) or as the builder names its arguments
(`dropout`, `width`, `activation`, `hidden_units`, ...), each with a type:

```toml
[learning_rate]
type = "log_uniform"     # log_uniform (min, max) | uniform (min, max)
min = 1e-5               # | int (min, max) | choice (values)
max = 1e-1

[optimizer]
type = "choice"
values = ["sgd", "momentum", "adam"]
```

`step` is optional for the numeric types (for `log_uniform`, a factor > 1):
grid search then walks those points instead of ten evenly spaced ones.
Every problem of a space (an unknown name, an empty range, `min <= 0` on a
log range, a value the trainer refuses) is reported at once, in one
`ValueError`, before any trial runs.
"""

import dataclasses
import inspect
import math
import numbers
import os
import tomllib
from typing import Optional

from kzoo.models import registry
from kzoo.training.config import TrainConfig

TYPES = ("log_uniform", "uniform", "int", "choice")

#: `kzoo train` options a space may search. `dataset`, `epochs` (set by the
#: stages), `validation_size`, `seed`, `tta` (evaluation only) and
#: `model_kwargs` are not searchable.
CONFIG_PARAMETERS = ("model", "learning_rate", "weight_decay", "optimizer", "momentum",
                     "batch_size", "schedule", "warmup_epochs", "augment", "normalize",
                     "conv_impl", "label_smoothing", "ema", "mixup", "cutmix")
#: Builder arguments the trainer sets itself.
_FIXED_BUILDER_ARGUMENTS = ("include_top", "weights", "input_tensor", "input_shape", "classes",
                            "classifier_activation", "pooling", "name", "conv_impl")
#: Where the preset spaces live (one per model family): `tuning/spaces/`.
SPACES_DIR = os.path.join(os.path.dirname(__file__), "spaces")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One searched hyperparameter: `name`, `type` and its range or values."""

    name: str
    type: str
    min: Optional[float] = None
    max: Optional[float] = None
    values: Optional[tuple] = None
    step: Optional[float] = None

    @property
    def is_log(self):
        return self.type == "log_uniform"

    def to_dict(self):
        out = {"type": self.type}
        if self.type == "choice":
            out["values"] = list(self.values)
        else:
            out["min"], out["max"] = self.min, self.max
            if self.step is not None:
                out["step"] = self.step
        return out

    def declare(self, hp):
        """Registers this parameter in a `keras_tuner.HyperParameters`; returns its value."""
        if self.type == "choice":
            return hp.Choice(self.name, list(self.values))
        if self.type == "int":
            return hp.Int(self.name, int(self.min), int(self.max),
                          step=int(self.step) if self.step else 1)
        return hp.Float(self.name, float(self.min), float(self.max), step=self.step,
                        sampling="log" if self.is_log else "linear")


@dataclasses.dataclass(frozen=True)
class Space:
    """An ordered set of `Parameter`s, checked against the model(s) it tunes."""

    parameters: tuple
    source: str = ""

    @property
    def names(self):
        return [p.name for p in self.parameters]

    def __getitem__(self, name):
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self):
        return {p.name: p.to_dict() for p in self.parameters}

    def declare(self, hp):
        """Every parameter into `hp`; returns `{name: value}`."""
        return {p.name: p.declare(hp) for p in self.parameters}


def list_spaces():
    """The preset space names (`tuning/spaces/*.toml`)."""
    if not os.path.isdir(SPACES_DIR):
        return []
    return sorted(f[:-5] for f in os.listdir(SPACES_DIR) if f.endswith(".toml"))


def load_space(space, model):
    """The checked `Space` of `space` for `model`.

    Args:
        space: a preset name (`list_spaces()`: one per model family; a model
            name means its family's), the path to a TOML file, a dict
            `{name: {"type": ..., ...}}`, or a `Space`.
        model: the registered model name the search trains (the space may
            also choose among models with a `model` entry).

    Returns:
        A `Space`.

    Raises:
        ValueError: listing every problem of the space at once.

    Examples:
        >>> space = kzoo.tuning.load_space("lenet", "lenet")
        >>> space.names
        ['learning_rate', 'weight_decay', 'optimizer', 'batch_size', 'schedule']
    """
    if isinstance(space, Space):
        table, source = space.to_dict(), space.source
    elif isinstance(space, dict):
        table, source = space, "dict"
    elif isinstance(space, (str, os.PathLike)):
        table, source = _read(os.fspath(space))
    else:
        raise ValueError(f"Argument `space` must be a preset name, a TOML file, a dict or a "
                         f"kzoo.tuning.Space. Received: space={space!r}")
    return parse(table, model, source=source)


def _read(space):
    if space in registry.list_models() and not os.path.isfile(space):
        space = registry.get_entry(space).family  # a model name: its family's preset
    if os.path.isfile(space):
        path = space
    elif os.sep not in space and not space.endswith(".toml") and space in list_spaces():
        path = os.path.join(SPACES_DIR, space + ".toml")
    else:
        raise ValueError(f"Argument `space` must be a preset ({', '.join(list_spaces())}) or "
                         f"an existing TOML file. Received: space={space!r} (no such preset "
                         f"or file)")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f), path
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"Argument `space`: {path} is not valid TOML ({e}). "
                         f"Received: space={space!r}") from None
    except UnicodeDecodeError as e:  # UTF-16, or not text at all
        raise ValueError(f"Argument `space`: {path} is not a TOML text file (TOML is UTF-8; "
                         f"this file is binary or in another encoding, e.g. UTF-16: {e}). "
                         f"Received: space={space!r}") from None


def searchable(model):
    """The names a space for `model` may hold: `kzoo train` options and builder arguments."""
    return list(CONFIG_PARAMETERS) + builder_arguments(model)


def builder_arguments(model):
    entry = registry.get_entry(model, argument="model")
    return [n for n, p in inspect.signature(entry.builder).parameters.items()
            if n not in _FIXED_BUILDER_ARGUMENTS and p.kind is not p.VAR_KEYWORD]


def parse(table, model, *, source=""):
    """Checks a `{name: {type, min, max | values, step}}` table; returns a `Space`."""
    if not isinstance(table, dict) or not table:
        raise ValueError(f"Argument `space` must hold at least one hyperparameter table. "
                         f"Received: {source or table!r}")
    models = [model]
    if isinstance(table.get("model"), dict) and table["model"].get("type") == "choice":
        models = [m for m in table["model"].get("values", []) if isinstance(m, str)] or models
    problems, parameters = [], []
    for m in models:
        if m not in registry.list_models():
            problems.append(f"model: {m!r} is not a registered model")
    registered = [m for m in models if m in registry.list_models()]
    # A builder argument must be one of every model the space may choose.
    known = set(CONFIG_PARAMETERS) | (set.intersection(
        *(set(builder_arguments(m)) for m in registered)) if registered else set())
    for name, entry in table.items():
        try:
            parameters.append(_parameter(name, entry, known, model))
        except ValueError as e:
            problems.append(str(e))
    problems += _check_values(parameters, registered)
    if problems:
        raise ValueError(
            f"Argument `space` ({source or 'dict'}) has {len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}: " + "; ".join(problems)
            + f". Searchable for {model!r}: {sorted(known)}")
    return Space(tuple(parameters), source=source)


def _parameter(name, entry, known, model):
    if name not in known:
        raise ValueError(f"{name}: not an option of `kzoo train` nor an argument of the "
                         f"{model!r} builder")
    if not isinstance(entry, dict):
        raise ValueError(f"{name}: expected a table with `type`, got {entry!r}")
    kind = entry.get("type")
    if kind not in TYPES:
        raise ValueError(f"{name}: `type` must be one of {list(TYPES)}, got {kind!r}")
    allowed = {"type", "values"} if kind == "choice" else {"type", "min", "max", "step"}
    extra = sorted(set(entry) - allowed)
    if extra:
        raise ValueError(f"{name}: unknown keys {extra} for type {kind!r} "
                         f"(expected {sorted(allowed)})")
    if kind == "choice":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{name}: `values` must be a non-empty list, got {values!r}")
        if len(set(map(repr, values))) < len(values):
            raise ValueError(f"{name}: `values` repeats a value: {values!r}")
        if not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise ValueError(f"{name}: choice values must be strings, numbers or booleans "
                             f"(KerasTuner's Choice), got {values!r}")
        return Parameter(name, kind, values=tuple(values))
    lo, hi, step = entry.get("min"), entry.get("max"), entry.get("step")
    for key, value in (("min", lo), ("max", hi)):
        if not _is_number(value):
            raise ValueError(f"{name}: `{key}` must be a finite number, got {value!r}")
    if kind == "int" and not all(float(v).is_integer() for v in (lo, hi)):
        raise ValueError(f"{name}: `min` and `max` of an int range must be integers, "
                         f"got {lo!r}, {hi!r}")
    if not lo < hi:
        raise ValueError(f"{name}: empty range, `min` ({lo!r}) must be below `max` ({hi!r})")
    if kind == "log_uniform" and lo <= 0:
        raise ValueError(f"{name}: a log range needs `min` > 0, got min={lo!r}")
    if step is not None:
        if not _is_number(step) or step <= 0 or (kind == "log_uniform" and step <= 1):
            raise ValueError(f"{name}: `step` must be a number > 0 (> 1, a factor, for "
                             f"log_uniform), got {step!r}")
    if kind == "int":
        lo, hi = int(lo), int(hi)
    return Parameter(name, kind, min=lo, max=hi, step=step)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(
        value)


def _check_values(parameters, models):
    """The trainer's own checks on the range ends and every choice (one problem each)."""
    problems = []
    for p in parameters:
        if p.name == "model":
            continue
        candidates = list(p.values) if p.type == "choice" else [p.min, p.max]
        for value in candidates:
            for model in models:
                config_fields, builder = ({p.name: value}, {}) if p.name in CONFIG_PARAMETERS \
                    else ({}, {p.name: value})
                if p.name == "momentum":  # checked with an optimizer that takes one
                    config_fields["optimizer"] = "momentum"
                try:
                    TrainConfig(model, "digits", model_kwargs=builder, **config_fields).check()
                except ValueError as e:
                    problems.append(f"{p.name}: {value!r} is refused: {e}")
                    break
    return problems
