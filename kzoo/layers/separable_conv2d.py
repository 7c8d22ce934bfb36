"""Depthwise separable 2D convolution: a depthwise convolution, then a 1×1 one."""

from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.depthwise_conv2d import DepthwiseLayer


@kzoo_export("kzoo.layers.SeparableConv2D")
class SeparableConv2D(DepthwiseLayer):
    """Depthwise separable 2D convolution, natively or from Im2Col's windows.

    A depthwise convolution (each input channel by its own
    `depth_multiplier` filters) followed by a pointwise 1×1 convolution that
    mixes the channels into `filters` outputs, as
    `keras.layers.SeparableConv2D` computes it. The weights
    `depthwise_kernel` (kh, kw, C_in, depth_multiplier), `pointwise_kernel`
    (1, 1, C_in * depth_multiplier, filters) and `bias` (filters,) have that
    layer's names, layout and order, so
    `layer.set_weights(keras_layer.get_weights())` moves weights between them.
    With `implementation="im2col"` the depthwise step is
    `kzoo.layers.DepthwiseConv2D`'s Im2Col path and the pointwise step one
    matrix multiply; with `"native"` the framework's separable convolution
    runs. Both give the same result.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or pair, the depthwise window height and width.
        strides: int or pair. Defaults to 1.
        padding: `"valid"` or `"same"` (TensorFlow's rule). Defaults to
            `"valid"`.
        depth_multiplier: int, the depthwise output channels per input
            channel. Defaults to 1.
        dilation_rate: int or pair. Defaults to 1. May exceed 1 together with
            `strides`.
        activation: activation name or callable applied to the output.
        use_bias: whether to add a bias. Defaults to `True`.
        depthwise_initializer: initializer of the depthwise kernel. Defaults
            to `"glorot_uniform"`.
        pointwise_initializer: initializer of the pointwise kernel. Defaults
            to `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        depthwise_regularizer: optional regularizer of the depthwise kernel.
        pointwise_regularizer: optional regularizer of the pointwise kernel.
        bias_regularizer: optional regularizer of the bias.
        activity_regularizer: optional regularizer of the output.
        depthwise_constraint: optional constraint on the depthwise kernel.
        pointwise_constraint: optional constraint on the pointwise kernel.
        bias_constraint: optional constraint on the bias.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, filters)`.

    Examples:
        >>> x = np.random.rand(2, 9, 9, 3).astype("float32")
        >>> conv = kzoo.layers.SeparableConv2D(8, 3, padding="same", implementation="im2col")
        >>> conv(x).shape
        TensorShape([2, 9, 9, 8])
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        implementation="native",
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            activity_regularizer=activity_regularizer, implementation=implementation,
            weight_options={
                "depthwise_initializer": depthwise_initializer,
                "pointwise_initializer": pointwise_initializer,
                "bias_initializer": bias_initializer,
                "depthwise_regularizer": depthwise_regularizer,
                "pointwise_regularizer": pointwise_regularizer,
                "bias_regularizer": bias_regularizer,
                "depthwise_constraint": depthwise_constraint,
                "pointwise_constraint": pointwise_constraint,
                "bias_constraint": bias_constraint,
            },
            **kwargs,
        )
        self.filters = args.positive_int(filters, "filters")

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        self.depthwise_kernel = self.add_option_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier), "depthwise"
        )
        self.pointwise_kernel = self.add_option_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
            "pointwise",
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_option_weight("bias", (self.filters,), "bias")
        self.built = True

    def call(self, inputs):
        args.check_input(inputs.shape, self, channels=self.depthwise_kernel.shape[2])
        if self.implementation == "native":
            outputs = ops.separable_conv(
                inputs,
                self.depthwise_kernel,
                self.pointwise_kernel,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format="channels_last",
            )
        else:
            hidden = self.depthwise(inputs, self.depthwise_kernel)  # (B, H', W', C·M)
            # The pointwise 1×1 convolution: (B, H', W', C·M) @ (C·M, filters).
            matrix = ops.reshape(self.pointwise_kernel, (-1, self.filters))
            outputs = ops.tensordot(hidden, matrix, axes=1)
        return self.add_bias_and_activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*self.spatial_output_shape(input_shape), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
