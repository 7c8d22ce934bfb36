"""2D convolution, natively or as Im2Col + one matrix multiply."""

import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.im2col import (
    WindowGeometry,
    check_window_fits,
    col2im,
    examples_per_chunk,
    gather_columns,
    map_batch_chunks,
    spread,
    window_output_shape,
    with_static_shape,
)
from kzoo.layers.kernel_bias import KernelBiasLayer


def _input_gradient_by_transposed_im2col(dy, kernel, geometry):
    """dx as Im2Col of the spread, padded dy times the flipped kernel.

    The transposed convolution written as Im2Col + one matrix multiply:
    dx_padded[t] = Σ_i z[t + i·d] · W[k−1−i]ᵀ, z the stride-spread dy padded
    by (k−1)·d before and to the padded input's size after.
    """
    (kh, kw), (dh, dw) = geometry.kernel_size, geometry.dilation_rate
    z = spread(dy, geometry.strides)
    spread_h = (geometry.out_height - 1) * geometry.strides[0] + 1
    spread_w = (geometry.out_width - 1) * geometry.strides[1] + 1
    z = tf.pad(z, [
        [0, 0],
        [(kh - 1) * dh, geometry.padded_height - spread_h],
        [(kw - 1) * dw, geometry.padded_width - spread_w],
        [0, 0],
    ])
    transposed = WindowGeometry(z, geometry.kernel_size, (1, 1), geometry.dilation_rate, "valid")
    columns = gather_columns(z, transposed)  # (B, Hp, Wp, kh·kw·C_out)
    flipped = tf.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))  # (kh, kw, C_out, C_in)
    flipped = tf.reshape(flipped, (-1, kernel.shape[2]))
    dxp = tf.matmul(tf.reshape(columns, (-1, columns.shape[-1])), flipped)
    dxp = tf.reshape(dxp, tf.concat([tf.shape(columns)[:3], [kernel.shape[2]]], 0))
    return geometry.crop(dxp)


def _matmul_4d(columns, matrix):
    """(B, H, W, K) @ (K, N) → (B, H, W, N) as one 2D matrix multiply."""
    flat = tf.matmul(tf.reshape(columns, (-1, columns.shape[-1])), matrix)
    return tf.reshape(flat, tf.concat([tf.shape(columns)[:3], [matrix.shape[-1]]], 0))


def conv2d_im2col(x, kernel, strides=(1, 1), dilation_rate=(1, 1), padding="valid"):
    """Convolution as Im2Col + one matrix multiply, with a hand-written gradient.

    Forward: columns (B, H', W', kh·kw·C_in) @ kernel (kh·kw·C_in, C_out), in
    batch chunks that keep the columns in cache (`map_batch_chunks`).
    Backward: the kernel gradient is columnsᵀ @ dy (one matrix multiply per
    chunk, the columns gathered again rather than stored); the input gradient
    is col2im(dy @ kernelᵀ) when C_in < C_out, else the transposed convolution
    as Im2Col of dy times the flipped kernel, whichever moves less data (both
    are exact).
    """
    # Read variables as tensors: the gradient is taken w.r.t. these values.
    x, kernel = tf.convert_to_tensor(x), tf.convert_to_tensor(kernel)
    geometry = WindowGeometry(x, tuple(kernel.shape[:2]), strides, dilation_rate, padding)
    c_in, c_out = kernel.shape[2], kernel.shape[3]
    ho, wo = geometry.static_out()
    columns_per_example = (ho or 32) * (wo or 32) * kernel.shape[0] * kernel.shape[1] * max(
        c_in, c_out
    )
    chunk = examples_per_chunk(columns_per_example, x.dtype)

    @tf.custom_gradient
    def _conv(x, kernel):
        matrix = tf.reshape(kernel, (-1, c_out))  # (kh·kw·C_in, C_out)

        def forward(x_chunk):
            return (_matmul_4d(gather_columns(x_chunk, geometry), matrix),)

        (y,) = map_batch_chunks(forward, [x], chunk, ("concat",))

        def grad(dy):
            def backward(x_chunk, dy_chunk):
                columns = gather_columns(x_chunk, geometry)
                d_matrix = tf.matmul(
                    tf.reshape(columns, (-1, columns.shape[-1])),
                    tf.reshape(dy_chunk, (-1, c_out)),
                    transpose_a=True,
                )
                if c_in < c_out:
                    dx = col2im(_matmul_4d(dy_chunk, tf.transpose(matrix)), geometry)
                else:
                    dx = _input_gradient_by_transposed_im2col(dy_chunk, kernel, geometry)
                return dx, d_matrix

            dx, d_matrix = map_batch_chunks(backward, [x, dy], chunk, ("concat", "sum"))
            return dx, tf.reshape(d_matrix, tf.shape(kernel))

        return y, grad

    return with_static_shape(_conv(x, kernel), x.shape[0], geometry.static_out(), c_out)


@kzoo_export("kzoo.layers.Conv2D")
class Conv2D(KernelBiasLayer):
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
        kernel_initializer: initializer of the kernel. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of the kernel.
        bias_regularizer: optional regularizer of the bias.
        activity_regularizer: optional regularizer of the output.
        kernel_constraint: optional constraint on the kernel.
        bias_constraint: optional constraint on the bias.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, filters)`.

    Examples:
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
        super().__init__(
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )
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

    def build(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        channels = shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer Conv2D ({self.name!r}) needs a known channel count (last axis). "
                f"Received: input_shape={shape}"
            )
        check_window_fits(shape, self.kernel_size, self.dilation_rate, self.padding, self)
        self.add_kernel_and_bias((*self.kernel_size, channels, self.filters), self.filters)
        self.built = True

    def call(self, inputs):
        args.check_input(inputs.shape, self, channels=self.kernel.shape[2])
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
            outputs = conv2d_im2col(
                inputs, self.kernel, self.strides, self.dilation_rate, self.padding
            )
        return self.add_bias_and_activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*window_output_shape(input_shape, self.kernel_size, self.strides,
                                     self.dilation_rate, self.padding, self), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "implementation": self.implementation,
        }
