"""2D max and average pooling, natively or as Im2Col + a reduction."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.im2col import (
    check_window_fits,
    examples_per_chunk,
    im2col,
    map_batch_chunks,
    output_length,
    same_padding,
    window_output_shape,
)
from kzoo.layers.window_sum import window_sum

#: The average pool's window sums compiled with XLA, which fuses their slices, adds and
#: (backward) pads into a few passes over the input. Measured here on the 3×3/2 "same"
#: pool of 128×32×32×16: forward+backward 1.47× native fused, 2.1–2.5× unfused.
_fused_window_sum = tf.function(window_sum, jit_compile=True)


class _Pool2D(keras.layers.Layer):
    """Shared logic of `MaxPool2D` and `AvgPool2D`; subclasses set `_mode`."""

    _mode = None

    def __init__(self, pool_size=2, strides=None, padding="valid", implementation="native",
                 **kwargs):
        super().__init__(**kwargs)
        self.pool_size = args.positive_int_tuple(pool_size, "pool_size")
        self.strides = (
            self.pool_size if strides is None else args.positive_int_tuple(strides, "strides")
        )
        self.padding = args.choice(padding, "padding", args.PADDINGS)
        self.implementation = args.choice(implementation, "implementation", args.IMPLEMENTATIONS)

    def build(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        check_window_fits(shape, self.pool_size, (1, 1), self.padding, self)
        self.built = True

    def _pooled(self, inputs, pad_value, reduce):
        """Im2Col, then `reduce` over each window: (B, H, W, C) → (B, H', W', C)."""
        patches = im2col(inputs, self.pool_size, self.strides, (1, 1), self.padding,
                         pad_value=pad_value)  # (B, H', W', kh·kw·C)
        window = self.pool_size[0] * self.pool_size[1]
        # (B·H'·W', kh·kw, C): reducing the middle axis of a 3D tensor is the
        # fast case of TensorFlow's reduction kernels (measured 1.6× faster
        # than the same reduction on the 5D view).
        reduced = reduce(tf.reshape(patches, (-1, window, inputs.shape[-1])), axis=1)
        return tf.reshape(reduced, tf.concat([tf.shape(patches)[:3], [-1]], 0))

    def _window_counts(self, inputs):
        """Real (unpadded) cells under each window, shape (1, H', W', 1)."""
        h, w = inputs.shape[1], inputs.shape[2]
        if h is None or w is None:  # dynamic size: Im2Col of ones
            ones = tf.ones_like(inputs[:1, :, :, :1])
            return tf.stop_gradient(window_sum(ones, self.pool_size, self.strides, self.padding))
        per_axis = []
        for size, k, s in zip((h, w), self.pool_size, self.strides):
            before = same_padding(size, k, s, 1)[0] if self.padding == "same" else 0
            starts = np.arange(output_length(size, k, s, 1, self.padding)) * s - before
            per_axis.append(np.minimum(starts + k, size) - np.maximum(starts, 0))
        counts = np.outer(per_axis[0], per_axis[1])[None, :, :, None]
        return tf.constant(counts, dtype=inputs.dtype)

    def _reduce(self, inputs):
        if self._mode == "max":
            return self._pooled(inputs, float("-inf"), tf.reduce_max)
        # The mean ignores padded cells, as Keras does. The window sums are Im2Col's
        # columns reduced as they are read (`window_sum`, separable, through the
        # blocked layout): no column matrix of kh·kw copies, which made the 3×3/2
        # average pool 4.47× native forward+backward (see benchmarks/im2col_speed);
        # compiled with XLA (`_fused_window_sum`).
        total = _fused_window_sum(inputs, self.pool_size, self.strides, self.padding)
        return total / self._window_counts(inputs)

    def call(self, inputs):
        args.check_input(inputs.shape, self)
        if self.implementation == "native":
            pool = ops.max_pool if self._mode == "max" else ops.average_pool
            return pool(inputs, self.pool_size, self.strides, self.padding,
                        data_format="channels_last")
        if self._mode == "avg":  # no column matrix to keep in cache: one piece
            return tf.ensure_shape(self._reduce(inputs), self.compute_output_shape(inputs.shape))
        out_h, out_w = self.compute_output_shape(inputs.shape)[1:3]
        columns = (out_h or 32) * (out_w or 32) * self.pool_size[0] * self.pool_size[1] * (
            inputs.shape[-1])
        chunk = examples_per_chunk(columns, inputs.dtype)
        (outputs,) = map_batch_chunks(lambda x: (self._reduce(x),), [inputs], chunk, ("concat",))
        return tf.ensure_shape(outputs, self.compute_output_shape(inputs.shape))

    def compute_output_shape(self, input_shape):
        return (*window_output_shape(input_shape, self.pool_size, self.strides, (1, 1),
                                     self.padding, self), input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "implementation": self.implementation,
        }


@kzoo_export("kzoo.layers.MaxPool2D")
class MaxPool2D(_Pool2D):
    """Max pooling over 2D windows, natively or as Im2Col + max.

    With `implementation="im2col"` the windows are gathered by
    `kzoo.layers.Im2Col`'s op and reduced with a max (padded cells are -inf);
    with `"native"` the framework's pooling kernel runs. Both equal
    `keras.layers.MaxPooling2D`, "same" padding included, and gradients flow
    through both.

    Args:
        pool_size: int or pair, the window size. Defaults to 2.
        strides: int, pair or `None` (= `pool_size`).
        padding: `"valid"` or `"same"`. Defaults to `"valid"`.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments.

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, channels)`.

    Examples:
        >>> x = np.random.rand(2, 24, 24, 20).astype("float32")
        >>> kzoo.layers.MaxPool2D(2, implementation="im2col")(x).shape
        TensorShape([2, 12, 12, 20])
    """

    _mode = "max"


@kzoo_export("kzoo.layers.AvgPool2D")
class AvgPool2D(_Pool2D):
    """Average pooling over 2D windows, natively or as Im2Col + mean.

    With `implementation="im2col"` the windows are gathered by
    `kzoo.layers.Im2Col`'s op and reduced with a mean; with `"native"` the
    framework's pooling kernel runs. Both equal `keras.layers.AveragePooling2D`,
    "same" padding included (the average ignores padded cells, as Keras does),
    and gradients flow through both.

    Args:
        pool_size: int or pair, the window size. Defaults to 2.
        strides: int, pair or `None` (= `pool_size`).
        padding: `"valid"` or `"same"`. Defaults to `"valid"`.
        implementation: `"native"` or `"im2col"`. Defaults to `"native"`.
        **kwargs: base layer arguments.

    Input shape:
        4D tensor `(batch, height, width, channels)`.

    Output shape:
        4D tensor `(batch, new_height, new_width, channels)`.

    Examples:
        >>> x = np.random.rand(2, 24, 24, 20).astype("float32")
        >>> kzoo.layers.AvgPool2D(2, implementation="im2col")(x).shape
        TensorShape([2, 12, 12, 20])
    """

    _mode = "avg"
