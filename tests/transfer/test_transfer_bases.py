"""load_base(): zoo checkpoint names, model names with weights, .keras files, run directories."""

import hashlib
import json
import os

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models import pretrained


def _file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _shipped_lenet():
    entry = next(e for e in pretrained.read_manifest() if e["name"] == "lenet_fashion_mnist")
    return entry, os.path.join(pretrained.shipped_root(), entry["file"])


def test_zoo_checkpoint_name(lenet_features, pixels):
    base, info = kzoo.transfer.load_base("lenet_fashion_mnist")
    entry, path = _shipped_lenet()
    assert info == {"source": "lenet_fashion_mnist", "kind": "checkpoint",
                    "architecture": "lenet", "weights": "fashion_mnist",
                    "sha256": _file_sha256(path)}
    np.testing.assert_array_equal(base.predict(pixels, verbose=0),
                                  lenet_features.predict(pixels, verbose=0))


def test_model_name_with_a_tag(lenet_features, pixels):
    base, info = kzoo.transfer.load_base("lenet", weights="fashion_mnist")
    assert info["kind"] == "model" and info["weights"] == "fashion_mnist"
    assert info["sha256"] == _file_sha256(_shipped_lenet()[1])
    np.testing.assert_array_equal(base.predict(pixels, verbose=0),
                                  lenet_features.predict(pixels, verbose=0))


def test_keras_file_and_run_directory(tmp_path, pixels):
    with_top = kzoo.create_model("lenet", weights="fashion_mnist")
    run = os.path.join(tmp_path, "run")
    os.makedirs(run)
    path = os.path.join(run, "model.keras")
    with_top.save(path)
    # What kzoo.training.run_dir recognizes as a run: kzoo's run.json.
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump({"kzoo": kzoo.__version__, "config": {"model": "lenet"}}, f)
    expected = with_top.predict(pixels, verbose=0)
    for source, kind in ((path, "keras_file"), (run, "run")):
        base, info = kzoo.transfer.load_base(source)
        assert info["kind"] == kind and info["source"] == source
        assert info["sha256"] == _file_sha256(path)
        np.testing.assert_array_equal(base.predict(pixels, verbose=0), expected)
    # A loaded base keeps its top; classifier cuts it.
    model = kzoo.transfer.classifier(base, 4)
    assert "fc1" not in [layer.name for layer in model.layers]


def test_a_keras_model_passes_through():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    base, info = kzoo.transfer.load_base(model)
    assert base is model and info["kind"] == "keras_model" and info["sha256"] is None


@pytest.mark.parametrize("source, weights, match", [
    ("lenet_mnist", None, "not a zoo checkpoint name.*'lenet_fashion_mnist', "
                          "(.*, )?'resnet20_fashion_mnist'.*Received: source='lenet_mnist'"),
    ("lenet", None, "model name, which needs weights=.*'fashion_mnist'"),
    ("lenet_fashion_mnist", "imagenet", "zoo checkpoint: `weights` does not apply"),
    ("missing.keras", None, "names a .keras file that does not exist"),
    ("missing.keras", "fashion_mnist", "applies to model names only"),
    (3, None, "neither a name nor a path"),
])
def test_bad_sources(source, weights, match):
    with pytest.raises(ValueError, match=match):
        kzoo.transfer.load_base(source, weights=weights)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a zoo checkpoint name, a model name"):
        kzoo.transfer.load_base(str(tmp_path))
