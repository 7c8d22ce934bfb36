"""The model registry: `register_model`, `list_models`, `create_model`, `model_info`.

A builder is registered once, with its metadata (family, default input shape,
minimum input size, paper, available weights, the published ImageNet top-1 of
its `"imagenet"` weights); everything else in kzoo (the
CLI, tuning, tests) reaches models by name through this registry, as timm does.
"""

import dataclasses
import difflib
import fnmatch
import inspect
import warnings
from typing import Callable, Optional

import keras

from kzoo.models import pretrained
from kzoo.models import weights as weight_files

__all__ = ["register_model", "unregister_model", "list_models", "create_model", "model_info", "ModelEntry"]


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
    top1: Optional[float] = None


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
    top1: Optional[float] = None,
):
    """Registers a builder function under `name` (default: the function's name).

    Usable bare (`@register_model`) or with metadata
    (`@register_model(family="resnet", min_input_size=32)`). Registering a name
    twice warns and the newer builder wins. `top1` is the published ImageNet
    top-1 accuracy, in percent, of the model's `"imagenet"` weights
    (keras.applications' table), or `None`; `model_info` returns it as
    `"imagenet_top1"`.

    Examples:
        >>> @kzoo.models.register_model(family="custom", default_input_shape=(28, 28, 1))
        ... def tiny_cnn(*, input_shape=None, classes=10, **kwargs):
        ...     ...
        >>> kzoo.create_model("tiny_cnn", classes=3)
    """

    if top1 is not None and (isinstance(top1, bool) or not isinstance(top1, (int, float))
                             or not 0 < top1 <= 100):
        raise ValueError("Argument `top1` must be None or an accuracy in percent, in (0, 100]. "
                         f"Received: top1={top1!r}")

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
            top1=None if top1 is None else float(top1),
        )
        _INFO_CACHE.pop(key, None)
        return builder

    if fn is not None:
        return decorator(fn)
    return decorator


def unregister_model(name: str) -> None:
    """Removes a registered model name (e.g. a builder registered in a notebook or a test).

    Examples:
        >>> kzoo.models.unregister_model("tiny_cnn")
    """
    get_entry(name)  # an unknown name raises, listing the closest names
    _REGISTRY.pop(name)
    _INFO_CACHE.pop(name, None)


def list_models(pattern: str = "*") -> list:
    """Sorted registered model names matching an fnmatch `pattern` (`"resnet*"`)."""
    # Importing this module ran kzoo/models/__init__.py first, which registers every family.
    if not isinstance(pattern, str):
        raise ValueError(f"Argument `pattern` must be a string. Received: pattern={pattern!r}")
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str, *, argument: str = "name") -> ModelEntry:
    """The registry entry of `name`; an unknown name raises listing the closest names.

    `argument` is the caller's name for the value, used in the message (e.g.
    `"model"` for `TrainConfig.model`).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.4)
        hint = f" Closest names: {', '.join(close)}." if close else ""
        raise ValueError(
            f"Unknown model name: argument `{argument}` must be one of kzoo.list_models() "
            f"({len(_REGISTRY)} models).{hint} Received: {argument}={name!r}"
        )
    return _REGISTRY[name]


def check_builder_kwargs(entry, kwargs):
    """Refuses keyword arguments `entry`'s builder does not take, naming them.

    A builder with `**kwargs` takes anything. Raises a `ValueError` (where
    calling the builder would raise a bare `TypeError`).
    """
    if "classifier_activation" in kwargs:
        try:
            keras.activations.get(kwargs["classifier_activation"])
        except (ValueError, TypeError):
            raise ValueError(
                f"Argument `classifier_activation` must be None, the name of a Keras "
                f"activation or a callable. Received: "
                f"classifier_activation={kwargs['classifier_activation']!r}") from None
    parameters = inspect.signature(entry.builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [key for key in kwargs if key not in parameters]
    if unknown:
        key = unknown[0]
        raise ValueError(
            f"Argument `{key}` is not an argument of model {entry.name!r}; it takes "
            f"{sorted(parameters)}. Received: {key}={kwargs[key]!r}"
        )


def create_model(model_name: str, /, **kwargs):
    """Builds the registered model `model_name` with keyword arguments for its builder.

    `weights=` is exactly one of: `None`; a name of the family's weight files
    (`"imagenet"`: keras.applications' files, URL and hash); a tag of one of
    the zoo's own checkpoints of this model (`"fashion_mnist"`, listed by
    `kzoo.model_info(model_name)["weights"]`; a tag always wins over a
    same-named path), built with the checkpoint's preprocessing in front (raw
    pixels 0-255 in); or the path to an existing `.h5`, `.weights.h5` or
    `.keras` file. The first parameter is positional-only, so `name=` is the
    keras.applications model name.

    Examples:
        >>> model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=10)
        >>> lenet = kzoo.create_model("lenet", weights="fashion_mnist", name="my_lenet")
    """
    entry = get_entry(model_name)
    check_builder_kwargs(entry, kwargs)
    kwargs = {**entry.defaults, **kwargs}
    weights = kwargs.get("weights")
    if isinstance(weights, str) and weights not in entry.weights:
        if pretrained.find(model_name, weights) is not None:
            # The zoo's own checkpoint (e.g. weights="fashion_mnist"): sha256-checked,
            # with its preprocessing in front.
            kwargs.pop("weights")
            return pretrained.build(model_name, weights, entry.builder, **kwargs)
        # Neither a weights name nor a zoo tag: it must be an existing weights file.
        weight_files.check_weights(
            weights, model_name=model_name, presets={}, include_top=False, classes=None,
            tags=list(entry.weights) + pretrained.tags(model_name))
    return entry.builder(**kwargs)


def model_info(name: str) -> dict:
    """Metadata of a registered model, with parameters and FLOPs at its defaults.

    FLOPs are counted as 2 × multiply-accumulates of the forward pass of one
    image (see `kzoo.models.flops.count_flops`). The first call builds the model.
    `"imagenet_top1"` is the published ImageNet top-1 accuracy (percent) of the
    model's `"imagenet"` weights, as keras.applications reports it, or `None`
    for a model without them.
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
        "weights": list(entry.weights) + pretrained.tags(name),
        "imagenet_top1": entry.top1,
    }
