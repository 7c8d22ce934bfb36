"""The shared part of layers with a kernel, an optional bias and an activation."""

import keras
from keras import ops

from kzoo.layers import args


class KernelBiasLayer(keras.layers.Layer):
    """Base of `Affine` and `Conv2D`: arguments, weights, bias + activation, config.

    Subclasses call `add_kernel_and_bias(kernel_shape, units)` in `build` and
    `add_bias_and_activation(outputs)` at the end of `call`; `get_config`
    serializes every argument handled here.
    """

    def __init__(
        self,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.activation = args.keras_object(keras.activations.get, activation, "activation", self)
        self.use_bias = bool(use_bias)
        for name, getter, value in (
            ("kernel_initializer", keras.initializers.get, kernel_initializer),
            ("bias_initializer", keras.initializers.get, bias_initializer),
            ("kernel_regularizer", keras.regularizers.get, kernel_regularizer),
            ("bias_regularizer", keras.regularizers.get, bias_regularizer),
            ("kernel_constraint", keras.constraints.get, kernel_constraint),
            ("bias_constraint", keras.constraints.get, bias_constraint),
        ):
            setattr(self, name, args.keras_object(getter, value, name, self))

    def add_kernel_and_bias(self, kernel_shape, units):
        """Creates `kernel` of `kernel_shape` and, with `use_bias`, `bias` of (units,)."""
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def add_bias_and_activation(self, outputs):
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        return {
            **super().get_config(),
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
        }
