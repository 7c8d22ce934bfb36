"""Squeeze-and-excitation: channels rescaled by a gate computed from their means."""

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.conv2d import conv2d_im2col


@kzoo_export("kzoo.layers.SqueezeExcite")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excitation block: inputs times a per-channel gate.

    Squeeze: the global average over height and width, (B, 1, 1, C).
    Excite: a 1×1 convolution to `filters_se` channels with a bias, then
    `activation`, a 1×1 convolution back to C channels with a bias, then
    `gate_activation`. The output is the input times the gate, broadcast over
    height and width.

    The weights are the two convolutions' `get_weights()` in order:
    `reduce_kernel` (1, 1, C, filters_se), `reduce_bias` (filters_se,),
    `expand_kernel` (1, 1, filters_se, C), `expand_bias` (C,). So
    `keras.applications` weights load with
    `se.set_weights(reduce_conv.get_weights() + expand_conv.get_weights())`
    from its two `Conv2D` layers:

    - EfficientNet block `{name}`: `{name}se_reduce` and `{name}se_expand`,
      with `filters_se = max(1, int(filters_in * se_ratio))` (`filters_in` the
      block's input channels, before the expansion), `activation="swish"`,
      `gate_activation="sigmoid"`;
    - MobileNetV3 block `{prefix}`: `{prefix}squeeze_excite_conv` and
      `{prefix}squeeze_excite_conv_1`, with
      `filters_se = _depth(filters * se_ratio)` (rounded to a multiple of 8),
      `activation="relu"`, `gate_activation="hard_sigmoid"` (Keras's
      `relu6(x + 3) / 6`, which the application writes as
      `ReLU(6)(x + 3) * (1 / 6)`).

    With `implementation="im2col"` the 1×1 convolutions run through
    `kzoo.layers.Conv2D`'s Im2Col op (here one matrix multiply each); with
    `"native"` the framework's convolution runs. Both give the same result.

    Args:
        filters_se: int, the channels of the squeezed (reduced) representation.
        activation: activation after the reducing convolution. Defaults to
            `"relu"`.
        gate_activation: activation of the gate. Defaults to `"sigmoid"`.
        kernel_initializer: initializer of both kernels. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of both biases. Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of both kernels.
        bias_regularizer: optional regularizer of both biases.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        The input's shape.

    Reference:
        Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.

    Examples:
        >>> x = np.random.rand(2, 9, 9, 16).astype("float32")
        >>> se = kzoo.layers.SqueezeExcite(4, gate_activation="hard_sigmoid")
        >>> se(x).shape
        TensorShape([2, 9, 9, 16])
    """

    def __init__(
        self,
        filters_se,
        *,
        activation="relu",
        gate_activation="sigmoid",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        implementation="native",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters_se = args.positive_int(filters_se, "filters_se")
        self.activation = args.keras_object(keras.activations.get, activation, "activation", self)
        self.gate_activation = args.keras_object(
            keras.activations.get, gate_activation, "gate_activation", self
        )
        for name, getter, value in (
            ("kernel_initializer", keras.initializers.get, kernel_initializer),
            ("bias_initializer", keras.initializers.get, bias_initializer),
            ("kernel_regularizer", keras.regularizers.get, kernel_regularizer),
            ("bias_regularizer", keras.regularizers.get, bias_regularizer),
        ):
            setattr(self, name, args.keras_object(getter, value, name, self))
        self.implementation = args.choice(implementation, "implementation", args.IMPLEMENTATIONS)

    def _add_conv_weights(self, prefix, channels_in, channels_out):
        kernel = self.add_weight(
            name=f"{prefix}_kernel",
            shape=(1, 1, channels_in, channels_out),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        bias = self.add_weight(
            name=f"{prefix}_bias",
            shape=(channels_out,),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
        )
        return kernel, bias

    def build(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        channels = shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer SqueezeExcite ({self.name!r}) needs a known channel count (last "
                f"axis). Received: input_shape={shape}"
            )
        self.reduce_kernel, self.reduce_bias = self._add_conv_weights(
            "reduce", channels, self.filters_se
        )
        self.expand_kernel, self.expand_bias = self._add_conv_weights(
            "expand", self.filters_se, channels
        )
        self.built = True

    def _conv1x1(self, x, kernel, bias):
        if self.implementation == "native":
            y = ops.conv(x, kernel, padding="valid", data_format="channels_last")
        else:
            y = conv2d_im2col(x, kernel)
        return ops.add(y, bias)

    def call(self, inputs):
        args.check_input(inputs.shape, self, channels=self.reduce_kernel.shape[2])
        squeezed = ops.mean(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
        hidden = self.activation(self._conv1x1(squeezed, self.reduce_kernel, self.reduce_bias))
        gate = self.gate_activation(self._conv1x1(hidden, self.expand_kernel, self.expand_bias))
        return ops.multiply(inputs, gate)

    def compute_output_shape(self, input_shape):
        return tuple(args.check_rank(input_shape, 4, self))

    def get_config(self):
        return {
            **super().get_config(),
            "filters_se": self.filters_se,
            "activation": keras.activations.serialize(self.activation),
            "gate_activation": keras.activations.serialize(self.gate_activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "implementation": self.implementation,
        }
