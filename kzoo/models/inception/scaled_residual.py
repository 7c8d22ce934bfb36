"""Inception-ResNet's scaled residual: `shortcut + scale * residual`."""

import keras

from kzoo.api_export import kzoo_export


@kzoo_export("kzoo.models.inception.ScaledResidual")
class ScaledResidual(keras.layers.Layer):
    """Adds a residual branch scaled by a constant to its shortcut: `x + scale * r`.

    Inception-ResNet scales each block's residual (0.17, 0.1 or 0.2) before
    the addition, which keeps the very deep network stable in training
    (Szegedy et al. 2017, §3.3). The same computation as keras.applications'
    `CustomScaleLayer`, without weights.

    Args:
        scale: the factor of the residual branch.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[shortcut, residual]`, two tensors of the same shape.

    Examples:
        >>> layer = kzoo.models.inception.ScaledResidual(0.5)
        >>> float(layer([keras.ops.ones((1, 2)), keras.ops.ones((1, 2))])[0, 0])
        1.5
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"Argument `scale` must be a number. Received: scale={scale!r}")
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
