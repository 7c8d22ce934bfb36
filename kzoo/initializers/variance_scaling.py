"""Variance-scaling initializers that Keras does not provide exactly.

Keras's `GlorotUniform`, `HeUniform` and `LecunUniform` draw exactly the
published uniform distributions, so kzoo re-exports them. Keras's
`GlorotNormal`, `HeNormal` and `LecunNormal` draw from a *truncated* normal
(cut at two standard deviations, then rescaled to the target variance); the
papers draw from a plain Gaussian `N(0, sigma**2)`, so kzoo's normal variants
use Keras's `VarianceScaling(distribution="untruncated_normal")`.
"""

import keras

from kzoo.api_export import kzoo_export
from kzoo.initializers.gains import calculate_gain

__all__ = ["GlorotNormal", "HeNormal", "LecunNormal", "FanInUniform", "GainScaling"]


class _FixedVarianceScaling(keras.initializers.VarianceScaling):
    """A `VarianceScaling` whose scale, mode and distribution are fixed."""

    _scale = 1.0
    _mode = "fan_in"
    _distribution = "untruncated_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(
            scale=self._scale,
            mode=self._mode,
            distribution=self._distribution,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {
            "seed": keras.saving.serialize_keras_object(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


@kzoo_export("kzoo.initializers.GlorotNormal")
class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal initializer: `N(0, 2 / (fan_in + fan_out))`.

    Unlike `keras.initializers.GlorotNormal`, which samples a truncated normal,
    this draws from the untruncated Gaussian of the paper.

    Args:
        seed: an integer (the same seed gives the same values on every call)
            or a `keras.random.SeedGenerator`.
        input_axes: optional axes of the kernel counted as inputs, as in
            `keras.initializers.VarianceScaling`.
        output_axes: optional axes of the kernel counted as outputs.

    Reference:

    - [Glorot and Bengio, 2010](https://proceedings.mlr.press/v9/glorot10a.html)

    Examples:
        >>> init = kzoo.initializers.GlorotNormal(seed=0)
        >>> layer = keras.layers.Dense(3, kernel_initializer=init)
    """

    _scale = 1.0
    _mode = "fan_avg"


@kzoo_export("kzoo.initializers.HeNormal")
class HeNormal(_FixedVarianceScaling):
    """He (Kaiming) normal initializer: `N(0, 2 / fan_in)`.

    Unlike `keras.initializers.HeNormal`, which samples a truncated normal,
    this draws from the untruncated Gaussian of the paper.

    Args:
        seed: an integer (the same seed gives the same values on every call)
            or a `keras.random.SeedGenerator`.
        input_axes: optional axes of the kernel counted as inputs.
        output_axes: optional axes of the kernel counted as outputs.

    Reference:

    - [He et al., 2015](https://arxiv.org/abs/1502.01852)

    Examples:
        >>> init = kzoo.initializers.HeNormal(seed=0)
        >>> layer = keras.layers.Conv2D(16, 3, kernel_initializer=init)
    """

    _scale = 2.0
    _mode = "fan_in"


@kzoo_export("kzoo.initializers.LecunNormal")
class LecunNormal(_FixedVarianceScaling):
    """LeCun normal initializer: `N(0, 1 / fan_in)`.

    Unlike `keras.initializers.LecunNormal`, which samples a truncated normal,
    this draws from the untruncated Gaussian.

    Args:
        seed: an integer (the same seed gives the same values on every call)
            or a `keras.random.SeedGenerator`.
        input_axes: optional axes of the kernel counted as inputs.
        output_axes: optional axes of the kernel counted as outputs.

    Reference:

    - [LeCun et al., 1998, "Efficient BackProp"](
        http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf)

    Examples:
        >>> init = kzoo.initializers.LecunNormal(seed=0)
        >>> layer = keras.layers.Dense(3, kernel_initializer=init)
    """

    _scale = 1.0
    _mode = "fan_in"


@kzoo_export("kzoo.initializers.FanInUniform")
class FanInUniform(_FixedVarianceScaling):
    """Uniform initializer on `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`.

    The classic rule "initialize the rows of W at random in
    [-1/sqrt(n), 1/sqrt(n)]", with `n = fan_in`; pair it with zero biases
    (`bias_initializer="zeros"`, the Keras default). A uniform variable on
    `[-a, a]` has variance `a**2 / 3`, so this is Keras's
    `VarianceScaling(scale=1/3, mode="fan_in", distribution="uniform")`.

    Args:
        seed: an integer (the same seed gives the same values on every call)
            or a `keras.random.SeedGenerator`.
        input_axes: optional axes of the kernel counted as inputs.
        output_axes: optional axes of the kernel counted as outputs.

    Reference:

    - [LeCun et al., 1998, "Efficient BackProp"](
        http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf)

    Examples:
        >>> init = kzoo.initializers.FanInUniform(seed=0)
        >>> layer = keras.layers.Dense(3, kernel_initializer=init, bias_initializer="zeros")
    """

    _scale = 1.0 / 3.0
    _mode = "fan_in"
    _distribution = "uniform"


@kzoo_export("kzoo.initializers.GainScaling")
class GainScaling(keras.initializers.VarianceScaling):
    """Variance scaling by `gain**2`, the gain taken from a nonlinearity.

    Draws weights with variance `gain**2 / fan`, where
    `gain = kzoo.initializers.calculate_gain(nonlinearity, param)` and `fan`
    is chosen by `mode`. With `mode="fan_in"` and `"relu"` this is He
    initialization; with `"linear"` it is LeCun's; with `mode="fan_avg"` it
    is Glorot's scaled by the gain.

    Args:
        nonlinearity: a name accepted by `kzoo.initializers.calculate_gain`.
        param: negative slope for `"leaky_relu"` (default `0.01`).
        mode: `"fan_in"`, `"fan_out"` or `"fan_avg"`.
        distribution: `"normal"` (an untruncated Gaussian),
            `"truncated_normal"` (Keras's, rescaled to the same variance) or
            `"uniform"`.
        seed: an integer (the same seed gives the same values on every call)
            or a `keras.random.SeedGenerator`.
        input_axes: optional axes of the kernel counted as inputs.
        output_axes: optional axes of the kernel counted as outputs.

    Reference:

    - [He et al., 2015](https://arxiv.org/abs/1502.01852)

    Examples:
        >>> init = kzoo.initializers.GainScaling("tanh", seed=0)
        >>> layer = keras.layers.Dense(64, activation="tanh", kernel_initializer=init)
    """

    def __init__(
        self,
        nonlinearity="linear",
        param=None,
        mode="fan_in",
        distribution="normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        gain = calculate_gain(nonlinearity, param)
        distributions = ("normal", "untruncated_normal", "truncated_normal", "uniform")
        normalized = distribution.lower() if isinstance(distribution, str) else distribution
        if normalized not in distributions:
            raise ValueError(
                f"Argument `distribution` must be one of {list(distributions)}. "
                f"Received: distribution={distribution!r}"
            )
        modes = ("fan_in", "fan_out", "fan_avg")
        if (mode.lower() if isinstance(mode, str) else mode) not in modes:
            raise ValueError(
                f"Argument `mode` must be one of {list(modes)}. Received: mode={mode!r}"
            )
        super().__init__(
            scale=gain**2,
            mode=mode,
            distribution="untruncated_normal" if normalized == "normal" else normalized,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )
        self.nonlinearity = nonlinearity
        self.param = param
        self.gain = gain

    def get_config(self):
        return {
            "nonlinearity": self.nonlinearity,
            "param": self.param,
            "mode": self.mode,
            "distribution": "normal"
            if self.distribution == "untruncated_normal"
            else self.distribution,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }
