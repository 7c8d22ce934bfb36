"""kzoo SqueezeExcite against the same block made of Keras layers (keras.applications')."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy import testing as npt

from kzoo.layers import SqueezeExcite
from kzoo.testing import run_layer_test
from layer_helpers import outputs_and_gradients

IMPLEMENTATIONS = ["native", "im2col"]


def keras_se_block(channels, filters_se, activation, gate_activation):
    """keras.applications' block: GlobalAveragePooling2D, two 1×1 Conv2D, Multiply."""
    inputs = keras.Input((None, None, channels))
    se = keras.layers.GlobalAveragePooling2D(keepdims=True)(inputs)
    reduce = keras.layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                                 bias_initializer="random_normal", name="se_reduce")
    expand = keras.layers.Conv2D(channels, 1, padding="same", activation=gate_activation,
                                 bias_initializer="random_normal", name="se_expand")
    outputs = keras.layers.Multiply()([inputs, expand(reduce(se))])
    return keras.Model(inputs, outputs), reduce, expand


# EfficientNet's (swish, sigmoid) and MobileNetV3's (relu, hard sigmoid) blocks.
@pytest.mark.parametrize("activation, gate", [("swish", "sigmoid"), ("relu", "hard_sigmoid")])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_equals_keras_layers_with_applications_weights(implementation, activation, gate, rng):
    x = rng.standard_normal((2, 7, 6, 8)).astype("float32")
    reference, reduce, expand = keras_se_block(8, 3, activation, gate)
    ours = SqueezeExcite(3, activation=activation, gate_activation=gate,
                         implementation=implementation)
    ours.build(x.shape)
    # The documented mapping: the two convolutions' weights, in order.
    ours.set_weights(reduce.get_weights() + expand.get_weights())
    projection = rng.standard_normal(x.shape).astype("float32")
    variables = reduce.trainable_variables + expand.trainable_variables
    want, want_grads = outputs_and_gradients(reference, x, projection, variables)
    got, got_grads = outputs_and_gradients(ours, x, projection)
    npt.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    names = ["input", "reduce_kernel", "reduce_bias", "expand_kernel", "expand_bias"]
    for name, g, w in zip(names, got_grads, want_grads):
        npt.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"gradient w.r.t. {name}")


def test_mobilenet_v3_hard_sigmoid_written_as_relu6():
    # MobileNetV3 writes its gate as ReLU(6)(x + 3) * (1 / 6): Keras's hard_sigmoid.
    x = np.linspace(-5, 5, 101).astype("float32")
    written = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    npt.assert_allclose(keras.activations.hard_sigmoid(x), written, rtol=1e-6, atol=1e-7)


def test_weights_names_order_and_shapes():
    se = SqueezeExcite(4)
    se.build((1, 5, 5, 16))
    assert [(w.name, tuple(w.shape)) for w in se.weights] == [
        ("reduce_kernel", (1, 1, 16, 4)), ("reduce_bias", (4,)),
        ("expand_kernel", (1, 1, 4, 16)), ("expand_bias", (16,)),
    ]


def test_im2col_equals_native_with_unknown_spatial_size(rng):
    x = rng.standard_normal((2, 5, 4, 6)).astype("float32")
    native = SqueezeExcite(2, bias_initializer="random_normal")
    native.build(x.shape)
    im2col = SqueezeExcite.from_config({**native.get_config(), "implementation": "im2col"})
    im2col.build(x.shape)
    im2col.set_weights(native.get_weights())
    spec = tf.TensorSpec((None, None, None, 6), "float32")
    got = tf.function(im2col).get_concrete_function(spec)(tf.constant(x))
    npt.assert_allclose(got, native(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_run_layer_test(implementation):
    run_layer_test(
        SqueezeExcite,
        {"filters_se": 2, "gate_activation": "hard_sigmoid", "implementation": implementation},
        (2, 4, 3, 5),
        expected_output_shape=(2, 4, 3, 5),
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=0,
        check_distribution=implementation == "native",
    )


# Bad input: a ValueError that names the argument and says what it received.


@pytest.mark.parametrize("value", [0, -2, 1.5, None])
def test_filters_se_must_be_positive_int(value):
    with pytest.raises(ValueError, match=r"`filters_se`.*Received: filters_se="):
        SqueezeExcite(value)


@pytest.mark.parametrize(
    "argument, value",
    [("implementation", "fft"), ("activation", "no_such"), ("gate_activation", "no_such"),
     ("kernel_initializer", "no_such_initializer")],
)
def test_bad_option_raises(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        SqueezeExcite(2, **{argument: value})


def test_wrong_rank_and_channels_raise():
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape"):
        SqueezeExcite(2)(np.zeros((5, 5, 3), "float32"))
    layer = SqueezeExcite(2)
    layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"(?s)channel.*Received: input_shape=\(1, 5, 5, 4\)"):
        layer(np.zeros((1, 5, 5, 4), "float32"))
