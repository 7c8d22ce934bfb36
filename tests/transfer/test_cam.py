"""kzoo.transfer.class_activation_map: CAM and Grad-CAM against their formulas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.transfer.cam import cam_method, class_activation_map


def _gap_model(*, separate_softmax=False):
    """conv → conv → global average → dropout → Dense(5): a CAM head of Keras layers."""
    inputs = keras.Input((12, 10, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 3, name="last_conv")(x)  # (8, 6, 6), signed
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    if separate_softmax:
        x = keras.layers.Dense(5, name="scores")(x)
        x = keras.layers.Softmax()(x)
    else:
        x = keras.layers.Dense(5, activation="softmax", name="scores")(x)
    return keras.Model(inputs, x)


def _cam_by_formula(features, kernel, classes):
    """Zhou et al. 2016: M_c(x, y) = Σ_k W[k, c] · f_k(x, y), per image."""
    return np.einsum("nhwk,kn->nhw", features, kernel[:, classes])


def test_cam_is_the_formula_of_zhou_et_al(rng):
    model = _gap_model()
    images = rng.normal(size=(5, 12, 10, 3)).astype("float32")
    features = keras.Model(model.inputs[0], model.get_layer("last_conv").output).predict(
        images, verbose=0)
    kernel = model.get_layer("scores").get_weights()[0]  # (6, 5)
    top1 = model.predict(images, verbose=0).argmax(-1)
    assert cam_method(model) == "cam"
    for class_index, classes in ((None, top1), (3, np.full(5, 3)),
                                 ([0, 1, 2, 3, 4], np.arange(5))):
        maps = class_activation_map(model, images, class_index)
        expected = _cam_by_formula(features, kernel, classes)
        assert maps.shape == (5, 8, 6) and maps.dtype == np.float32
        np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    assert (maps < 0).any()  # raw CAM: not clipped by default


@pytest.mark.heavy
def test_cam_of_the_shipped_resnet20_averages_to_its_logits(rng):
    # The zoo's checkpoint: avg_pool + predictions (kzoo Affine, softmax), raw pixels in.
    model = kzoo.create_model("resnet20", weights="fashion_mnist")
    images = rng.uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    features = keras.Model(model.inputs[0], model.get_layer("stage3_block3_out").output).predict(
        images, verbose=0)
    kernel, bias = model.get_layer("predictions").get_weights()
    assert cam_method(model) == "cam"
    maps = class_activation_map(model, images, [0, 4, 9])
    assert maps.shape == (3, 7, 7)
    np.testing.assert_allclose(maps, _cam_by_formula(features, kernel, [0, 4, 9]),
                               rtol=1e-5, atol=1e-5)
    # The bias is not in the map: mean(M_c) + b_c is the class score, before the softmax.
    all_maps = np.stack([class_activation_map(model, images, c) for c in range(10)], -1)
    logits = all_maps.mean(axis=(1, 2)) + bias
    np.testing.assert_allclose(tf.nn.softmax(logits), model.predict(images, verbose=0),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("separate_softmax", [False, True])
def test_grad_cam_of_a_gap_head_is_relu_cam_over_hw(rng, separate_softmax):
    # ∂y_c/∂A_k(x, y) = W[k, c] / (h·w), so α_k = W[k, c] / (h·w): Grad-CAM = ReLU(CAM) / (h·w).
    model = _gap_model(separate_softmax=separate_softmax)
    images = rng.normal(size=(4, 12, 10, 3)).astype("float32")
    cam = class_activation_map(model, images, [1, 2, 3, 4])
    grad_cam = class_activation_map(model, images, [1, 2, 3, 4], method="grad-cam")
    assert grad_cam.shape == cam.shape == (4, 8, 6)
    np.testing.assert_allclose(grad_cam, np.maximum(cam, 0) / (8 * 6), rtol=1e-4, atol=1e-7)
    # so they are proportional with a positive constant: equal after normalizing.
    np.testing.assert_allclose(
        class_activation_map(model, images, [1, 2, 3, 4], method="grad-cam", normalize=True),
        class_activation_map(model, images, [1, 2, 3, 4], normalize=True), atol=1e-5)


def test_lenet_uses_grad_cam_at_its_last_pool_resolution(rng):
    model = kzoo.create_model("lenet", weights="fashion_mnist")  # flatten → fc1 → predictions
    images = rng.uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    assert cam_method(model) == "grad-cam"
    maps = class_activation_map(model, images)
    assert maps.shape == (3, 4, 4) and maps.dtype == np.float32  # block2_pool is 4×4×50

    # Grad-CAM by its formula, the head written out: y = relu(flatten(A) W1 + b1) W2 + b2.
    features = keras.Model(model.inputs[0], model.get_layer("block2_pool").output)(images)
    w1, b1 = model.get_layer("fc1").get_weights()
    w2, b2 = model.get_layer("predictions").get_weights()
    a = tf.Variable(features)
    with tf.GradientTape() as tape:
        logits = tf.nn.relu(tf.reshape(a, (3, -1)) @ w1 + b1) @ w2 + b2
        top1 = tf.argmax(logits, -1)
        score = tf.reduce_sum(tf.gather(logits, top1, axis=1, batch_dims=1))
    alpha = tf.reduce_mean(tape.gradient(score, a), axis=(1, 2))
    expected = np.maximum(np.einsum("nhwk,nk->nhw", features, alpha), 0)
    np.testing.assert_array_equal(top1, model.predict(images, verbose=0).argmax(-1))
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-4 * expected.max())

    shown = class_activation_map(model, images, upsample=True, normalize=True)
    assert shown.shape == (3, 28, 28)
    assert shown.min() >= 0 and np.allclose(shown.max(axis=(1, 2)), 1)


def test_the_model_is_left_as_it_was_and_frozen_models_work(rng):
    model = kzoo.create_model("lenet", weights="fashion_mnist")
    images = rng.uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    before = model.predict(images, verbose=0)
    weights = [w.path for w in model.weights]
    maps = class_activation_map(model, images)
    assert model.get_layer("predictions").activation is keras.activations.softmax
    assert [w.path for w in model.weights] == weights
    np.testing.assert_array_equal(model.predict(images, verbose=0), before)
    model.trainable = False  # no trainable variable left for a tape to watch by itself
    np.testing.assert_allclose(class_activation_map(model, images), maps, rtol=1e-6)


def test_errors_name_the_argument(rng):
    lenet = kzoo.create_model("lenet")
    images = rng.uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    mlp = kzoo.create_model("mlp", input_shape=(28, 28, 1), hidden_units=[16])

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    for model in (mlp, Subclassed(), "lenet"):
        with pytest.raises(ValueError, match="Argument `model`.*Received"):
            class_activation_map(model, images)
    with pytest.raises(ValueError, match="no convolutional feature map"):
        cam_method(mlp)
    for bad in (10, -1, [0, 1, 2], 2.0, [0.5, 1.0], True):
        with pytest.raises(ValueError, match="Argument `class_index`.*Received"):
            class_activation_map(lenet, images, bad)
    for bad in (images[0], images[:, :20], np.zeros((0, 28, 28, 1)), images[..., [0, 0, 0]]):
        with pytest.raises(ValueError, match="Argument `images`.*Received"):
            class_activation_map(lenet, bad)
    with pytest.raises(ValueError, match="Argument `method`.*Received: method='cam'"):
        class_activation_map(lenet, images, method="cam")
    with pytest.raises(ValueError, match="Argument `method`"):
        class_activation_map(lenet, images, method="gradcam")


def test_public_names():
    assert kzoo.transfer.class_activation_map is class_activation_map
    assert kzoo.transfer.cam_method is cam_method
