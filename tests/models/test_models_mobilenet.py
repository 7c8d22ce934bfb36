"""MobileNet V1 and V2 against keras.applications: counts, names, legacy files, ImageNet URLs."""

import warnings

import keras
import numpy as np
import pytest
from keras.src.applications import mobilenet as keras_mobilenet
from keras.src.applications import mobilenet_v2 as keras_mobilenet_v2

import kzoo
from kzoo.models import weights as weight_files
from model_helpers import (assert_imagenet_refused, layer_table, randomize_statistics,
                           write_legacy_h5)

KERAS_BUILDERS = {"mobilenet": keras.applications.MobileNet,
                  "mobilenet_v2": keras.applications.MobileNetV2}
ATOL = 1e-4


# Secondary widths and sizes are heavy (the default run stays under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs them.
@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet", {"alpha": 1.0}),
    pytest.param("mobilenet", {"alpha": 0.5}, marks=pytest.mark.heavy),
    pytest.param("mobilenet", {"alpha": 1.0, "include_top": False}, marks=pytest.mark.heavy),
    ("mobilenet", {"alpha": 1.0, "depth_multiplier": 2}),
    ("mobilenet", {"alpha": 0.5, "depth_multiplier": 2, "include_top": False, "pooling": "avg"}),
    ("mobilenet_v2", {"alpha": 1.0}),
    pytest.param("mobilenet_v2", {"alpha": 0.5}, marks=pytest.mark.heavy),
    pytest.param("mobilenet_v2", {"alpha": 1.0, "include_top": False}, marks=pytest.mark.heavy),
    ("mobilenet_v2", {"alpha": 0.5, "include_top": False, "pooling": "max"}),
    ("mobilenet_v2", {"alpha": 1.4}),  # alpha > 1 widens the last convolution
    pytest.param("mobilenet_v2", {"alpha": 0.35, "include_top": False}, marks=pytest.mark.heavy),
])
def test_same_layers_and_parameter_count_as_keras_applications(name, kwargs):
    # Counts do not depend on the input size (the head pools globally): build small.
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    keras.backend.clear_session(free_memory=False)  # both built in a fresh session: the same automatic names
    expected = KERAS_BUILDERS[name](weights=None, **kwargs)
    expected_table = layer_table(expected)
    keras.backend.clear_session(free_memory=False)  # the same fresh-session names for the unnamed layers
    model = kzoo.create_model(name, **kwargs)
    assert model.count_params() == expected.count_params()
    assert layer_table(model) == expected_table
    assert model.name == expected.name


def _legacy_file_proof(tmp_path, rng, name, **kwargs):
    reference = randomize_statistics(KERAS_BUILDERS[name](weights=None, **kwargs))
    path = write_legacy_h5(reference, tmp_path / f"{name}.h5")
    model = kzoo.create_model(name, weights=path, **kwargs)
    x = rng.uniform(-1, 1, (2, *reference.input_shape[1:])).astype("float32")
    expected = np.asarray(reference(x, training=False))
    actual = np.asarray(model(x, training=False))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL)
    print(f"{name} {kwargs}: max |kzoo - keras| = {np.abs(actual - expected).max():.3g}")


@pytest.mark.parametrize("name, kwargs", [
    pytest.param("mobilenet", {"alpha": 0.5, "input_shape": (64, 64, 3)}, marks=pytest.mark.heavy),
    ("mobilenet", {"depth_multiplier": 2, "include_top": False, "input_shape": (64, 64, 3)}),
    # An odd size takes keras.applications' other padding (correct_pad) before strided layers.
    ("mobilenet_v2", {"alpha": 0.5, "input_shape": (65, 65, 3)}),
    pytest.param("mobilenet_v2",
                 {"include_top": False, "pooling": "avg", "input_shape": (64, 64, 3)},
                 marks=pytest.mark.heavy),
])
def test_keras_applications_legacy_file_gives_the_same_predictions(tmp_path, rng, name, kwargs):
    _legacy_file_proof(tmp_path, rng, name, **kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet", {"alpha": 0.5, "depth_multiplier": 2, "input_shape": (32, 32, 3)}),
    ("mobilenet_v2", {"alpha": 0.5, "input_shape": (33, 33, 3)}),
])
def test_im2col_matches_native(rng, name, kwargs):
    native = randomize_statistics(kzoo.create_model(name, classes=5, **kwargs))
    im2col = kzoo.create_model(name, classes=5, conv_impl="im2col", **kwargs)
    im2col.set_weights(native.get_weights())
    assert {layer.implementation for layer in im2col.layers
            if hasattr(layer, "implementation")} == {"im2col"}
    x = rng.uniform(-1, 1, (2, *kwargs["input_shape"])).astype("float32")
    np.testing.assert_allclose(im2col(x, training=False), native(x, training=False), atol=1e-5)


def _keras_file_request(name, monkeypatch, **kwargs):
    """The (file name, URL, cache folder, hash) keras.applications fetches for `kwargs`."""
    module = keras_mobilenet if name == "mobilenet" else keras_mobilenet_v2
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise StopIteration  # what was asked for is all this test needs

    monkeypatch.setattr(module.file_utils, "get_file", fake_get_file)
    with warnings.catch_warnings(), pytest.raises(StopIteration):
        warnings.simplefilter("ignore")
        KERAS_BUILDERS[name](weights="imagenet", **kwargs)
    monkeypatch.undo()
    return calls


@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet", {"alpha": 0.25, "input_shape": (128, 128, 3)}),
    pytest.param("mobilenet", {"alpha": 0.75, "include_top": False, "input_shape": (192, 192, 3)},
                 marks=pytest.mark.heavy),
    ("mobilenet_v2", {"alpha": 0.35, "input_shape": (96, 96, 3)}),
    pytest.param("mobilenet_v2", {"alpha": 1.3, "include_top": False, "input_shape": (160, 160, 3)},
                 marks=pytest.mark.heavy),
])
def test_imagenet_asks_for_the_keras_applications_file(monkeypatch, name, kwargs):
    expected = _keras_file_request(name, monkeypatch, **kwargs)
    calls = []

    def fake_get_file(fname, origin, cache_subdir, file_hash):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise OSError("offline")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    with pytest.raises(weight_files.WeightsDownloadError, match="offline"):
        kzoo.create_model(name, weights="imagenet", **kwargs)
    assert calls == expected and len(calls) == 1
    assert calls[0][1].startswith("https://storage.googleapis.com/tensorflow/keras-applications/")


def test_imagenet_file_loads_and_an_odd_size_without_top_takes_the_224_file(monkeypatch,
                                                                            tmp_path):
    kwargs = {"alpha": 0.5, "include_top": False, "input_shape": (64, 80, 3)}
    expected = _keras_file_request("mobilenet_v2", monkeypatch, **kwargs)
    assert expected[0][0] == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"
    # Offline stand-in for the downloaded file: this model's own weights.
    own = randomize_statistics(kzoo.create_model("mobilenet_v2", **kwargs))
    stand_in = write_legacy_h5(own, tmp_path / "stand_in.h5")
    calls = []

    def fake_get_file(fname, origin, cache_subdir, file_hash):
        calls.append((fname, origin, cache_subdir, file_hash))
        return stand_in

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    with pytest.warns(UserWarning, match="224x224"):
        model = kzoo.create_model("mobilenet_v2", weights="imagenet", **kwargs)
    assert calls == expected
    for a, b in zip(model.weights, own.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name, kwargs, argument", [
    ("mobilenet", {"alpha": 0.3}, "alpha"),
    ("mobilenet", {"alpha": 1.4}, "alpha"),  # a V2 width, not a V1 one
    ("mobilenet_v2", {"alpha": 0.25}, "alpha"),
    ("mobilenet", {"depth_multiplier": 2}, "depth_multiplier"),
    # With the top, the classifier's file is for its own input size only.
    ("mobilenet", {"input_shape": (96, 96, 3)}, "input_shape"),
    ("mobilenet_v2", {"input_shape": (224, 192, 3)}, "input_shape"),
    ("mobilenet_v2", {"classes": 10}, "classes"),
])
def test_imagenet_refuses_what_has_no_file(monkeypatch, name, kwargs, argument):
    assert_imagenet_refused(monkeypatch, name, kwargs, argument)


@pytest.mark.parametrize("kwargs, argument", [
    ({"alpha": 0}, "alpha"),
    ({"alpha": "wide"}, "alpha"),
    ({"depth_multiplier": 0.5}, "depth_multiplier"),
    ({"dropout": 1.0}, "dropout"),
    ({"input_shape": (31, 31, 3)}, "input_shape"),
])
def test_bad_arguments_are_value_errors(kwargs, argument):
    with pytest.raises(ValueError, match=f"Received: {argument}="):
        kzoo.create_model("mobilenet", **kwargs)


def test_flops_are_the_papers_multiply_adds():
    # Howard et al. Table 1: 569 M mult-adds; Sandler et al. Table 3: 300 M.
    macs = {name: kzoo.models.count_flops(kzoo.create_model(name)) / 2e6
            for name in ("mobilenet", "mobilenet_v2")}
    assert round(macs["mobilenet"]) == 569
    assert round(macs["mobilenet_v2"]) == 301
