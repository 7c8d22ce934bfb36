"""Depthwise 2D convolution, natively or as Im2Col's windows reduced per channel."""

import keras
import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.im2col import (
    WindowGeometry,
    check_window_fits,
    scatter_windows,
    window_output_shape,
    window_slices,
    with_static_shape,
)


def depthwise_conv2d_im2col(x, kernel, strides=(1, 1), dilation_rate=(1, 1), padding="valid"):
    """Depthwise convolution as Im2Col's windows reduced per channel.

    y[..., c·M + m] = Σ_k patches[..., k, c] · kernel[k, c, m] over the kh·kw
    window offsets k: Im2Col's columns (B, H', W', kh·kw, C) times the kernel
    (kh·kw, C, M), summed over the window axis, in Keras's channel order
    c·M + m. The kh·kw offsets are read as plain slices (`window_slices`) and
    accumulated, so the (B, H', W', kh·kw·C) column matrix is never stored.
    The gradient is hand-written: the kernel gradient is Σ patches · dy per
    offset, the input gradient puts dy · kernel back where each offset was read
    (`scatter_windows`, col2im's adjoint of the slices).

    Args:
        x: (B, H, W, C), channels last.
        kernel: (kh, kw, C, M), `keras.layers.DepthwiseConv2D`'s layout.
        strides: pair of positive ints.
        dilation_rate: pair of positive ints; may exceed 1 together with strides.
        padding: `"valid"` or `"same"` (TensorFlow's rule).

    Returns:
        (B, H', W', C·M).
    """
    # Read variables as tensors: the gradient is taken w.r.t. these values.
    x, kernel = tf.convert_to_tensor(x), tf.convert_to_tensor(kernel)
    kh, kw, channels, multiplier = kernel.shape
    geometry = WindowGeometry(x, (kh, kw), strides, dilation_rate, padding)

    @tf.custom_gradient
    def _depthwise(x, kernel):
        taps = tf.reshape(kernel, (kh * kw, channels, multiplier))
        slices = window_slices(x, geometry)  # kh·kw of (B, H', W', C)
        y = tf.add_n([s[..., None] * taps[k] for k, s in enumerate(slices)])  # (B, H', W', C, M)

        def grad(dy):
            dy = tf.reshape(dy, tf.shape(y))  # (B, H', W', C, M)
            d_taps = tf.stack([
                tf.reduce_sum(s[..., None] * dy, axis=(0, 1, 2)) for s in slices
            ])  # (kh·kw, C, M)
            pieces = [tf.reduce_sum(dy * taps[k], axis=-1) for k in range(kh * kw)]
            return scatter_windows(pieces, geometry), tf.reshape(d_taps, tf.shape(kernel))

        return tf.reshape(y, tf.concat([tf.shape(y)[:3], [channels * multiplier]], 0)), grad

    return with_static_shape(
        _depthwise(x, kernel), x.shape[0], geometry.static_out(), channels * multiplier
    )


#: Keras's getter and serializer of each kind of weight option.
_OPTION_MODULES = {
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}


class DepthwiseLayer(keras.layers.Layer):
    """Base of `DepthwiseConv2D` and `SeparableConv2D`: the depthwise arguments.

    Checks and stores the window, `depth_multiplier`, activation, bias and
    `implementation` arguments and the `{prefix}_initializer`,
    `{prefix}_regularizer` and `{prefix}_constraint` options of each weight
    named in `weight_options`; `get_config` serializes them all back.
    Subclasses create their weights in `build` and call `self.depthwise(...)` and
    `add_bias_and_activation(...)` in `call`.
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        activity_regularizer=None,
        implementation="native",
        weight_options=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_size = args.positive_int_tuple(kernel_size, "kernel_size")
        self.strides = args.positive_int_tuple(strides, "strides")
        self.padding = args.choice(padding, "padding", args.PADDINGS)
        self.depth_multiplier = args.positive_int(depth_multiplier, "depth_multiplier")
        self.dilation_rate = args.positive_int_tuple(dilation_rate, "dilation_rate")
        self.activation = args.keras_object(keras.activations.get, activation, "activation", self)
        self.use_bias = bool(use_bias)
        self.implementation = args.choice(implementation, "implementation", args.IMPLEMENTATIONS)
        weight_options = weight_options or {}
        for name, value in weight_options.items():
            kind = name.rsplit("_", 1)[1]
            setattr(self, name, args.keras_object(_OPTION_MODULES[kind].get, value, name, self))
        self._option_names = tuple(weight_options)

    def depthwise(self, inputs, kernel):
        """The depthwise convolution of `inputs` by `kernel`, by `self.implementation`."""
        if self.implementation == "native":
            return ops.depthwise_conv(
                inputs,
                kernel,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format="channels_last",
            )
        return depthwise_conv2d_im2col(
            inputs, kernel, self.strides, self.dilation_rate, self.padding
        )

    def input_channels(self, input_shape):
        """Checks a build-time shape (rank 4, window fits) and returns its channel count."""
        shape = args.check_rank(input_shape, 4, self)
        if shape[-1] is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ({self.name!r}) needs a known channel "
                f"count (last axis). Received: input_shape={shape}"
            )
        check_window_fits(shape, self.kernel_size, self.dilation_rate, self.padding, self)
        return shape[-1]

    def add_option_weight(self, name, shape, prefix):
        """A weight with the `{prefix}_initializer`, `_regularizer` and `_constraint`."""
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=getattr(self, f"{prefix}_initializer"),
            regularizer=getattr(self, f"{prefix}_regularizer"),
            constraint=getattr(self, f"{prefix}_constraint"),
        )

    def add_bias_and_activation(self, outputs):
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def spatial_output_shape(self, input_shape):
        """(batch, H', W') of `input_shape`."""
        return window_output_shape(input_shape, self.kernel_size, self.strides,
                                   self.dilation_rate, self.padding, self)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "implementation": self.implementation,
            **{
                name: _OPTION_MODULES[name.rsplit("_", 1)[1]].serialize(getattr(self, name))
                for name in self._option_names
            },
        }


@kzoo_export("kzoo.layers.DepthwiseConv2D")
class DepthwiseConv2D(DepthwiseLayer):
    """Depthwise 2D convolution, computed natively or from Im2Col's windows.

    Each input channel is convolved with its own `depth_multiplier` filters;
    output channel `c * depth_multiplier + m` is filter `m` of input channel
    `c`, as in `keras.layers.DepthwiseConv2D`. The weights `kernel`
    (kh, kw, C_in, depth_multiplier) and `bias` (C_in * depth_multiplier,)
    have that layer's names, layout and order, so
    `layer.set_weights(keras_layer.get_weights())` moves weights between them
    and legacy HDF5 files of `keras.applications` (which store each layer's
    `get_weights()` in order) load into it. `depthwise_kernel` is another
    name of `kernel`. With `implementation="im2col"` the layer reads the
    kh·kw window offsets with `kzoo.layers.Im2Col`'s op and sums them times
    the kernel per channel; with `"native"` it calls the framework's depthwise
    convolution. Both give the same result.

    Args:
        kernel_size: int or pair, the window height and width.
        strides: int or pair. Defaults to 1.
        padding: `"valid"` or `"same"` (TensorFlow's rule). Defaults to
            `"valid"`.
        depth_multiplier: int, the output channels per input channel.
            Defaults to 1.
        dilation_rate: int or pair. Defaults to 1. May exceed 1 together with
            `strides`.
        activation: activation name or callable applied to the output.
        use_bias: whether to add a bias. Defaults to `True`.
        depthwise_initializer: initializer of the kernel. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        depthwise_regularizer: optional regularizer of the kernel.
        bias_regularizer: optional regularizer of the bias.
        activity_regularizer: optional regularizer of the output.
        depthwise_constraint: optional constraint on the kernel.
        bias_constraint: optional constraint on the bias.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, channels * depth_multiplier)`.

    Examples:
        >>> x = np.random.rand(2, 9, 9, 3).astype("float32")
        >>> conv = kzoo.layers.DepthwiseConv2D(3, depth_multiplier=2, implementation="im2col")
        >>> conv(x).shape
        TensorShape([2, 7, 7, 6])
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
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
                "bias_initializer": bias_initializer,
                "depthwise_regularizer": depthwise_regularizer,
                "bias_regularizer": bias_regularizer,
                "depthwise_constraint": depthwise_constraint,
                "bias_constraint": bias_constraint,
            },
            **kwargs,
        )

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        # Keras 3 names the depthwise layer's kernel "kernel" (its SeparableConv2D
        # says "depthwise_kernel").
        self.kernel = self.add_option_weight(
            "kernel", (*self.kernel_size, channels, self.depth_multiplier), "depthwise"
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_option_weight(
                "bias", (channels * self.depth_multiplier,), "bias"
            )
        self.built = True

    @property
    def depthwise_kernel(self):
        """The kernel (kh, kw, C_in, depth_multiplier): another name of `kernel`."""
        return self.kernel

    def call(self, inputs):
        args.check_input(inputs.shape, self, channels=self.kernel.shape[2])
        return self.add_bias_and_activation(self.depthwise(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        if channels is not None:
            channels *= self.depth_multiplier
        return (*self.spatial_output_shape(input_shape), channels)
