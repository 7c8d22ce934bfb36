"""What the MobileNets share: ReLU6, channel rounding, padding, the pooling names."""

import keras

#: keras.applications leaves its global pooling layers unnamed: these are the names Keras
#: gives them in a fresh session.
KERAS_POOLING_NAMES = {"avg": "global_average_pooling2d", "max": "global_max_pooling2d"}


def relu6(x, name):
    """min(max(x, 0), 6), the activation of every MobileNet convolution."""
    return keras.layers.ReLU(6.0, name=name)(x)


def make_divisible(value, divisor=8, min_value=None):
    """`value` rounded to the nearest multiple of `divisor`, never more than 10% below it.

    keras.applications' (and TensorFlow's models') `_make_divisible`, which
    sets the channel counts of MobileNet V2 at every `alpha`.

    Examples:
        >>> make_divisible(32 * 0.35), make_divisible(1280 * 1.3)
        (16, 1664)
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def correct_pad(x, kernel_size):
    """((top, bottom), (left, right)) zero padding before a stride-2 "valid" convolution.

    keras.applications' `imagenet_utils.correct_pad`: one pixel less at the
    top and left of an even (or unknown) size, which is TensorFlow's "same"
    padding for stride 2.
    """
    height, width = x.shape[1], x.shape[2]
    adjust = (1, 1) if height is None else (1 - height % 2, 1 - width % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def check_dropout(dropout, name="dropout"):
    """A dropout rate in [0, 1) (the argument `name`, for the message)."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
        0 <= dropout < 1
    ):
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1). Received: {name}={dropout!r}"
        )
    return dropout
