"""Argument checks shared by kzoo layers: clear `ValueError`s, never asserts."""

import numbers

PADDINGS = ("valid", "same")
IMPLEMENTATIONS = ("native", "im2col")


def positive_int_tuple(value, name, n=2):
    """Normalizes an int or an n-sequence of positive ints to a tuple.

    Raises:
        ValueError: naming `name` when `value` is not positive integers.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        values = tuple(int(v) for v in value)
    else:
        raise ValueError(
            f"Argument `{name}` must be a positive int or a tuple of {n} positive ints. "
            f"Received: {name}={value!r}"
        )
    if any(v <= 0 for v in values):
        raise ValueError(
            f"Argument `{name}` must be positive. Received: {name}={value!r}"
        )
    return values


def positive_int(value, name):
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)) or value <= 0:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def choice(value, name, options):
    """Lower-cases a string option and checks it is one of `options`."""
    normalized = value.lower() if isinstance(value, str) else value
    if normalized not in options:
        raise ValueError(
            f"Argument `{name}` must be one of {list(options)}. Received: {name}={value!r}"
        )
    return normalized


def check_input(shape, layer, channels=None):
    """Call-time check of a 4D input: its rank and, once built, its channel count."""
    shape = check_rank(shape, 4, layer)
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(
            f"Layer {layer.__class__.__name__} ({layer.name!r}) was built for inputs with "
            f"{channels} channels (last axis). Received: input_shape={shape}"
        )
    return shape


def check_rank(shape, rank, layer, what="inputs"):
    """Raises when `shape` (a TensorShape, tuple or list) is not of `rank`."""
    shape = tuple(shape)
    if len(shape) != rank:
        raise ValueError(
            f"Layer {layer.__class__.__name__} ({layer.name!r}) expects {what} of rank "
            f"{rank}, (batch, height, width, channels). Received: input_shape={shape}"
        )
    return shape


def channel_axis(axis, rank, layer):
    """`axis` (negative counts from the end) as a non-batch axis of a rank-`rank` input."""
    positive = axis + rank if axis < 0 else axis
    if not 0 < positive < rank:
        raise ValueError(
            f"Layer {layer.__class__.__name__} ({layer.name!r}): `axis` must name a non-batch "
            f"axis of the rank-{rank} input. Received: axis={axis}"
        )
    return positive


def keras_object(getter, value, name, layer):
    """`getter(value)` (e.g. `keras.activations.get`), its failure a `ValueError` naming `name`."""
    try:
        return getter(value)
    except (ValueError, TypeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"Argument `{name}` of layer {layer.__class__.__name__} ({layer.name!r}) could not "
            f"be interpreted ({reason}). Received: {name}={value!r}"
        ) from None
