"""Maxout: the max over groups of channels (Goodfellow et al., 2013)."""

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args


@kzoo_export("kzoo.layers.Maxout")
class Maxout(keras.layers.Layer):
    """Maxout over one axis: output unit j is the max over channels j, j+n, j+2n, ….

    With `n = num_units` and C channels on `axis`, the C channels form C / n
    pieces of n units each, and the output takes their element-wise maximum.
    This is the tensorflow-addons `Maxout` semantics, so models that used it
    port over unchanged. C must be a multiple of `num_units`.

    Args:
        num_units: positive int, the number of output units on `axis`.
        axis: int, the channel axis. Defaults to -1.
        **kwargs: base layer arguments.

    Input shape:
        N-D tensor with C channels on `axis`.

    Output shape:
        The same shape with `num_units` on `axis`.

    Reference:
        Goodfellow et al., "Maxout Networks", ICML 2013.

    Examples:
        >>> x = np.array([[1., 5., 3., 2.]], dtype="float32")
        >>> kzoo.layers.Maxout(2)(x)  # max(1, 3), max(5, 2)
        array([[3., 5.]], dtype=float32)
    """

    def __init__(self, num_units, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.num_units = args.positive_int(num_units, "num_units")
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"Argument `axis` must be an int. Received: axis={axis!r}")
        self.axis = axis

    def _axis(self, rank):
        return args.channel_axis(self.axis, rank, self)

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = shape[self._axis(len(shape))]
        if channels is None or channels % self.num_units:
            raise ValueError(
                f"Layer Maxout ({self.name!r}): the number of channels on axis {self.axis} "
                f"must be a known multiple of num_units={self.num_units}. "
                f"Received: input_shape={shape}"
            )
        self.built = True

    def call(self, inputs):
        rank = len(inputs.shape)
        axis = self._axis(rank)
        shape = list(ops.shape(inputs))
        pieces = shape[axis] // self.num_units
        # Channel c = p·num_units + j lands at [..., p, j, ...]: reduce over p.
        split = shape[:axis] + [pieces, self.num_units] + shape[axis + 1:]
        return ops.max(ops.reshape(inputs, split), axis=axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis(len(shape))] = self.num_units
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "num_units": self.num_units, "axis": self.axis}
