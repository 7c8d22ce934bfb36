"""classifier(): the head's layers, the cut of a base's top, input adaptation, errors."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.models.features import find_stages


def test_head_layer_names_types_and_shapes():
    base = kzoo.create_model("resnet20", include_top=False, input_shape=(32, 32, 3))
    model = kzoo.transfer.classifier(base, 7, dropout=0.25, hidden_units=12)
    head = model.layers[-4:]
    assert [layer.name for layer in head] == ["pooler", "hidden", "output_dropout", "predictions"]
    assert [type(layer) for layer in head] == [keras.layers.GlobalAveragePooling2D,
                                               keras.layers.Dense, keras.layers.Dropout,
                                               keras.layers.Dense]
    assert [tuple(layer.output.shape) for layer in head] == [(None, 64), (None, 12), (None, 12),
                                                            (None, 7)]
    assert model.get_layer("hidden").activation is keras.activations.relu
    assert model.get_layer("predictions").activation is keras.activations.softmax
    assert model.get_layer("output_dropout").rate == 0.25
    # The base's feature map feeds the pooler; the model is its layers plus the head.
    assert model.get_layer("pooler").input is base.output
    assert [layer.name for layer in model.layers[:-4]] == [layer.name for layer in base.layers]


@pytest.mark.parametrize("pooling, layer_type, width", [
    ("avg", keras.layers.GlobalAveragePooling2D, 50),
    ("max", keras.layers.GlobalMaxPooling2D, 50),
    ("flatten", keras.layers.Flatten, 4 * 4 * 50),
])
def test_poolers(lenet_features, pooling, layer_type, width):
    model = kzoo.transfer.classifier(lenet_features, 3, pooling=pooling, activation=None)
    assert type(model.get_layer("pooler")) is layer_type
    assert tuple(model.get_layer("pooler").output.shape) == (None, width)
    assert [layer.name for layer in model.layers[-3:]] == ["pooler", "output_dropout",
                                                           "predictions"]
    assert model.get_layer("output_dropout").rate == 0.0
    assert model.get_layer("predictions").activation is keras.activations.linear


def test_reuses_the_base_layers_in_one_flat_model(lenet_features):
    model = kzoo.transfer.classifier(lenet_features, 3, name="digits")
    assert model.name == "digits"
    assert model.get_layer("block1_conv") is lenet_features.get_layer("block1_conv")
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    # Shared weights: the classifier trains the base's own variables.
    assert model.get_layer("block2_conv").kernel is lenet_features.get_layer("block2_conv").kernel


def test_lenet_with_top_is_cut_at_the_headless_checkpoints_output(lenet_features, pixels):
    with_top = kzoo.create_model("lenet", weights="fashion_mnist")
    model = kzoo.transfer.classifier(with_top, 5, pooling="flatten")
    # The cut is where the checkpoint's include_top=False model ends: block2_pool.
    assert [layer.name for layer in model.layers[:-3]] == [l.name for l in lenet_features.layers]
    assert "fc1" not in [layer.name for layer in model.layers]
    features = keras.Model(model.inputs, model.get_layer("pooler").input)
    np.testing.assert_array_equal(features.predict(pixels, verbose=0),
                                  lenet_features.predict(pixels, verbose=0))
    assert model.predict(pixels, verbose=0).shape == (4, 5)


@pytest.mark.parametrize("include_top", [True, False])
def test_keras_applications_resnet50(include_top, rng):
    base = keras.applications.ResNet50(weights=None, include_top=include_top,
                                       input_shape=(64, 64, 3))
    model = kzoo.transfer.classifier(base, 3, dropout=0.1)
    assert model.get_layer("conv2_block1_1_conv") is base.get_layer("conv2_block1_1_conv")
    assert model.get_layer("pooler").input is base.get_layer("conv5_block3_out").output
    assert "avg_pool" not in [layer.name for layer in model.layers]
    x = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 3)


def test_grey_input_on_rgb_base_equals_the_repeated_grey_image(rng, capsys):
    base = kzoo.create_model("resnet20", input_shape=(32, 32, 3), classes=10)
    stem = base.get_layer("stem_conv").kernel.numpy().copy()
    model = kzoo.transfer.classifier(base, 4, input_shape=(32, 32, 1))
    assert "kzoo: classifier: input (32, 32, 1)" in capsys.readouterr().err
    assert [layer.name for layer in model.layers[:3]] == ["pixels", "input_channels",
                                                          base.layers[1].name]
    grey = rng.uniform(0, 1, (3, 32, 32, 1)).astype("float32")
    pooled = keras.Model(model.inputs, model.get_layer("pooler").output)
    reference = keras.Model(base.inputs, base.get_layer("avg_pool").output)
    np.testing.assert_allclose(pooled.predict(grey, verbose=0),
                               reference.predict(np.repeat(grey, 3, axis=-1), verbose=0),
                               rtol=1e-5, atol=1e-6)
    # The base's first convolution is not re-initialized (nor summed to one channel).
    np.testing.assert_array_equal(model.get_layer("stem_conv").kernel.numpy(), stem)


def test_rgb_input_on_grey_base_is_the_itu_r_601_luma(lenet_features, rng):
    model = kzoo.transfer.classifier(lenet_features, 3, input_shape=(28, 28, 3),
                                     pooling="flatten")
    rgb = rng.uniform(0, 255, (3, 28, 28, 3)).astype("float32")
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])[..., None]
    features = keras.Model(model.inputs, model.get_layer("pooler").output)
    np.testing.assert_allclose(features.predict(rgb, verbose=0),
                               lenet_features.predict(luma, verbose=0).reshape(3, -1),
                               rtol=1e-5, atol=1e-3)


def test_other_size_is_resized_and_stages_follow_the_models_own_graph(lenet_features, rng):
    model = kzoo.transfer.classifier(lenet_features, 3, input_shape=(14, 14, 1),
                                     pooling="flatten")
    small = rng.uniform(0, 255, (2, 14, 14, 1)).astype("float32")
    resized = tf.image.resize(small, (28, 28), method="bilinear").numpy()
    features = keras.Model(model.inputs, model.get_layer("pooler").output)
    np.testing.assert_allclose(features.predict(small, verbose=0),
                               lenet_features.predict(resized, verbose=0).reshape(2, -1),
                               rtol=1e-5, atol=1e-3)
    # The base's layers now belong to two graphs; stages are read from the classifier's.
    stages = {s["name"]: s for s in find_stages(model)}
    assert stages["block2_pool"]["shape"] == (4, 4, 50)
    extractor = kzoo.models.feature_extractor(model, stages=["block2_conv"])
    assert extractor.predict(small, verbose=0).shape == (2, 8, 8, 50)


def test_converted_classifier_round_trips_a_keras_file(lenet_features, rng, tmp_path):
    model = kzoo.transfer.classifier(lenet_features, 3, input_shape=(16, 16, 3))
    x = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    path = os.path.join(tmp_path, "converted.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("input_channels"), kzoo.transfer.ConvertChannels)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": 0}, "`classes` must be a positive int. Received: classes=0"),
    ({"classes": 2.5}, "Received: classes=2.5"),
    ({"classes": True}, "Received: classes=True"),
    ({"pooling": "mean"}, "`pooling` must be one of .* Received: pooling='mean'"),
    ({"dropout": 1.0}, "`dropout` must be a rate in \\[0, 1\\). Received: dropout=1.0"),
    ({"dropout": -0.1}, "Received: dropout=-0.1"),
    ({"hidden_units": 0}, "Received: hidden_units=0"),
    ({"input_shape": (28, 28, 2)}, "`input_shape`.*2-channel.*Received: input_shape"),
    ({"input_shape": (28, 28, 4)}, "`input_shape`.*4-channel.*Received: input_shape"),
    ({"input_shape": (28, 28)}, "`input_shape` must be.*Received: input_shape=\\(28, 28\\)"),
])
def test_bad_arguments(lenet_features, kwargs, match):
    kwargs = {"classes": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        kzoo.transfer.classifier(lenet_features, **kwargs)


def test_rgb_base_refuses_two_and_four_channels():
    base = kzoo.create_model("resnet20", include_top=False, input_shape=(32, 32, 3))
    for channels in (2, 4):
        with pytest.raises(ValueError, match=f"{channels}-channel input cannot be converted"):
            kzoo.transfer.classifier(base, 3, input_shape=(32, 32, channels))


def test_bases_without_image_features_are_refused():
    with pytest.raises(ValueError, match="`base` must be a keras.Model"):
        kzoo.transfer.classifier("lenet", 3)
    flat = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="`base` must take one 4-D image input"):
        kzoo.transfer.classifier(flat, 3)
    mlp = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="`base` has no feature layers"):
        kzoo.transfer.classifier(mlp, 3)
