"""The registry: list_models, create_model, model_info, register_model."""

import json
import os
import warnings

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models import registry

MANIFEST = os.path.join(os.path.dirname(__file__), "..", "..", "saved_models", "manifest.json")
TABLE = {
    "mlp", "lenet5", "lenet", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn",
    "vgg13_bn", "vgg16_bn", "vgg19_bn", "googlenet", "inception_v3", "resnet18", "resnet34",
    "resnet50", "resnet101", "resnet152", "resnet20", "resnet32", "resnet44", "resnet56",
    "resnet110", "maxout_net",
}


def test_list_models_has_the_table_sorted():
    names = kzoo.list_models()
    assert names == sorted(names)
    assert TABLE <= set(names)
    assert kzoo.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert kzoo.list_models("resnet1?") == ["resnet18"]
    assert kzoo.list_models("nothing*") == []


def test_unknown_name_lists_closest_names():
    with pytest.raises(ValueError, match=r"Closest names: .*resnet50.*Received: name='resnet05'"):
        kzoo.create_model("resnet05")
    with pytest.raises(ValueError, match="vgg16"):
        kzoo.model_info("vgg61")


def test_model_info():
    info = kzoo.model_info("lenet")
    assert info["family"] == "lenet"
    assert info["params"] == 431_080
    # conv1 24·24·20·25, conv2 8·8·50·500, fc 800·500 + 500·10 multiply-adds, doubled.
    assert info["flops"] == 2 * (24 * 24 * 20 * 25 + 8 * 8 * 50 * 500 + 800 * 500 + 500 * 10)
    assert info["default_input_shape"] == (28, 28, 1)
    assert info["min_input_size"] == 16
    assert "LeCun" in info["reference"]
    # No ImageNet file for LeNet; the zoo's own checkpoints, as the manifest file lists them
    # (the shipped one at least: `kzoo publish` may have added others to the working tree).
    with open(MANIFEST) as f:
        tags = {e.get("tag", e["dataset"]) for e in json.load(f)["checkpoints"]
                if e["architecture"] == "lenet"}
    assert "fashion_mnist" in info["weights"] and set(info["weights"]) <= tags
    assert info["imagenet_top1"] is None  # no "imagenet" weights, no published top-1
    resnet50 = kzoo.model_info("resnet50")
    assert resnet50["weights"][0] == "imagenet" and resnet50["imagenet_top1"] == 74.9


# keras.applications' published top-1 (%) of each "imagenet" file: its table at
# keras.io/api/applications, and for MobileNetV3 the float alpha=1.0 rows of the docstring
# of keras/src/applications/mobilenet_v3.py.
TOP1 = {
    "vgg16": 71.3, "vgg19": 71.3, "resnet50": 74.9, "resnet101": 76.4, "resnet152": 76.6,
    "inception_v3": 77.9, "mobilenet": 70.4, "mobilenet_v2": 71.3,
    "mobilenet_v3_small": 68.1, "mobilenet_v3_large": 75.6,
    "efficientnet_b0": 77.1, "efficientnet_b1": 79.1, "efficientnet_b2": 80.1,
    "efficientnet_b3": 81.6, "efficientnet_b4": 82.9, "efficientnet_b5": 83.6,
    "efficientnet_b6": 84.0, "efficientnet_b7": 84.3,
    "efficientnet_v2_b0": 78.7, "efficientnet_v2_b1": 79.8, "efficientnet_v2_b2": 80.5,
    "efficientnet_v2_b3": 82.0, "efficientnet_v2_s": 83.9, "efficientnet_v2_m": 85.3,
    "efficientnet_v2_l": 85.7,
    "resnet50_v2": 76.0, "resnet101_v2": 77.2, "resnet152_v2": 78.0,
    "densenet121": 75.0, "densenet169": 76.2, "densenet201": 77.3,
    "xception": 79.0, "inception_resnet_v2": 80.3, "nasnet_mobile": 74.4, "nasnet_large": 82.5,
    "convnext_tiny": 81.3, "convnext_small": 82.3, "convnext_base": 85.3, "convnext_large": 86.3,
    "convnext_xlarge": 86.7,
}


def test_every_model_with_imagenet_weights_has_its_published_top1():
    # From the registry entries (model_info would build every model): a top-1 exactly where
    # there are "imagenet" weights, each the published number.
    top1 = {name: registry.get_entry(name).top1 for name in kzoo.list_models()}
    with_imagenet = {name for name in top1 if "imagenet" in registry.get_entry(name).weights}
    assert with_imagenet == set(TOP1)
    assert {name: value for name, value in top1.items() if value is not None} == TOP1


@pytest.mark.parametrize("top1", [0, 100.5, -3.0, True, "77.1"])
def test_register_model_refuses_a_top1_that_is_no_percentage(top1):
    with pytest.raises(ValueError, match=r"Argument `top1`.*Received: top1="):
        kzoo.models.register_model(family="custom", top1=top1)


def test_register_custom_model_duplicate_warns_and_roundtrips(tmp_path):
    try:
        @kzoo.models.register_model(family="custom", default_input_shape=(8, 8, 1),
                                    min_input_size=4)
        def tiny_cnn(*, input_shape=(8, 8, 1), classes=3, conv_impl="native", **kwargs):
            inputs = keras.Input(input_shape)
            x = kzoo.layers.Conv2D(4, 3, implementation=conv_impl)(inputs)
            x = keras.layers.Flatten()(x)
            return keras.Model(inputs, kzoo.layers.Affine(classes)(x))

        assert "tiny_cnn" in kzoo.list_models("tiny*")
        model = kzoo.create_model("tiny_cnn", classes=2)
        assert model.output.shape == (None, 2)
        info = kzoo.model_info("tiny_cnn")
        assert info["family"] == "custom" and info["imagenet_top1"] is None
        path = tmp_path / "tiny.keras"
        model.save(path)
        x = np.ones((1, 8, 8, 1), "float32")
        np.testing.assert_allclose(keras.saving.load_model(path)(x), model(x), atol=1e-6)

        with pytest.warns(UserWarning, match="already registered"):
            kzoo.models.register_model(tiny_cnn, name="tiny_cnn")
    finally:
        kzoo.models.unregister_model("tiny_cnn")
    assert "tiny_cnn" not in kzoo.list_models()
    with pytest.raises(ValueError, match="Received: name='tiny_cnn'"):
        kzoo.models.unregister_model("tiny_cnn")


def test_create_model_passes_name_to_the_builder():
    # The registry's own first parameter is positional-only: `name=` is the model's name.
    assert kzoo.create_model("lenet", name="mynet").name == "mynet"


def test_builders_take_keyword_arguments_only():
    with pytest.raises(TypeError):
        registry.get_entry("lenet").builder(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kzoo.create_model("lenet", include_top=False, pooling="avg")


#: Every keras.applications model -> its registered kzoo twin.
KERAS_APPLICATIONS = {
    "VGG16": "vgg16", "VGG19": "vgg19", "Xception": "xception",
    "ResNet50": "resnet50", "ResNet101": "resnet101", "ResNet152": "resnet152",
    "ResNet50V2": "resnet50_v2", "ResNet101V2": "resnet101_v2", "ResNet152V2": "resnet152_v2",
    "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2",
    "MobileNet": "mobilenet", "MobileNetV2": "mobilenet_v2",
    "MobileNetV3Small": "mobilenet_v3_small", "MobileNetV3Large": "mobilenet_v3_large",
    "DenseNet121": "densenet121", "DenseNet169": "densenet169", "DenseNet201": "densenet201",
    "NASNetMobile": "nasnet_mobile", "NASNetLarge": "nasnet_large",
    **{f"EfficientNetB{i}": f"efficientnet_b{i}" for i in range(8)},
    **{f"EfficientNetV2B{i}": f"efficientnet_v2_b{i}" for i in range(4)},
    **{f"EfficientNetV2{s}": f"efficientnet_v2_{s.lower()}" for s in "SML"},
    **{f"ConvNeXt{s}": f"convnext_{s.lower()}" for s in ("Tiny", "Small", "Base", "Large",
                                                         "XLarge")},
}


def test_every_keras_applications_model_has_a_registered_twin_with_its_weights():
    available = {name for name in dir(keras.applications) if name[0].isupper()}
    assert available == set(KERAS_APPLICATIONS)  # a model keras adds fails here
    registered = set(kzoo.list_models())
    assert not set(KERAS_APPLICATIONS.values()) - registered
    for keras_name, name in KERAS_APPLICATIONS.items():
        entry = registry.get_entry(name)
        assert "imagenet" in entry.weights, name
