"""What the MobileNets share: ReLU6, channel rounding, the pooling names.

The padding rule and the argument checks are `kzoo.models.common`'s (EfficientNet shares them).
"""

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
