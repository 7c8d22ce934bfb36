"""Local response normalization across channels (AlexNet, GoogLeNet)."""

import numbers

import keras
from keras import ops

from kzoo.api_export import kzoo_export


@kzoo_export("kzoo.layers.LocalResponseNorm")
class LocalResponseNorm(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012).

    `b_c = a_c / (k + alpha / size · Σ a_j²)^beta`, the sum over the `size`
    channels centred on c, as PyTorch's `LocalResponseNorm` (alpha divided by
    `size`) and AlexNet's paper with n = size.

    Args:
        size: number of neighbouring channels. Defaults to 5.
        alpha: scale. Defaults to 1e-4.
        beta: exponent. Defaults to 0.75.
        k: additive constant. Defaults to 2.0.
        **kwargs: base layer arguments.

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Examples:
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> kzoo.layers.LocalResponseNorm(size=5)(x).shape
        TensorShape([2, 8, 8, 16])
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"Argument `size` must be a positive int. Received: size={size!r}")
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not abs(value) < float("inf")):
                raise ValueError(f"Argument `{name}` must be a finite number. "
                                 f"Received: {name}={value!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        # float32 under mixed policies (float16 overflows the sum of squares).
        x = ops.cast(inputs, self.variable_dtype)
        radius = self.size // 2
        channels = x.shape[-1]
        squares = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[radius, radius]])
        # Σ a_j² over the `size` channels centred on c: a sum of shifted slices.
        window = sum(squares[..., i: i + channels] for i in range(self.size))
        out = x / ops.power(self.k + (self.alpha / self.size) * window, self.beta)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k}
