"""MobileNetV3 Small and Large against keras.applications: counts, names, legacy files, URLs."""

import warnings

import keras
import numpy as np
import pytest
from keras.src.applications import mobilenet_v3 as keras_mobilenet_v3

import kzoo
from kzoo.models import weights as weight_files
from model_helpers import (assert_imagenet_refused, layer_table, randomize_statistics,
                           write_legacy_h5)

KERAS_BUILDERS = {"mobilenet_v3_small": keras.applications.MobileNetV3Small,
                  "mobilenet_v3_large": keras.applications.MobileNetV3Large}
ATOL = 1e-4


def _variants(name):
    """alpha x minimalistic x include_top: two opposite corners by default, the rest heavy."""
    cases = []
    for alpha in (1.0, 0.75):
        for minimalistic in (False, True):
            for include_top in (True, False):
                kwargs = {"alpha": alpha, "minimalistic": minimalistic,
                          "include_top": include_top}
                corner = (alpha == 1.0) == (not minimalistic) == include_top
                marks = () if corner else (pytest.mark.heavy,)
                cases.append(pytest.param(name, kwargs, marks=marks))
    return cases


@pytest.mark.parametrize("name, kwargs",
                         _variants("mobilenet_v3_small") + _variants("mobilenet_v3_large"))
def test_same_layers_and_parameter_count_as_keras_applications(name, kwargs):
    # Counts do not depend on the input size (the head pools globally): build small.
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    keras.backend.clear_session(free_memory=False)
    expected = KERAS_BUILDERS[name](weights=None, **kwargs)
    expected_table = layer_table(expected)
    keras.backend.clear_session(free_memory=False)  # the same fresh-session names for the unnamed layers
    model = kzoo.create_model(name, **kwargs)
    assert model.count_params() == expected.count_params()
    assert layer_table(model) == expected_table
    assert model.name == expected.name


@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet_v3_small", {"input_shape": (64, 64, 3)}),
    # An odd size takes keras.applications' other padding (correct_pad) before strided layers.
    ("mobilenet_v3_small", {"alpha": 0.75, "minimalistic": True, "include_top": False,
                            "pooling": "avg", "input_shape": (65, 65, 3)}),
    ("mobilenet_v3_large", {"include_top": False, "input_shape": (64, 64, 3)}),
    pytest.param("mobilenet_v3_large", {"alpha": 0.75, "input_shape": (64, 64, 3)},
                 marks=pytest.mark.heavy),
])
def test_keras_applications_legacy_file_gives_the_same_predictions(tmp_path, rng, name, kwargs):
    reference = randomize_statistics(KERAS_BUILDERS[name](weights=None, **kwargs))
    path = write_legacy_h5(reference, tmp_path / f"{name}.h5")
    model = kzoo.create_model(name, weights=path, **kwargs)
    # Pixels in [0, 255]: both models rescale them to [-1, 1] themselves.
    x = rng.uniform(0, 255, (2, *reference.input_shape[1:])).astype("float32")
    expected = np.asarray(reference(x, training=False))
    actual = np.asarray(model(x, training=False))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL)
    print(f"{name} {kwargs}: max |kzoo - keras| = {np.abs(actual - expected).max():.3g}")


def test_include_preprocessing_is_keras_rescaling_to_minus_one_one(rng):
    kwargs = {"input_shape": (32, 32, 3), "classes": 5}
    with_it = randomize_statistics(kzoo.create_model("mobilenet_v3_small", **kwargs))
    rescaling = with_it.layers[1]
    assert isinstance(rescaling, keras.layers.Rescaling)
    assert (rescaling.scale, rescaling.offset) == (1.0 / 127.5, -1.0)
    without = kzoo.create_model("mobilenet_v3_small", include_preprocessing=False, **kwargs)
    without.set_weights(with_it.get_weights())
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(without(x / 127.5 - 1.0, training=False),
                               with_it(x, training=False), atol=1e-5)


@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet_v3_small", {"input_shape": (33, 33, 3)}),
    pytest.param("mobilenet_v3_large", {"alpha": 0.75, "input_shape": (32, 32, 3)},
                 marks=pytest.mark.heavy),
])
def test_im2col_matches_native(rng, name, kwargs):
    native = randomize_statistics(kzoo.create_model(name, classes=5, **kwargs))
    im2col = kzoo.create_model(name, classes=5, conv_impl="im2col", **kwargs)
    im2col.set_weights(native.get_weights())
    assert {layer.implementation for layer in im2col.layers
            if hasattr(layer, "implementation")} == {"im2col"}
    x = rng.uniform(0, 255, (2, *kwargs["input_shape"])).astype("float32")
    np.testing.assert_allclose(im2col(x, training=False), native(x, training=False), atol=1e-5)


def _keras_file_request(name, monkeypatch, **kwargs):
    """The (file name, URL, cache folder, hash) keras.applications fetches for `kwargs`."""
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise StopIteration  # what was asked for is all this test needs

    monkeypatch.setattr(keras_mobilenet_v3.file_utils, "get_file", fake_get_file)
    with warnings.catch_warnings(), pytest.raises(StopIteration):
        warnings.simplefilter("ignore")
        KERAS_BUILDERS[name](weights="imagenet", **kwargs)
    monkeypatch.undo()
    return calls


@pytest.mark.parametrize("name, kwargs", [
    ("mobilenet_v3_small", {"minimalistic": True, "include_top": False}),
    ("mobilenet_v3_large", {"include_top": False, "input_shape": (64, 64, 3)}),  # the 224 file
    pytest.param("mobilenet_v3_small", {"alpha": 0.75}, marks=pytest.mark.heavy),
    pytest.param("mobilenet_v3_large", {"minimalistic": True}, marks=pytest.mark.heavy),
])
def test_imagenet_asks_for_the_keras_applications_file(monkeypatch, name, kwargs):
    expected = _keras_file_request(name, monkeypatch, **kwargs)
    calls = []

    def fake_get_file(fname, origin, cache_subdir, file_hash):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise OSError("offline")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    with warnings.catch_warnings(), pytest.raises(weight_files.WeightsDownloadError,
                                                  match="offline"):
        warnings.simplefilter("ignore")
        kzoo.create_model(name, weights="imagenet", **kwargs)
    assert calls == expected and len(calls) == 1
    assert calls[0][1].startswith(
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/")
    assert calls[0][3] is not None  # keras.applications checks these files' MD5


@pytest.mark.parametrize("name, kwargs, argument", [
    ("mobilenet_v3_small", {"alpha": 0.5}, "alpha"),
    ("mobilenet_v3_large", {"alpha": 0.75, "minimalistic": True}, "alpha"),
    # With the top, the classifier's file is for 224x224 only.
    ("mobilenet_v3_small", {"input_shape": (192, 192, 3)}, "input_shape"),
    ("mobilenet_v3_large", {"classes": 10}, "classes"),
])
def test_imagenet_refuses_what_has_no_file(monkeypatch, name, kwargs, argument):
    assert_imagenet_refused(monkeypatch, name, kwargs, argument)


@pytest.mark.parametrize("kwargs, argument", [
    ({"alpha": 0}, "alpha"),
    ({"minimalistic": "yes"}, "minimalistic"),
    ({"include_preprocessing": 1}, "include_preprocessing"),
    ({"dropout_rate": 1.0}, "dropout_rate"),
    ({"input_shape": (31, 31, 3)}, "input_shape"),
])
def test_bad_arguments_are_value_errors(kwargs, argument):
    with pytest.raises(ValueError, match=f"Received: {argument}="):
        kzoo.create_model("mobilenet_v3_small", **kwargs)
