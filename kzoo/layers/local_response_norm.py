"""Local response normalization across channels (AlexNet, GoogLeNet)."""

import keras
import tensorflow as tf

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

    Example:

    >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
    >>> kzoo.layers.LocalResponseNorm(size=5)(x).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"Argument `size` must be a positive int. Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        # float32 under mixed policies (float16 overflows the sum of squares).
        x = tf.cast(inputs, self.variable_dtype)
        radius = self.size // 2
        # tf.nn.local_response_normalization uses alpha without the 1/size.
        out = tf.nn.local_response_normalization(
            x, depth_radius=radius, bias=self.k, alpha=self.alpha / self.size, beta=self.beta
        )
        return tf.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k}
