"""ResNet-9 (Page 2018): its parameter count from the layer table, and its outputs against
the same network written with plain Keras layers."""

import keras
import numpy as np
import pytest

import kzoo


def page_parameter_count(width, channels=3, classes=10):
    """Trainable parameters of Page's table, and Keras's count (BatchNorm statistics too)."""
    w = width
    convs = [(channels, w), (w, 2 * w), (2 * w, 2 * w), (2 * w, 2 * w), (2 * w, 4 * w),
             (4 * w, 8 * w), (8 * w, 8 * w), (8 * w, 8 * w)]
    kernels = sum(9 * cin * cout for cin, cout in convs)  # 3×3, no bias
    bn_channels = sum(cout for _, cout in convs)
    classifier = 8 * w * classes  # no bias
    trainable = kernels + 2 * bn_channels + classifier
    return trainable, trainable + 2 * bn_channels


def test_paper_width_counts_what_page_publishes():
    model = kzoo.create_model("resnet9")
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    # Page's ResNet-9: 6.57M parameters (PyTorch counts trainable ones).
    assert (trainable, model.count_params()) == page_parameter_count(64) == (6_573_120,
                                                                             6_577_600)


@pytest.mark.parametrize("width,shape", [(16, (28, 28, 1)), (8, (32, 32, 3))])
def test_narrow_counts_follow_the_layer_table(width, shape):
    model = kzoo.create_model("resnet9", input_shape=shape, width=width)
    assert model.count_params() == page_parameter_count(width, shape[-1])[1]


def plain_keras_resnet9(width, shape, classes):
    """Page's network in keras.layers only: the independent reference."""
    def conv_bn(x, f):
        x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(epsilon=1e-3)(x)
        return keras.layers.ReLU()(x)

    inputs = keras.Input(shape)
    x = conv_bn(inputs, width)
    x = keras.layers.MaxPooling2D(2)(conv_bn(x, 2 * width))
    x = x + conv_bn(conv_bn(x, 2 * width), 2 * width)
    x = keras.layers.MaxPooling2D(2)(conv_bn(x, 4 * width))
    x = keras.layers.MaxPooling2D(2)(conv_bn(x, 8 * width))
    x = x + conv_bn(conv_bn(x, 8 * width), 8 * width)
    x = keras.layers.GlobalMaxPooling2D()(x)
    x = keras.layers.Dense(classes, use_bias=False)(x) * 0.125
    return keras.Model(inputs, keras.layers.Softmax()(x))


@pytest.mark.parametrize("conv_impl", ["native", "im2col"])
def test_outputs_equal_page_network_in_plain_keras(conv_impl):
    rng = np.random.default_rng(0)
    model = kzoo.create_model("resnet9", input_shape=(16, 16, 3), classes=5, width=4,
                              conv_impl=conv_impl)
    reference = plain_keras_resnet9(4, (16, 16, 3), 5)
    weights = [w for w in model.weights]
    ref_weights = reference.weights
    assert [tuple(w.shape) for w in weights] == [tuple(w.shape) for w in ref_weights]
    # Random BatchNorm statistics and affine parameters, so inference mode is tested too.
    values = [rng.normal(size=w.shape).astype("float32") for w in weights]
    values = [np.abs(v) + 0.5 if "variance" in w.path else v for v, w in zip(values, weights)]
    model.set_weights(values)
    reference.set_weights(values)
    x = rng.uniform(0, 1, (3, 16, 16, 3)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(model(x, training=training), reference(x, training=training),
                                   rtol=1e-4, atol=1e-5)


def test_width_must_be_a_positive_int():
    for width in (0, 2.0, True, "16"):
        with pytest.raises(ValueError, match="`width` must be an int >= 1.*width="):
            kzoo.create_model("resnet9", width=width)
