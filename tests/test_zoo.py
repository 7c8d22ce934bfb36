"""The zoo's shipped checkpoints: manifest accuracy on the real test set, sha256 checks."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

import kzoo
from kzoo import zoo

ENTRIES = zoo.read_manifest()
FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_manifest_lists_what_the_issue_requires():
    accuracy = {e["name"]: e["test_accuracy"] for e in ENTRIES}
    assert accuracy["lenet_fashion_mnist"] >= 0.91
    assert accuracy["resnet20_fashion_mnist"] >= 0.93
    for entry in ENTRIES:
        for key in ("name", "architecture", "dataset", "input_shape", "class_names",
                    "test_accuracy", "params", "file", "sha256", "command"):
            assert key in entry, (entry["name"], key)
        assert entry["command"].startswith(f"kzoo train {entry['architecture']} ")
        assert len(entry["class_names"]) == kzoo.data.info(entry["dataset"])["num_classes"]


@pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_shipped_checkpoint_reaches_its_manifest_accuracy(entry):
    path = zoo.verified_checkpoint_path(entry)
    result = zoo.evaluate_model_file(path, entry["dataset"])
    assert result["examples"] == 10000
    assert abs(result["accuracy"] - entry["test_accuracy"]) <= 0.005
    model = keras.saving.load_model(path)
    assert model.count_params() == entry["params"]


@pytest.fixture
def copied_zoo(tmp_path, monkeypatch):
    """A private copy of the lenet checkpoint and its manifest entry."""
    entry = next(e for e in ENTRIES if e["name"] == "lenet_fashion_mnist")
    shutil.copy(os.path.join(zoo.saved_models_root(), entry["file"]), tmp_path)
    zoo.write_manifest([entry], str(tmp_path))
    monkeypatch.setenv("KZOO_SAVED_MODELS", str(tmp_path))
    return tmp_path, entry


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_create_model_with_zoo_weights_equals_the_checkpoint(entry):
    model = kzoo.create_model(entry["architecture"], weights=entry["dataset"])
    shipped = keras.saving.load_model(zoo.verified_checkpoint_path(entry))
    pixels = np.random.default_rng(0).integers(0, 256, (4, *entry["input_shape"]))
    pixels = pixels.astype("float32")
    np.testing.assert_allclose(model.predict(pixels, verbose=0),
                               shipped.predict(pixels, verbose=0), atol=1e-5)
    # Headless, for fine-tuning: the features come out of the same weights.
    features = kzoo.create_model(entry["architecture"], weights=entry["dataset"],
                                 include_top=False)
    assert features.output_shape[-1] != len(entry["class_names"])


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_changed_or_truncated_checkpoint_is_refused(copied_zoo, damage):
    root, entry = copied_zoo
    path = os.path.join(root, entry["file"])
    data = bytearray(open(path, "rb").read())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(zoo.ChecksumError, match="sha256"):
        kzoo.create_model("lenet", weights="fashion_mnist")


def test_unknown_zoo_weights_name_is_a_value_error(copied_zoo):
    with pytest.raises(ValueError, match="Received"):
        kzoo.create_model("lenet", weights="cifar10")


def test_read_image_resizes_and_converts_like_the_luma_formula(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = str(tmp_path / "x.png")
    Image.fromarray(rgb).save(path)
    pixels, original = zoo.read_image(path, (6, 10), 1, return_original=True)
    assert original == (6, 10, "RGB") and pixels.shape == (6, 10, 1)
    luma = rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, what PIL's "L" uses
    np.testing.assert_allclose(pixels[..., 0], luma, atol=1.0)
    assert zoo.read_image(path, (3, 5), 3).shape == (3, 5, 3)
    assert zoo.read_image(path, (None, None), 3).shape == (6, 10, 3)  # free input size
    with pytest.raises(ValueError, match="channels=4"):
        zoo.read_image(path, (6, 10), 4)
