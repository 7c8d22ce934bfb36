"""ConvNeXt Tiny to XLarge against keras.applications: layer tables, legacy files, ImageNet URLs
and SHA-256 hashes, im2col, stochastic depth, bad arguments.

Every reference is keras.applications' own model, built here with `weights=None` and
non-trivial weights (LayerNormalization and LayerScale gammas, biases), and written in the
legacy HDF5 layout of its ImageNet files (the stem and downsampling `Sequential`s one group
each, the depthwise kernels (7, 7, 1, C) of its grouped `Conv2D`); `weights="imagenet"` is
tested with `get_file` monkeypatched to return such a file: nothing is downloaded. The models
take pixels in [0, 255] (the preprocessing is inside).

Building costs about 3 s per model, so the default run builds ConvNeXt-Tiny twice (the
keras.applications reference with the top and kzoo's model from its file); the other variants
and cases are heavy (`./scripts/run test-heavy`).
"""

import dataclasses
import warnings

import keras
import numpy as np
import pytest
from keras.src.applications import convnext as keras_convnext

import kzoo
from kzoo.layers import DropPath, LayerScale
from kzoo.models import weights as weight_files
from kzoo.models.convnext import convnext as kzoo_convnext
from kzoo.models.convnext.presets import PRESETS
from kzoo.models.registry import get_entry
from model_helpers import (assert_imagenet_refused, layer_table, randomize_statistics,
                           write_legacy_h5)

NAMES = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
         "convnext_xlarge"]
KERAS_BUILDERS = {
    "convnext_tiny": keras.applications.ConvNeXtTiny,
    "convnext_small": keras.applications.ConvNeXtSmall,
    "convnext_base": keras.applications.ConvNeXtBase,
    "convnext_large": keras.applications.ConvNeXtLarge,
    "convnext_xlarge": keras.applications.ConvNeXtXLarge,
}
TOP1 = {"convnext_tiny": 81.3, "convnext_small": 82.3, "convnext_base": 85.3,
        "convnext_large": 86.3, "convnext_xlarge": 86.7}
ATOL = 1e-4
SHAPE = (64, 64, 3)
TINY_TOP = {"input_shape": SHAPE, "classifier_activation": None}  # logits: nothing squashed
TINY_NOTOP = {"input_shape": SHAPE, "include_top": False}  # the 4D features


def _heavy(*args):
    return pytest.param(*args, marks=pytest.mark.heavy)


def _randomize(model, seed):
    """Non-trivial LayerNormalization gammas and betas, biases, and LayerScale gammas (1e-6
    fresh, which would hide every residual branch)."""
    randomize_statistics(model, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    for layer in model.layers:
        if isinstance(layer, (keras_convnext.LayerScale, LayerScale)):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
    return model


def _outputs(model, x):
    """The stem's, stage 2's (after 12 blocks) and the final output of ConvNeXt-Tiny on `x`, at
    inference.

    The random network's final output depends little on its input; the stem's and stage 2's
    show a preprocessing or a depthwise-kernel error plainly.
    """
    parts = [model.get_layer("convnext_tiny_stem").output,
             model.get_layer("convnext_tiny_downsampling_block_2").output, model.output]
    return tuple(np.asarray(y) for y in keras.Model(model.input, parts)(x, training=False))


def _as_kzoo_table(table):
    """keras.applications' layer table as kzoo's must be: its grouped Conv2D's depthwise kernel
    (7, 7, 1, C) is a DepthwiseConv2D's (7, 7, C, 1), and its LayerScale's unnamed weight
    (`variable`) is `gamma`. Everything else is the same."""
    rows = []
    for name, weights in table:
        if name.endswith("_depthwise_conv"):
            (kernel, (kh, kw, _, c)), bias = weights
            weights = [(kernel, (kh, kw, c, 1)), bias]
        elif name.endswith("_layer_scale"):
            weights = [("gamma", shape) for _, shape in weights]
        rows.append((name, weights))
    return rows


def _kzoo_table(model):
    """kzoo's layer table without the blocks' `Add` layers (keras.applications adds with an
    operation, `inputs + x`, which is no layer; an `Add` has no weights)."""
    return [row for row in layer_table(model) if not row[0].endswith("_add")]


def _assert_close(actual, expected, label=""):
    for part, a, e in zip(("stem", "stage 2", "output"), actual, expected, strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, atol=ATOL, err_msg=f"{label}: {part}")
        print(f"{label}, {part}: max |kzoo - keras| = {np.abs(a - e).max():.3g} "
              f"(max |keras| = {np.abs(e).max():.3g})")


@dataclasses.dataclass
class Reference:
    """keras.applications' model with non-trivial weights, its legacy file, an input, outputs."""

    name: str
    kwargs: dict
    table: list  # layer_table of the model, built in a fresh session
    count: int
    path: str  # its legacy HDF5 file, under a name that is not keras.applications'
    x: np.ndarray  # two images of pixels in [0, 255]
    output: tuple  # the model's `_outputs` on x


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """`references(name, kwargs)`: the `Reference`, built once per module."""
    folder = tmp_path_factory.mktemp("convnext")
    cache = {}

    def get(name, kwargs):
        key = (name, repr(sorted(kwargs.items())))
        if key not in cache:
            keras.backend.clear_session(free_memory=False)  # fresh-session names for the unnamed layers
            model = KERAS_BUILDERS[name](weights=None, **kwargs)
            table = layer_table(model)
            _randomize(model, seed=len(cache))
            path = write_legacy_h5(model, folder / f"reference_{len(cache)}.h5")
            rng = np.random.default_rng(len(cache))
            x = rng.uniform(0, 255, (2, *kwargs["input_shape"])).astype("float32")
            cache[key] = Reference(name, kwargs, table, model.count_params(), path, x,
                                   _outputs(model, x))
            keras.backend.clear_session(free_memory=False)
        return cache[key]

    return get


def test_the_five_models_are_registered():
    assert kzoo.list_models("convnext*") == sorted(NAMES)
    for name in NAMES:
        entry = get_entry(name)
        assert entry.family == "convnext"
        assert entry.default_input_shape == (224, 224, 3) and entry.min_input_size == 32
        assert entry.weights == ("imagenet",)
        assert entry.top1 == TOP1[name]
        assert entry.reference == "Liu et al., A ConvNet for the 2020s, CVPR 2022"
        # The builders' tables are keras.applications' configurations.
        config = keras_convnext.MODEL_CONFIGS[name.split("_")[1]]
        depths, dims = kzoo_convnext.VARIANTS[name][:2]
        assert (list(depths), list(dims)) == (config["depths"], config["projection_dims"])
    # The stochastic-depth schedule: linear from 0 over all blocks (18 in Tiny).
    rates = kzoo_convnext.drop_path_rates((3, 3, 9, 3), 0.3)
    assert len(rates) == 18 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    np.testing.assert_allclose(np.diff(rates), 0.3 / 17)


def test_presets_are_keras_applications_urls_and_hashes(monkeypatch, tmp_path):
    assert set(PRESETS) == set(keras_convnext.WEIGHTS_HASHES) == set(NAMES)
    base = keras_convnext.BASE_WEIGHTS_PATH
    for name in NAMES:
        top_hash, notop_hash = keras_convnext.WEIGHTS_HASHES[name]
        files = PRESETS[name]["imagenet"]
        assert (files.top_url, files.top_hash) == (f"{base}{name}.h5", top_hash)
        assert (files.notop_url, files.notop_hash) == (f"{base}{name}_notop.h5", notop_hash)
        assert files.classes == 1000
        assert len(top_hash) == len(notop_hash) == 64  # SHA-256: get_file tells by the length
    # What kzoo's presets ask keras.utils.get_file for: keras.applications' file name, URL,
    # cache folder and SHA-256 hash (the full builds are heavy tests below).
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
        calls.append((fname, origin, cache_subdir, file_hash))
        return str(tmp_path / fname)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    for name in NAMES:
        calls.clear()
        for include_top in (True, False):
            PRESETS[name]["imagenet"].fetch(include_top, model_name=name)
        top_hash, notop_hash = keras_convnext.WEIGHTS_HASHES[name]
        assert calls == [(f"{name}.h5", f"{base}{name}.h5", "models", top_hash),
                         (f"{name}_notop.h5", f"{base}{name}_notop.h5", "models", notop_hash)]


# --------------------------------------------------------------------------- #
# keras.applications' layer table and legacy HDF5 files
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("kwargs, conv_impl", [
    (TINY_TOP, "native"),
    _heavy(TINY_TOP, "im2col"),
    _heavy(TINY_NOTOP, "native"),
    _heavy({"input_shape": SHAPE, "include_top": False, "pooling": "avg"}, "native"),
    _heavy({"input_shape": (65, 65, 3), "include_top": False, "pooling": "max"}, "im2col"),
])
def test_legacy_file_loads_with_keras_applications_layer_names(references, kwargs, conv_impl):
    ref = references("convnext_tiny", kwargs)
    keras.backend.clear_session(free_memory=False)  # fresh-session names, as the reference's
    # Whatever the model's name, its layers keep keras.applications' names (its files' groups).
    model = kzoo.create_model("convnext_tiny", weights=ref.path, name="my_convnext",
                              conv_impl=conv_impl, **kwargs)
    assert model.name == "my_convnext"
    # Every layer is compared, in order: its name and its weights' names and shapes.
    assert _kzoo_table(model) == _as_kzoo_table(ref.table)
    assert model.count_params() == ref.count
    _assert_close(_outputs(model, ref.x), ref.output, f"convnext_tiny {conv_impl} {kwargs}")


@pytest.mark.heavy
@pytest.mark.parametrize("kwargs, conv_impl", [(TINY_NOTOP, "im2col"), (TINY_NOTOP, "native")])
def test_imagenet_fetches_the_keras_applications_file(references, monkeypatch, kwargs,
                                                      conv_impl):
    ref = references("convnext_tiny", kwargs)
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
        calls.append((fname, origin, cache_subdir, file_hash))
        return ref.path  # stands in for the download

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    keras.backend.clear_session(free_memory=False)
    model = kzoo.create_model("convnext_tiny", weights="imagenet", conv_impl=conv_impl,
                              **kwargs)
    assert calls == [("convnext_tiny_notop.h5",
                      keras_convnext.BASE_WEIGHTS_PATH + "convnext_tiny_notop.h5", "models",
                      keras_convnext.WEIGHTS_HASHES["convnext_tiny"][1])]
    assert model.name == "convnext_tiny"
    _assert_close(_outputs(model, ref.x), ref.output, f"convnext_tiny imagenet {conv_impl}")


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
def test_imagenet_with_top_asks_for_keras_applications_file(monkeypatch, name):
    # What keras.applications itself asks get_file for, and what kzoo asks for.
    expected, calls = [], []

    def recorder(calls):
        def get_file(fname, origin, cache_subdir=None, file_hash=None, **kw):
            calls.append((fname, origin, cache_subdir, file_hash))
            raise StopIteration
        return get_file

    monkeypatch.setattr(keras_convnext.file_utils, "get_file", recorder(expected))
    monkeypatch.setattr(keras.utils, "get_file", recorder(calls))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StopIteration):
            KERAS_BUILDERS[name](weights="imagenet")
        keras.backend.clear_session(free_memory=False)
        with pytest.raises(weight_files.WeightsDownloadError):
            kzoo.create_model(name, weights="imagenet")
    assert calls == expected == [(f"{name}.h5", f"{keras_convnext.BASE_WEIGHTS_PATH}{name}.h5",
                                  "models", keras_convnext.WEIGHTS_HASHES[name][0])]


@pytest.mark.heavy
@pytest.mark.parametrize("name, kwargs", [
    *[(n, {}) for n in NAMES],
    ("convnext_tiny", {"include_top": False, "pooling": "max"}),
    # Without 3 channels keras.applications has no PreStem normalization: nor has kzoo.
    ("convnext_tiny", {"input_shape": (32, 32, 1)}),
    ("convnext_tiny", {"include_preprocessing": False}),
])
def test_same_layer_table_as_keras_applications(name, kwargs):
    # The table does not depend on the input size (the head pools globally): build small.
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    keras.backend.clear_session(free_memory=False)
    expected = KERAS_BUILDERS[name](weights=None, **kwargs)
    expected_names = [layer.name for layer in expected.layers]
    expected_count = expected.count_params()
    keras.backend.clear_session(free_memory=False)
    model = kzoo.create_model(name, **kwargs)
    assert [row[0] for row in _kzoo_table(model)] == expected_names
    assert model.count_params() == expected_count
    if kwargs == {"input_shape": (32, 32, 3)}:
        assert expected_count == kzoo_convnext.VARIANTS[name][2]
    assert (f"{name}_prestem_normalization" in expected_names) == (
        kwargs["input_shape"][-1] == 3 and kwargs.get("include_preprocessing", True))


# --------------------------------------------------------------------------- #
# im2col, stochastic depth, LayerScale, grey input
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
def test_im2col_equals_native_in_training_and_inference(rng):
    kwargs = {"input_shape": (32, 32, 3), "include_top": False, "pooling": "avg"}
    native = _randomize(kzoo.create_model("convnext_tiny", **kwargs), 0)
    im2col = kzoo.create_model("convnext_tiny", conv_impl="im2col", **kwargs)
    im2col.set_weights(native.get_weights())
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for training in (False, True):  # no dropout at the default drop_path_rate=0
        np.testing.assert_allclose(im2col(x, training=training), native(x, training=training),
                                   atol=ATOL)


@pytest.mark.heavy
def test_drop_path_rate_builds_keras_applications_schedule(rng):
    kwargs = {"input_shape": (32, 32, 3), "classes": 5}
    keras.backend.clear_session(free_memory=False)
    expected = keras_convnext.ConvNeXt(depths=[3, 3, 9, 3], projection_dims=[96, 192, 384, 768],
                                       drop_path_rate=0.3, name="convnext_tiny", weights=None,
                                       **kwargs)
    keras.backend.clear_session(free_memory=False)
    model = kzoo.create_model("convnext_tiny", drop_path_rate=0.3, name="regularized", **kwargs)
    assert [layer.name for layer in model.layers] == [layer.name for layer in expected.layers]
    drops = [layer for layer in model.layers if isinstance(layer, DropPath)]
    theirs = [layer for layer in expected.layers
              if isinstance(layer, keras_convnext.StochasticDepth)]
    # Block 0 (rate 0) keeps its identity; the other 17 rise linearly to 0.3.
    assert [d.rate for d in drops] == [s.drop_path_rate for s in theirs]
    np.testing.assert_allclose([d.rate for d in drops],
                               np.linspace(0, 0.3, 18)[1:], rtol=1e-12)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    at_inference = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(model(x), at_inference)
    assert np.isfinite(np.asarray(model(x, training=True))).all()


@pytest.mark.heavy
def test_no_layer_scale(rng):
    model = kzoo.create_model("convnext_tiny", layer_scale_init_value=None,
                              input_shape=(32, 32, 3))
    assert not any(isinstance(layer, LayerScale) for layer in model.layers)
    blocks = sum(d * c for d, c in zip((3, 3, 9, 3), (96, 192, 384, 768)))
    assert model.count_params() == kzoo_convnext.VARIANTS["convnext_tiny"][2] - blocks


@pytest.mark.heavy
def test_grey_model_with_an_rgb_legacy_file_is_the_rgb_model_on_grey(references):
    # With its preprocessing, a grey model repeats g to [g, g, g] before the RGB
    # normalization its weights were trained with; without it the stem kernel is summed
    # over the RGB channels (timm's adapt_input_conv), so g gives the RGB output on [g, g, g].
    ref = references("convnext_tiny", TINY_NOTOP)
    rgb = kzoo.create_model("convnext_tiny", weights=ref.path, **TINY_NOTOP)
    grey_shape = {**TINY_NOTOP, "input_shape": (64, 64, 1)}
    grey = kzoo.create_model("convnext_tiny", weights=ref.path, **grey_shape)
    assert grey.layers[1].name == "grey_to_rgb"
    g = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 1)).astype("float32")
    rgb_on_grey = np.asarray(rgb(np.repeat(g, 3, axis=-1)))
    np.testing.assert_allclose(np.asarray(grey(g)), rgb_on_grey, atol=1e-4, rtol=1e-5)

    raw = {**grey_shape, "include_preprocessing": False}
    grey_raw = kzoo.create_model("convnext_tiny", weights=ref.path, **raw)
    rgb_raw = kzoo.create_model("convnext_tiny", weights=ref.path,
                                **{**TINY_NOTOP, "include_preprocessing": False})
    kernel = grey_raw.get_layer("convnext_tiny_stem").layers[0].kernel.numpy()
    rgb_kernel = rgb_raw.get_layer("convnext_tiny_stem").layers[0].kernel.numpy()
    np.testing.assert_allclose(kernel, rgb_kernel.sum(axis=2, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grey_raw(g)),
                               np.asarray(rgb_raw(np.repeat(g, 3, axis=-1))), atol=1e-3,
                               rtol=1e-4)


# --------------------------------------------------------------------------- #
# Bad arguments: a ValueError naming the argument, before anything is built
# --------------------------------------------------------------------------- #


BAD_ARGUMENTS = [
    ("drop_path_rate", 1.0),
    ("drop_path_rate", -0.1),
    ("drop_path_rate", "0.1"),
    ("layer_scale_init_value", "1e-6"),
    ("layer_scale_init_value", float("nan")),
    ("layer_scale_init_value", True),
    ("include_preprocessing", "yes"),
    ("conv_impl", "fft"),
    ("pooling", "mean"),
    ("classes", 0),
]


def test_bad_arguments(monkeypatch):
    # One test for all (each test of this folder ends with a clear_session, 0.5 s).
    for argument, value in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
            kzoo.create_model("convnext_tiny", **{argument: value})
    with pytest.raises(ValueError, match=r"at least 32x32.*Received: input_shape"):
        kzoo.create_model("convnext_tiny", input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match=r"must be \(224, 224\).*Received: input_shape"):
        kzoo.create_model("convnext_tiny", weights="imagenet", input_shape=(64, 64, 3))
    assert_imagenet_refused(monkeypatch, "convnext_tiny", {"classes": 10}, "classes")
