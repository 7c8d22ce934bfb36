"""The model registry: `register_model`, `list_models`, `create_model`, `model_info`.

A builder is registered once, with its metadata (family, default input shape,
minimum input size, paper, available weights); everything else in kzoo (the
CLI, tuning, tests) reaches models by name through this registry, as timm does.
"""

import dataclasses
import difflib
import fnmatch
import os
import warnings
from typing import Callable, Optional

__all__ = ["register_model", "list_models", "create_model", "model_info", "ModelEntry"]


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    builder: Callable
    family: str
    default_input_shape: tuple
    min_input_size: int
    reference: str = ""
    weights: tuple = ()
    defaults: dict = dataclasses.field(default_factory=dict)


_REGISTRY: dict = {}
_INFO_CACHE: dict = {}


def register_model(
    fn: Optional[Callable] = None,
    *,
    name: Optional[str] = None,
    family: Optional[str] = None,
    default_input_shape=(224, 224, 3),
    min_input_size: int = 32,
    reference: str = "",
    weights=(),
    defaults: Optional[dict] = None,
):
    """Registers a builder function under `name` (default: the function's name).

    Usable bare (`@register_model`) or with metadata
    (`@register_model(family="resnet", min_input_size=32)`). Registering a name
    twice warns and the newer builder wins.

    Example:

    >>> @kzoo.models.register_model(family="custom", default_input_shape=(28, 28, 1))
    ... def tiny_cnn(*, input_shape=None, classes=10, **kwargs):
    ...     ...
    >>> kzoo.create_model("tiny_cnn", classes=3)
    """

    def decorator(builder):
        key = name or builder.__name__
        if key in _REGISTRY:
            warnings.warn(
                f"Model name {key!r} is already registered; the new builder "
                f"{builder.__module__}.{builder.__qualname__} replaces it.",
                stacklevel=2,
            )
        _REGISTRY[key] = ModelEntry(
            name=key,
            builder=builder,
            family=family or builder.__module__.rsplit(".", 1)[-1],
            default_input_shape=tuple(default_input_shape),
            min_input_size=int(min_input_size),
            reference=reference,
            weights=tuple(weights),
            defaults=dict(defaults or {}),
        )
        _INFO_CACHE.pop(key, None)
        return builder

    if fn is not None:
        return decorator(fn)
    return decorator


def _ensure_builtin_models():
    # Importing the builder package registers every built-in family.
    import kzoo.models  # noqa: F401


def list_models(pattern: str = "*") -> list:
    """Sorted registered model names matching an fnmatch `pattern` (`"resnet*"`)."""
    _ensure_builtin_models()
    if not isinstance(pattern, str):
        raise ValueError(f"Argument `pattern` must be a string. Received: pattern={pattern!r}")
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; an unknown name raises listing the closest names."""
    _ensure_builtin_models()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.4)
        hint = f" Closest names: {', '.join(close)}." if close else ""
        raise ValueError(
            f"Unknown model name. Expected one of kzoo.list_models() ({len(_REGISTRY)} models)."
            f"{hint} Received: name={name!r}"
        )
    return _REGISTRY[name]


def create_model(name: str, **kwargs):
    """Builds the registered model `name` with keyword arguments for its builder.

    Example:

    >>> model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=10)
    """
    entry = get_entry(name)
    kwargs = {**entry.defaults, **kwargs}
    weights = kwargs.get("weights")
    if isinstance(weights, str) and not os.path.exists(weights):
        from kzoo import zoo

        if zoo.find_checkpoint(name, weights) is not None:
            # The zoo's own checkpoint (e.g. weights="fashion_mnist"): sha256-checked,
            # with its preprocessing in front.
            kwargs.pop("weights")
            return zoo.create_pretrained(name, weights, **kwargs)
    return entry.builder(**kwargs)


def zoo_weights(name):
    """Dataset names of the zoo's own checkpoints of `name` (`weights=` values)."""
    from kzoo import zoo

    return zoo.available_weights(name)


def model_info(name: str) -> dict:
    """Metadata of a registered model, with parameters and FLOPs at its defaults.

    FLOPs are counted as 2 × multiply-accumulates of the forward pass of one
    image (see `kzoo.models.flops.count_flops`). The first call builds the model.
    """
    entry = get_entry(name)
    if name not in _INFO_CACHE:
        from kzoo.models.flops import count_flops

        model = create_model(name)
        _INFO_CACHE[name] = {
            "params": int(model.count_params()),
            "flops": int(count_flops(model)),
        }
    return {
        "name": entry.name,
        "family": entry.family,
        **_INFO_CACHE[name],
        "default_input_shape": entry.default_input_shape,
        "min_input_size": entry.min_input_size,
        "reference": entry.reference,
        "weights": list(entry.weights) + zoo_weights(name),
    }
