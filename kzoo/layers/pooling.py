"""2D max and average pooling, natively or as Im2Col + a reduction."""

import keras
import tensorflow as tf
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args
from kzoo.layers.im2col import check_window_fits, im2col, output_length


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
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        check_window_fits(shape, self.pool_size, (1, 1), self.padding, self)
        self.built = True

    def _columns(self, inputs, pad_value):
        patches = im2col(inputs, self.pool_size, self.strides, (1, 1), self.padding,
                         pad_value=pad_value)  # (B, H', W', kh·kw·C)
        window = self.pool_size[0] * self.pool_size[1]
        shape = tf.concat([tf.shape(patches)[:3], [window, -1]], 0)
        columns = tf.reshape(patches, shape)  # (B, H', W', kh·kw, C)
        return tf.ensure_shape(
            columns, [*patches.shape[:3], window, inputs.shape[-1]]
        )

    def call(self, inputs):
        if self.implementation == "native":
            pool = ops.max_pool if self._mode == "max" else ops.average_pool
            return pool(inputs, self.pool_size, self.strides, self.padding,
                        data_format="channels_last")
        if self._mode == "max":
            return ops.max(self._columns(inputs, float("-inf")), axis=-2)
        total = ops.sum(self._columns(inputs, 0.0), axis=-2)
        if self.padding == "valid":
            return total / ops.cast(self.pool_size[0] * self.pool_size[1], total.dtype)
        # The mean ignores padded cells, as Keras does: divide by the number of
        # real cells under each window (Im2Col of ones, no gradient needed).
        ones = tf.ones_like(inputs[:1, :, :, :1])
        counts = ops.sum(self._columns(ones, 0.0), axis=-2)  # (1, H', W', 1)
        return total / tf.stop_gradient(counts)

    def compute_output_shape(self, input_shape):
        shape = args.check_rank(input_shape, 4, self)
        out = [
            output_length(shape[axis], self.pool_size[axis - 1], self.strides[axis - 1], 1,
                          self.padding)
            for axis in (1, 2)
        ]
        return (shape[0], out[0], out[1], shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "implementation": self.implementation,
        }


_POOL_DOC = """{summary}

    With `implementation="im2col"` the windows are gathered by
    `kzoo.layers.Im2Col`'s op and reduced with a {reduction}; with `"native"` the
    framework's pooling kernel runs. Both equal `keras.layers.{keras_name}`,
    "same" padding included{padding_note}, and gradients flow through both.

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

    Example:

    >>> x = np.random.rand(2, 24, 24, 20).astype("float32")
    >>> kzoo.layers.{name}(2, implementation="im2col")(x).shape
    TensorShape([2, 12, 12, 20])
    """


@kzoo_export("kzoo.layers.MaxPool2D")
class MaxPool2D(_Pool2D):
    _mode = "max"
    __doc__ = _POOL_DOC.format(
        summary="Max pooling over 2D windows, natively or as Im2Col + max.",
        reduction="max (padded cells are -inf)",
        keras_name="MaxPooling2D",
        padding_note="",
        name="MaxPool2D",
    )


@kzoo_export("kzoo.layers.AvgPool2D")
class AvgPool2D(_Pool2D):
    _mode = "avg"
    __doc__ = _POOL_DOC.format(
        summary="Average pooling over 2D windows, natively or as Im2Col + mean.",
        reduction="mean",
        keras_name="AveragePooling2D",
        padding_note=" (the average ignores padded cells, as Keras does)",
        name="AvgPool2D",
    )
