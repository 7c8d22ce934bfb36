"""The affine (fully connected) layer: O = XW + b over the last axis."""

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.kernel_bias import KernelBiasLayer


@kzoo_export("kzoo.layers.Affine")
class Affine(KernelBiasLayer):
    """Affine map over the last axis: `outputs = activation(inputs @ kernel + bias)`.

    The weights `kernel` (input_dim, units) and `bias` (units,) are those of
    `keras.layers.Dense`, in the same order, so weights move between the two
    with `set_weights(dense.get_weights())`.

    Args:
        units: positive int, the output dimension.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add the bias `b`. Defaults to `True`.
        kernel_initializer: initializer of the kernel. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of the kernel.
        bias_regularizer: optional regularizer of the bias.
        activity_regularizer: optional regularizer of the output.
        kernel_constraint: optional constraint on the kernel.
        bias_constraint: optional constraint on the bias.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        N-D tensor `(batch, ..., input_dim)`, N ≥ 2.

    Output shape:
        N-D tensor `(batch, ..., units)`.

    Examples:
        >>> x = np.random.rand(4, 800).astype("float32")
        >>> kzoo.layers.Affine(500, activation="relu")(x).shape
        TensorShape([4, 500])
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )
        self.units = args.positive_int(units, "units")
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2 or shape[-1] is None:
            raise ValueError(
                f"Layer Affine ({self.name!r}) expects inputs of rank >= 2 with a known "
                f"last axis. Received: input_shape={shape}"
            )
        input_dim = shape[-1]
        self.add_kernel_and_bias((input_dim, self.units), self.units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        return self.add_bias_and_activation(ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
