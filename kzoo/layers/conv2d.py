"""2D convolution, natively or as Im2Col + one matrix multiply."""

import keras
import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.im2col import check_window_fits, im2col, output_length


@kzoo_export("kzoo.layers.Conv2D")
class Conv2D(keras.layers.Layer):
    """2D convolution, computed natively or as Im2Col + one matrix multiply.

    The weights `kernel` (kh, kw, C_in, C_out) and `bias` (C_out,) have the
    layout and order of `keras.layers.Conv2D`, so
    `layer.set_weights(keras_conv.get_weights())` moves weights between them.
    With `implementation="im2col"` the layer extracts the patches with
    `kzoo.layers.Im2Col`'s op and multiplies them by the kernel reshaped to
    (kh·kw·C_in, C_out) in one matrix multiply: convolution as Im2Col + Affine.
    With `"native"` it calls the framework's convolution kernel. Both give the
    same result.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or pair, the window height and width.
        strides: int or pair. Defaults to 1.
        padding: `"valid"` or `"same"` (TensorFlow's rule). Defaults to
            `"valid"`.
        dilation_rate: int or pair. Defaults to 1. Strides and dilation both
            above 1 need `implementation="im2col"` (TensorFlow's kernels lack
            the combination).
        activation: activation name or callable applied to the output.
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer, bias_initializer: initializers. Default to
            `"glorot_uniform"` and `"zeros"`.
        kernel_regularizer, bias_regularizer, activity_regularizer:
            optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, filters)`.

    Example:

    >>> x = np.random.rand(2, 28, 28, 1).astype("float32")
    >>> conv = kzoo.layers.Conv2D(20, 5, implementation="im2col")
    >>> conv(x).shape
    TensorShape([2, 24, 24, 20])
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        implementation="native",
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = args.positive_int(filters, "filters")
        self.kernel_size = args.positive_int_tuple(kernel_size, "kernel_size")
        self.strides = args.positive_int_tuple(strides, "strides")
        self.padding = args.choice(padding, "padding", args.PADDINGS)
        self.dilation_rate = args.positive_int_tuple(dilation_rate, "dilation_rate")
        self.implementation = args.choice(implementation, "implementation", args.IMPLEMENTATIONS)
        if (
            self.implementation == "native"
            and max(self.strides) > 1
            and max(self.dilation_rate) > 1
        ):
            raise ValueError(
                "Arguments `strides` > 1 and `dilation_rate` > 1 together need "
                "implementation='im2col' (TensorFlow's native kernels lack the combination). "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        channels = shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer Conv2D ({self.name!r}) needs a known channel count (last axis). "
                f"Received: input_shape={shape}"
            )
        check_window_fits(shape, self.kernel_size, self.dilation_rate, self.padding, self)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        if self.implementation == "native":
            outputs = ops.conv(
                inputs,
                self.kernel,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format="channels_last",
            )
        else:
            patches = im2col(
                inputs, self.kernel_size, self.strides, self.dilation_rate, self.padding
            )  # (B, H', W', kh·kw·C_in)
            kernel = ops.reshape(self.kernel, (-1, self.filters))  # (kh·kw·C_in, C_out)
            batch_shape = tf.shape(patches)[:3]
            columns = ops.reshape(patches, (-1, patches.shape[-1]))  # (B·H'·W', kh·kw·C_in)
            outputs = ops.reshape(
                ops.matmul(columns, kernel), tf.concat([batch_shape, [self.filters]], 0)
            )
            outputs = tf.ensure_shape(
                outputs, [inputs.shape[0], patches.shape[1], patches.shape[2], self.filters]
            )
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        out = [
            output_length(shape[axis], self.kernel_size[axis - 1], self.strides[axis - 1],
                          self.dilation_rate[axis - 1], self.padding)
            for axis in (1, 2)
        ]
        return (shape[0], out[0], out[1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "implementation": self.implementation,
        }
