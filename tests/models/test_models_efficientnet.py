"""EfficientNet B0-B7 and EfficientNetV2 against keras.applications: layer tables, legacy files,
ImageNet URLs and hashes, the std correction of keras.applications' V1 files, grey input.

Every reference is keras.applications' own model, built here with `weights=None` and
non-trivial weights, and written in the legacy HDF5 layout of its ImageNet files; `weights=
"imagenet"` is tested with `get_file` monkeypatched to return such a file: nothing is
downloaded. The models take pixels in [0, 255] (the preprocessing is inside).

Building costs about 2 s per model (4 s for V2-S), so the default run builds few: B0, V2-B0
and V2-S at 32-65 px, each keras.applications reference once per module (`references`). The
other variants and cases are heavy (`./scripts/run test-heavy`).
"""

import dataclasses
import inspect
import shutil
import warnings

import keras
import numpy as np
import pytest
from keras.src.applications import efficientnet as keras_efficientnet
from keras.src.applications import efficientnet_v2 as keras_efficientnet_v2

import kzoo
from kzoo.models import weights as weight_files
from kzoo.models.efficientnet import efficientnet as kzoo_v1
from kzoo.models.efficientnet import efficientnet_v2 as kzoo_v2
from kzoo.models.efficientnet.presets import PRESETS
from kzoo.models.registry import get_entry
from model_helpers import (assert_imagenet_refused, layer_table, min_input_shape,
                           randomize_statistics, write_legacy_h5)

V1_NAMES = [f"efficientnet_b{i}" for i in range(8)]
V2_NAMES = [f"efficientnet_v2_{s}" for s in ("b0", "b1", "b2", "b3", "s", "m", "l")]
NAMES = V1_NAMES + V2_NAMES
KERAS_BUILDERS = {
    **{n: getattr(keras.applications, f"EfficientNet{n[-2:].upper()}") for n in V1_NAMES},
    **{n: getattr(keras.applications, f"EfficientNetV2{n.rsplit('_', 1)[1].upper()}")
       for n in V2_NAMES},
}
ATOL = 1e-4
#: Plus RTOL relative: the random weights' outputs reach 1e2 (V2-S) to 1e11 (V2-L) in places.
RTOL = 1e-5
#: Non-trivial statistics for V1's `Normalization` (a fresh one holds mean 0, variance 1):
#: ImageNet's mean and squared standard deviation of pixels in [0, 1].
NORMALIZATION_MEAN = np.array([0.485, 0.456, 0.406], "float32")
NORMALIZATION_VARIANCE = np.array([0.229, 0.224, 0.225], "float32") ** 2
STD_RGB = np.asarray(keras_efficientnet.IMAGENET_STDDEV_RGB, "float32")

# The cases the default run builds (their references are shared by several tests).
# B0 without the top at 40 px: its strided layers see 40, 20, 10 (even) and 5, 3 (odd) sizes.
B0_NOTOP = ("efficientnet_b0", {"include_top": False, "input_shape": (40, 40, 3)})
# An odd input size (keras.applications' correct_pad before V1's strided layers); logits, so
# that a difference is not squashed by the softmax.
B0_TOP = ("efficientnet_b0", {"input_shape": (65, 65, 3), "classifier_activation": None})
# V2-B0 and V2-S: fused MBConv without (stage 1) and with (2, 3) expansion, MBConv with
# squeeze-excite; B's ImageNet normalization and S's (M's, L's) rescaling to [-1, 1].
V2_B0_TOP = ("efficientnet_v2_b0", {"input_shape": (40, 40, 3), "classifier_activation": None})
V2_S_NOTOP = ("efficientnet_v2_s",
              {"include_top": False, "pooling": "avg", "input_shape": (32, 32, 3)})


def _heavy(*args):
    return pytest.param(*args, marks=pytest.mark.heavy)


def _keras_module(name):
    return keras_efficientnet if name in V1_NAMES else keras_efficientnet_v2


def _keras_name(name):
    """keras.applications' model name (its files' stem), read from its builder's signature."""
    return inspect.signature(KERAS_BUILDERS[name]).parameters["name"].default


def _keras_weights_key(name):
    """The key of keras.applications' `WEIGHTS_HASHES` its builder passes as `weights_name`
    (`"b0"` for efficientnetb0 and efficientnetv2-b0, `"-s"` for efficientnetv2-s)."""
    suffix = _keras_name(name).split("efficientnet")[1]
    if name in V1_NAMES:
        return suffix
    suffix = suffix.split("-")[1]
    return suffix if suffix.startswith("b") else f"-{suffix}"


def _set_normalization(model, mean, variance):
    """Sets the statistics of keras.applications V1's (adaptable) `Normalization`."""
    layer = model.get_layer("normalization")
    layer.adapt_mean.assign(mean)
    layer.adapt_variance.assign(variance)
    layer.finalize_state()  # the layer computes with constants taken from its variables here


def _pixels(rng, shape, n=2):
    return rng.uniform(0, 255, (n, *shape)).astype("float32")


def _outputs(model, x):
    """`model`'s stem (`stem_activation`) and final outputs on `x`, at inference.

    Both are compared: the random networks' final output barely depends on their input (a
    preprocessing error that moves the stem's by 0.1 moves it by 1e-3), the stem's does.
    """
    both = keras.Model(model.input, [model.get_layer("stem_activation").output, model.output])
    return tuple(np.asarray(y) for y in both(x, training=False))


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _assert_close(actual, expected, label=""):
    """`_outputs` equal within ATOL: the stem's and the final."""
    for part, a, e in zip(("stem", "output"), actual, expected, strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=f"{label}: {part}")
        print(f"{label}, {part}: max |kzoo - keras| = {np.abs(a - e).max():.3g} "
              f"(max |keras| = {np.abs(e).max():.3g})")


@dataclasses.dataclass
class Reference:
    """keras.applications' model with non-trivial weights, its legacy file, an input, outputs."""

    name: str
    kwargs: dict
    model: keras.Model
    table: list  # layer_table of the model, built in a fresh session
    path: str  # its legacy HDF5 file, under a name that is not keras.applications'
    x: np.ndarray  # two images of pixels in [0, 255]
    output: tuple  # the model's `_outputs` on x
    corrected: tuple = None  # V1: its `_outputs` with keras.applications' std correction


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """`references(name, kwargs)`: the `Reference`, built once per module."""
    folder = tmp_path_factory.mktemp("efficientnet")
    cache = {}

    def get(name, kwargs):
        key = (name, repr(sorted(kwargs.items())))
        if key not in cache:
            keras.backend.clear_session(free_memory=False)  # fresh-session names (see the layer table test)
            model = KERAS_BUILDERS[name](weights=None, **kwargs)
            table = layer_table(model)
            randomize_statistics(model, seed=len(cache))
            if name in V1_NAMES:
                _set_normalization(model, NORMALIZATION_MEAN, NORMALIZATION_VARIANCE)
            path = write_legacy_h5(model, folder / f"reference_{len(cache)}.h5")
            x = _pixels(np.random.default_rng(len(cache)), kwargs["input_shape"])
            ref = Reference(name, kwargs, model, table, path, x, _outputs(model, x))
            if name in V1_NAMES:
                # keras.applications' correction, Rescaling(1 / sqrt(std)) after
                # (x - mean) / sqrt(var), is the normalization with variance var * std.
                _set_normalization(model, NORMALIZATION_MEAN, NORMALIZATION_VARIANCE * STD_RGB)
                ref.corrected = _outputs(model, x)
                _set_normalization(model, NORMALIZATION_MEAN, NORMALIZATION_VARIANCE)
            cache[key] = ref
            keras.backend.clear_session(free_memory=False)
        return cache[key]

    return get


def test_the_fifteen_models_are_registered():
    assert {n for n in kzoo.list_models() if n.startswith("efficientnet")} == set(NAMES)
    for name in NAMES:
        assert min_input_shape(name) == (32, 32, 3)  # keras.applications' minimum


# --------------------------------------------------------------------------- #
# keras.applications' layer table and legacy HDF5 files
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("name, kwargs", [
    B0_TOP,
    B0_NOTOP,
    V2_B0_TOP,
    V2_S_NOTOP,
    _heavy("efficientnet_v2_b0", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_v2_s", {"input_shape": (65, 65, 3), "classifier_activation": None}),
    # B3: width 1.2 rounds the filters to multiples of 8 (24 -> 32, 112 -> 136, 192 -> 232;
    # 16 -> 24 by the never-10%-down rule), depth 1.4 the repeats.
    _heavy("efficientnet_b3", {"input_shape": (65, 65, 3), "classifier_activation": None}),
    _heavy("efficientnet_b3", {"include_top": False, "pooling": "max", "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_b1", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_b2", {"input_shape": (64, 64, 3), "classifier_activation": None}),
    _heavy("efficientnet_b4", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_b5", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_b6", {"input_shape": (64, 64, 3), "classifier_activation": None}),
    _heavy("efficientnet_b7", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_v2_b1", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_v2_b2", {"input_shape": (64, 64, 3), "classifier_activation": None}),
    _heavy("efficientnet_v2_b3", {"input_shape": (65, 65, 3), "classifier_activation": None}),
    _heavy("efficientnet_v2_m", {"include_top": False, "input_shape": (64, 64, 3)}),
    _heavy("efficientnet_v2_l", {"input_shape": (64, 64, 3), "classifier_activation": None}),
])
def test_keras_applications_layer_table_and_legacy_file(references, name, kwargs):
    ref = references(name, kwargs)
    keras.backend.clear_session(free_memory=False)
    model = kzoo.create_model(name, weights=ref.path, **kwargs)
    # Every layer is compared, in order: its name and its weights' names and shapes.
    # keras.applications leaves its input and preprocessing layers unnamed; in a fresh session
    # Keras names them `input_layer`, `rescaling` and `normalization`, the names kzoo's input
    # gets and its preprocessing layers are given explicitly, so both models are built in a
    # fresh session (in a used one keras's would be `rescaling_1`, ... and the comparison
    # would have to skip those unweighted layers). The file's name is not keras.applications'
    # and keras's model has weights=None: neither has the std correction.
    assert layer_table(model) == ref.table
    assert model.count_params() == ref.model.count_params()
    assert model.name == ref.model.name == _keras_name(name)
    assert "rescaling_std" not in _layer_names(model)
    assert "grey_to_rgb" not in _layer_names(model)
    _assert_close(_outputs(model, ref.x), ref.output, f"{name} {kwargs}")


@pytest.mark.heavy
@pytest.mark.parametrize("name, kwargs", [
    *[(n, {}) for n in NAMES],
    # With 1 channel and weights=None keras.applications' V1 normalizes one channel and its
    # V2-B rescales to [-1, 1] instead of normalizing: kzoo does the same (no grey_to_rgb).
    ("efficientnet_b0", {"input_shape": (32, 32, 1)}),
    ("efficientnet_v2_b0", {"input_shape": (32, 32, 1), "include_top": False}),
    ("efficientnet_b1", {"include_top": False, "pooling": "max"}),
    ("efficientnet_v2_b2", {"include_top": False, "pooling": "avg"}),
])
def test_same_layer_table_as_keras_applications(name, kwargs):
    # The table does not depend on the input size (the head pools globally): build small.
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    keras.backend.clear_session(free_memory=False)  # fresh-session names, as in the test above
    expected = KERAS_BUILDERS[name](weights=None, **kwargs)
    expected_table = layer_table(expected)
    keras.backend.clear_session(free_memory=False)
    model = kzoo.create_model(name, **kwargs)
    assert layer_table(model) == expected_table
    assert model.count_params() == expected.count_params()
    if kwargs == {"input_shape": (32, 32, 3)}:
        # The count of the builders' tables (and of test_models_param_counts.py) is keras's:
        # with the top and 1000 classes it does not depend on the input size.
        variants = kzoo_v1.VARIANTS if name in V1_NAMES else kzoo_v2.VARIANTS
        assert expected.count_params() == variants[name][-1]
    assert model.name == expected.name
    assert "rescaling_std" not in _layer_names(model)
    assert "grey_to_rgb" not in _layer_names(model)


# --------------------------------------------------------------------------- #
# weights="imagenet": keras.applications' URLs and MD5 hashes
# --------------------------------------------------------------------------- #


def test_presets_are_keras_applications_urls_and_hashes():
    for name in NAMES:
        module = _keras_module(name)
        stem = _keras_name(name)
        top_hash, notop_hash = module.WEIGHTS_HASHES[_keras_weights_key(name)]
        variants = kzoo_v1.VARIANTS if name in V1_NAMES else kzoo_v2.VARIANTS
        assert variants[name][0] == stem, name
        assert get_entry(name).weights == ("imagenet",), name
        files = PRESETS[stem]["imagenet"]
        assert (files.top_url, files.top_hash) == (
            f"{module.BASE_WEIGHTS_PATH}{stem}.h5", top_hash), name
        assert (files.notop_url, files.notop_hash) == (
            f"{module.BASE_WEIGHTS_PATH}{stem}_notop.h5", notop_hash), name
        assert files.classes == 1000, name
    # One-to-one: every keras.applications hash is used, none twice.
    used = {(_keras_module(n).__name__, _keras_weights_key(n)) for n in NAMES}
    assert len(used) == len(NAMES) == len(PRESETS)
    assert used == {(m.__name__, k) for m in (keras_efficientnet, keras_efficientnet_v2)
                    for k in m.WEIGHTS_HASHES}


def _keras_file_request(name, monkeypatch, **kwargs):
    """The (file name, URL, cache folder, hash) keras.applications fetches for `kwargs`."""
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise StopIteration  # what was asked for is all this test needs

    with monkeypatch.context() as patch:
        patch.setattr(_keras_module(name).file_utils, "get_file", fake_get_file)
        with warnings.catch_warnings(), pytest.raises(StopIteration):
            warnings.simplefilter("ignore")
            KERAS_BUILDERS[name](weights="imagenet", **kwargs)
    return calls


@pytest.mark.heavy
@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_imagenet_asks_for_the_keras_applications_file(monkeypatch, name, include_top):
    # With the top the file needs the default size; without it, any (the default size's file).
    kwargs = {"include_top": include_top}
    if not include_top:
        kwargs["input_shape"] = (32, 32, 3)
    expected = _keras_file_request(name, monkeypatch, **kwargs)
    stem, module = _keras_name(name), _keras_module(name)
    suffix, index = (".h5", 0) if include_top else ("_notop.h5", 1)
    assert expected == [(f"{stem}{suffix}", f"{module.BASE_WEIGHTS_PATH}{stem}{suffix}",
                         "models", module.WEIGHTS_HASHES[_keras_weights_key(name)][index])]
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise OSError("offline")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    with warnings.catch_warnings(), pytest.raises(weight_files.WeightsDownloadError,
                                                  match="offline"):
        warnings.simplefilter("ignore")
        kzoo.create_model(name, weights="imagenet", **kwargs)
    assert calls == expected


def _imagenet_models(monkeypatch, name, stand_in, **kwargs):
    """keras.applications' and kzoo's models with weights="imagenet", both given `stand_in`
    for the download; returns both and the (one, shared) get_file request."""
    keras_calls, kzoo_calls = [], []

    def fake_get_file(calls):
        def get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
            calls.append((fname, origin, cache_subdir, file_hash))
            return stand_in
        return get_file

    with monkeypatch.context() as patch:
        patch.setattr(_keras_module(name).file_utils, "get_file", fake_get_file(keras_calls))
        patch.setattr(keras.utils, "get_file", fake_get_file(kzoo_calls))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.backend.clear_session(free_memory=False)  # both in a fresh session: the same auto-names
            expected = KERAS_BUILDERS[name](weights="imagenet", **kwargs)
            keras.backend.clear_session(free_memory=False)
            model = kzoo.create_model(name, weights="imagenet", **kwargs)
    assert len(keras_calls) == 1 and kzoo_calls == keras_calls
    return expected, model, kzoo_calls[0]


@pytest.mark.heavy
def test_imagenet_b0_has_keras_std_correction_and_equals_keras_applications(
        references, monkeypatch):
    ref = references(*B0_NOTOP)
    # The stand-in's name is not keras.applications': the correction comes from "imagenet".
    expected, model, call = _imagenet_models(monkeypatch, "efficientnet_b0", ref.path,
                                             **ref.kwargs)
    assert call == ("efficientnetb0_notop.h5",
                    keras_efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5", "models",
                    keras_efficientnet.WEIGHTS_HASHES["b0"][1])
    names = _layer_names(model)
    assert names[names.index("normalization") + 1] == "rescaling_std"
    # keras.applications' correction is its unnamed Rescaling right after the normalization.
    keras_names = _layer_names(expected)
    keras_fix = expected.layers[keras_names.index("normalization") + 1]
    assert isinstance(keras_fix, keras.layers.Rescaling)
    np.testing.assert_allclose(model.get_layer("rescaling_std").scale, keras_fix.scale)
    np.testing.assert_allclose(keras_fix.scale, 1 / np.sqrt(STD_RGB), rtol=1e-6)
    actual = _outputs(model, ref.x)
    _assert_close(actual, _outputs(expected, ref.x), "efficientnet_b0 imagenet")
    _assert_close(actual, ref.corrected, "efficientnet_b0 imagenet vs corrected reference")
    # The correction matters: without it the stem's output is the plain reference's.
    assert np.abs(ref.corrected[0] - ref.output[0]).max() > 0.1


@pytest.mark.heavy
def test_imagenet_v2_b0_has_no_std_correction_and_equals_keras_applications(
        references, monkeypatch):
    ref = references("efficientnet_v2_b0", {"include_top": False, "input_shape": (40, 40, 3)})
    expected, model, call = _imagenet_models(monkeypatch, "efficientnet_v2_b0", ref.path,
                                             **ref.kwargs)
    assert call == ("efficientnetv2-b0_notop.h5",
                    keras_efficientnet_v2.BASE_WEIGHTS_PATH + "efficientnetv2-b0_notop.h5",
                    "models", keras_efficientnet_v2.WEIGHTS_HASHES["b0"][1])
    assert "rescaling_std" not in _layer_names(model)
    assert _layer_names(model) == _layer_names(expected)
    actual = _outputs(model, ref.x)
    _assert_close(actual, _outputs(expected, ref.x), "v2_b0 imagenet")
    _assert_close(actual, ref.output, "v2_b0 imagenet vs reference")


@pytest.mark.heavy
@pytest.mark.parametrize("case, file_name, corrected", [
    (B0_NOTOP, "efficientnetb0_notop.h5", True),  # a local copy of keras.applications' file
    _heavy(B0_NOTOP, "efficientnetb1_notop.h5", False),  # another model's keras name
    _heavy(B0_NOTOP, "my_efficientnetb0_notop.h5", False),  # the whole base name must match
    _heavy(B0_TOP, "efficientnetb0.h5", True),
    _heavy(B0_TOP, "efficientnetb0_notop.h5", True),  # either of the model's two names
    # V2's files were trained with the normalization they declare: never corrected.
    _heavy(V2_B0_TOP, "efficientnetv2-b0.h5", False),
])
def test_std_correction_follows_the_weights_file_name(references, tmp_path, case, file_name,
                                                      corrected):
    ref = references(*case)
    path = shutil.copy(ref.path, tmp_path / file_name)
    model = kzoo.create_model(case[0], weights=path, **case[1])
    assert ("rescaling_std" in _layer_names(model)) == corrected
    expected = ref.corrected if corrected else ref.output
    _assert_close(_outputs(model, ref.x), expected, file_name)


# --------------------------------------------------------------------------- #
# Grey input with RGB weights: the RGB model on [g, g, g]
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("case", [
    B0_NOTOP,
    V2_B0_TOP,
    _heavy(B0_TOP),
    _heavy(V2_S_NOTOP),
])
def test_grey_model_with_a_legacy_file_is_the_rgb_model_on_grey(references, case):
    name, kwargs = case
    ref = references(name, kwargs)
    grey_shape = (*kwargs["input_shape"][:2], 1)
    model = kzoo.create_model(name, weights=ref.path, **{**kwargs, "input_shape": grey_shape})
    assert model.layers[1].name == "grey_to_rgb"
    g = ref.x[..., :1]
    _assert_close(_outputs(model, g), _outputs(ref.model, np.repeat(g, 3, axis=-1)),
                  f"{name} grey")


# --------------------------------------------------------------------------- #
# conv_impl="im2col"
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("case", [B0_NOTOP, V2_B0_TOP, _heavy(V2_S_NOTOP), _heavy(B0_TOP)])
def test_im2col_matches_native(references, case):
    # The same weights in both: the reference's file (non-trivial statistics). The native
    # model compared with is keras.applications' reference itself (native convolutions), which
    # kzoo's native model equals exactly (the legacy-file test, same case): one build less.
    name, kwargs = case
    ref = references(name, kwargs)
    im2col = kzoo.create_model(name, weights=ref.path, conv_impl="im2col", **kwargs)
    implementations = [layer.implementation for layer in im2col.layers
                       if hasattr(layer, "implementation")]
    assert set(implementations) == {"im2col"}
    # Every convolution: stem, expansions, depthwise, squeeze-excite, projections, top.
    assert len(implementations) == sum(
        isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        for layer in ref.model.layers)
    _assert_close(_outputs(im2col, ref.x), ref.output, f"{name} im2col")


# --------------------------------------------------------------------------- #
# Bad arguments
# --------------------------------------------------------------------------- #


def test_bad_arguments_are_value_errors():
    for name in ("efficientnet_b0", "efficientnet_v2_b0"):
        for kwargs, argument in [
            ({"include_preprocessing": "yes"}, "include_preprocessing"),
            ({"dropout_rate": 1.5}, "dropout_rate"),
            ({"drop_connect_rate": -0.1}, "drop_connect_rate"),
            ({"input_shape": (31, 31, 3)}, "input_shape"),
        ]:
            with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
                kzoo.create_model(name, **kwargs)


def test_imagenet_refuses_what_has_no_file(monkeypatch):
    for name, kwargs, argument in [
        ("efficientnet_b3", {"classes": 10}, "classes"),
        ("efficientnet_v2_b0", {"classes": 10}, "classes"),
        # With the top, the classifier's file is for the model's default size only.
        ("efficientnet_b0", {"input_shape": (240, 240, 3)}, "input_shape"),
        ("efficientnet_v2_s", {"input_shape": (224, 224, 3)}, "input_shape"),
    ]:
        assert_imagenet_refused(monkeypatch, name, kwargs, argument)
