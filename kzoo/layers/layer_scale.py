"""LayerScale: a learned per-channel scale of a residual branch (CaiT, ConvNeXt)."""

import math
import numbers

import keras
from keras import ops

from kzoo.api_export import kzoo_export
from kzoo.layers import args


@kzoo_export("kzoo.layers.LayerScale")
class LayerScale(keras.layers.Layer):
    """Multiplies the last axis by a learned per-channel scale `gamma`.

    `outputs = inputs * gamma`, with `gamma` of shape `(projection_dim,)`
    initialized to `init_value` (a small number such as 1e-6, so that a
    residual branch starts close to zero). The one weight `gamma` is
    keras.applications ConvNeXt's `LayerScale`'s, so its weight files
    (which store it per layer as `{block}_layer_scale`) load into this layer.

    Args:
        init_value: finite float, the initial value of every entry of
            `gamma`.
        projection_dim: optional positive int, the size of the last axis.
            Defaults to `None`: taken from the input when the layer builds.
            When given, the input's last axis must have this size.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        Any tensor of rank ≥ 1 whose last axis has `projection_dim` entries.

    Output shape:
        The input's shape.

    Reference:
        Touvron et al., "Going deeper with Image Transformers", ICCV 2021.

    Examples:
        >>> x = np.ones((2, 5, 5, 8), "float32")
        >>> scale = kzoo.layers.LayerScale(1e-6, 8)
        >>> scale(x).shape, tuple(scale.gamma.shape)
        (TensorShape([2, 5, 5, 8]), (8,))
    """

    def __init__(self, init_value, projection_dim=None, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(init_value, bool)
            or not isinstance(init_value, numbers.Real)
            or not math.isfinite(init_value)
        ):
            raise ValueError(
                f"Argument `init_value` must be a finite float. Received: init_value={init_value!r}"
            )
        self.init_value = float(init_value)
        self.projection_dim = (
            None if projection_dim is None else args.positive_int(projection_dim, "projection_dim")
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = shape[-1] if shape else None
        if channels is None:
            raise ValueError(
                f"Layer LayerScale ({self.name!r}) needs inputs with a known last axis. "
                f"Received: input_shape={shape}"
            )
        if self.projection_dim is not None and channels != self.projection_dim:
            raise ValueError(
                f"Layer LayerScale ({self.name!r}) has projection_dim={self.projection_dim}; "
                f"the input's last axis must have that size. Received: input_shape={shape}"
            )
        self.projection_dim = int(channels)
        self.gamma = self.add_weight(
            name="gamma",
            shape=(self.projection_dim,),
            initializer=keras.initializers.Constant(self.init_value),
            trainable=True,
        )
        self.built = True

    def call(self, inputs):
        if inputs.shape[-1] is not None and inputs.shape[-1] != self.projection_dim:
            raise ValueError(
                f"Layer LayerScale ({self.name!r}) was built for a last axis of "
                f"{self.projection_dim}. Received: input_shape={tuple(inputs.shape)}"
            )
        return ops.multiply(inputs, self.gamma)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value,
                "projection_dim": self.projection_dim}
