"""`run_layer_test` itself: it passes good layers and names what is wrong in bad ones."""

import keras
import pytest
import tensorflow as tf
from keras import ops

from kzoo.testing import run_layer_test

register = keras.saving.register_keras_serializable(package="kzoo_tests")
SHAPE = (2, 3, 3, 2)


@register
class Scale(keras.layers.Layer):
    """A per-channel scale: the smallest layer with a weight."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


@register
class Center(keras.layers.Layer):
    """Subtracts the batch mean in training, a moving mean in inference (like BatchNorm)."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.moving_mean = self.add_weight(
            shape=(channels,), initializer="zeros", trainable=False, name="moving_mean",
            autocast=False,
        )

    def call(self, inputs, training=None):
        if training:
            mean = ops.mean(ops.cast(inputs, self.moving_mean.dtype), axis=(0, 1, 2))
            self.moving_mean.assign(0.9 * self.moving_mean + 0.1 * mean)
        else:
            mean = self.moving_mean
        return (inputs - ops.cast(mean, inputs.dtype)) * self.gamma

    def compute_output_shape(self, input_shape):
        return input_shape


@register
class NoBaseConfig(Scale):
    def get_config(self):
        return {}


@register
class WrongOutputShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


@register
class WrongGradient(Scale):
    def call(self, inputs):
        @tf.custom_gradient
        def double_gradient(x):
            return x, lambda upstream: 2 * upstream

        return double_gradient(inputs) * self.scale


@register
class Float32Output(Scale):
    def call(self, inputs):
        return ops.cast(super().call(inputs), "float32")


@register
class UnusedWeight(Scale):
    def build(self, input_shape):
        super().build(input_shape)
        self.unused = self.add_weight(shape=(1,), initializer="zeros", name="unused")


class Unregistered(Scale):
    pass


ONLY = {"check_training": False, "check_saving": False, "check_gradients": False,
        "check_mixed_precision": False}


def test_passes_a_good_layer():
    run_layer_test(Scale, {}, SHAPE, expected_output_shape=SHAPE,
                   expected_num_trainable_weights=1)


def test_passes_a_layer_with_training_argument_and_batch_statistics():
    run_layer_test(Center, {}, SHAPE, supports_training_arg=True,
                   expected_num_trainable_weights=1, expected_num_non_trainable_weights=1,
                   check_distribution=True)


@pytest.mark.parametrize(
    "layer_cls, kwargs, message",
    [
        (NoBaseConfig, ONLY, r"base keys"),
        (WrongOutputShape, ONLY, r"compute_output_shape"),
        (Unregistered, ONLY, r"register"),
        (Center, ONLY, r"training"),  # supports_training_arg left False
        (UnusedWeight, {**ONLY, "check_training": True}, r"unused did not change"),
        (WrongGradient, {**ONLY, "check_gradients": True}, r"gradients.*the input"),
        (Float32Output, {**ONLY, "check_mixed_precision": True}, r"mixed_float16.*dtype"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_names_what_is_wrong(layer_cls, kwargs, message):
    with pytest.raises(AssertionError, match=rf"(?s){layer_cls.__name__}.*{message}"):
        run_layer_test(layer_cls, {}, SHAPE, **kwargs)
