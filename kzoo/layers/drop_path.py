"""DropPath (stochastic depth): whole examples' residual branch dropped while training."""

import math
import numbers

import keras
from keras import ops

from kzoo.api_export import kzoo_export


@kzoo_export("kzoo.layers.DropPath")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drops a residual branch for whole examples while training.

    In training each example of the batch is kept with probability
    `1 - rate`, as one piece: its output is the input divided by `1 - rate`,
    or zeros for a dropped example. The expected output is the input. At
    inference (and when `rate` is 0) the layer is the identity. Put it on
    the residual branch, before the sum: `x + DropPath(rate)(branch(x))`
    keeps `x` and skips the branch for the dropped examples.

    This is timm's `drop_path` (per example, scaled by the keep
    probability) and keras.applications ConvNeXt's `StochasticDepth`, with
    the same output for the same random draw: an example is kept when its
    uniform draw `u` in [0, 1) has `floor(1 - rate + u) = 1`, i.e. `u >= rate`.

    Args:
        rate: float in [0, 1), the probability of dropping an example's
            branch.
        seed: optional int, the seed of the random draws.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        Any tensor of rank ≥ 1; the first axis is the batch.

    Output shape:
        The input's shape.

    Reference:
        Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.

    Examples:
        >>> x = np.ones((4, 2, 2, 3), "float32")
        >>> drop = kzoo.layers.DropPath(0.5, seed=1)
        >>> bool(np.all(drop(x) == x))  # inference: the identity
        True
        >>> y = drop(x, training=True)  # each example all 0 or all 1 / (1 - 0.5)
        >>> [float(np.unique(example)[0]) for example in y.numpy()]
        [2.0, 0.0, 2.0, 0.0]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, numbers.Real)
            or not math.isfinite(rate)
            or not 0 <= rate < 1
        ):
            raise ValueError(
                f"Argument `rate` must be a float in [0, 1). Received: rate={rate!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"Argument `seed` must be None or an int. Received: seed={seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed) if self.rate > 0 else None
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator)
        mask = ops.cast(ops.greater_equal(draw, self.rate), inputs.dtype)
        return ops.divide(inputs, ops.cast(keep, inputs.dtype)) * mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
