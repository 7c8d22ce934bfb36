"""ResNet V2, DenseNet, Xception, Inception-ResNet V2 and NASNet against keras.applications.

For each: the same layers (names and weight shapes) and count, a legacy HDF5
file written from the keras.applications model (BatchNorm statistics
randomized so they matter) loading to the same outputs, the Im2Col twin
equal to native, and keras.applications' ImageNet URLs and hashes. One model
or two run by default; the others run with `-m heavy`
(`./scripts/run test-heavy`), as do the full-size counts (building the large
ones takes seconds each).
"""

import keras
import numpy as np
import pytest
from keras.src.applications import densenet as keras_densenet
from keras.src.applications import inception_resnet_v2 as keras_irv2
from keras.src.applications import nasnet as keras_nasnet
from keras.src.applications import resnet as keras_resnet
from keras.src.applications import xception as keras_xception

import kzoo
from model_helpers import layer_table, randomize_statistics, write_legacy_h5

ATOL = 1e-4
#: kzoo name -> (keras.applications builder, a small input it takes)
FAMILIES = {
    "resnet50_v2": (keras.applications.ResNet50V2, (64, 64, 3)),
    "resnet101_v2": (keras.applications.ResNet101V2, (64, 64, 3)),
    "resnet152_v2": (keras.applications.ResNet152V2, (64, 64, 3)),
    "densenet121": (keras.applications.DenseNet121, (65, 65, 3)),
    "densenet169": (keras.applications.DenseNet169, (64, 64, 3)),
    "densenet201": (keras.applications.DenseNet201, (64, 64, 3)),
    "xception": (keras.applications.Xception, (75, 75, 3)),
    "inception_resnet_v2": (keras.applications.InceptionResNetV2, (75, 75, 3)),
    "nasnet_mobile": (keras.applications.NASNetMobile, (65, 65, 3)),
    "nasnet_large": (keras.applications.NASNetLarge, (64, 64, 3)),
}
DEFAULT_RUN = {"resnet50_v2", "xception"}


def _params(names=FAMILIES):
    return [n if n in DEFAULT_RUN else pytest.param(n, marks=pytest.mark.heavy) for n in names]


@pytest.mark.heavy
@pytest.mark.parametrize("name", _params())
def test_legacy_file_loads_to_keras_outputs_and_im2col_agrees(name, tmp_path, rng):
    builder, shape = FAMILIES[name]
    x = rng.uniform(-1, 1, (2, *shape)).astype("float32")
    for include_top in (True, False):
        reference = randomize_statistics(builder(weights=None, input_shape=shape,
                                                 include_top=include_top))
        expected = np.asarray(reference(x, training=False))
        path = write_legacy_h5(reference, tmp_path / f"{name}_{include_top}.h5")
        for conv_impl in ("native", "im2col") if include_top else ("native",):
            model = kzoo.create_model(name, weights=path, input_shape=shape,
                                      include_top=include_top, conv_impl=conv_impl)
            actual = np.asarray(model(x, training=False))
            assert actual.shape == expected.shape
            # Features without the top are large (randomized statistics): relative there.
            np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=ATOL)
        keras.backend.clear_session(free_memory=False)


@pytest.mark.heavy
@pytest.mark.parametrize("name", [
    "resnet50_v2", "densenet121", "xception", "nasnet_mobile",
    pytest.param("inception_resnet_v2", marks=pytest.mark.heavy),
])
def test_same_weighted_layers_and_count_as_keras_applications(name):
    builder, shape = FAMILIES[name]
    expected = builder(weights=None, input_shape=shape)
    model = kzoo.create_model(name, input_shape=shape)
    assert model.count_params() == expected.count_params()
    assert model.name == expected.name

    def weighted(table):
        return [shapes for _, shapes in table if shapes]

    # keras.applications leaves some weighted layers unnamed (Xception's projections,
    # most of Inception-ResNet's): the shapes agree layer by layer, and the names wherever
    # keras.applications gives one.
    assert weighted(layer_table(model)) == weighted(layer_table(expected))
    names = {layer.name for layer in model.layers}
    named = [layer.name for layer in expected.layers if layer.weights
             and not layer.name.startswith(("conv2d", "batch_normalization"))]
    assert [n for n in named if n not in names] == []


def test_imagenet_urls_and_hashes_are_keras_applications():
    from kzoo.models.densenet.presets import PRESETS as DENSENET
    from kzoo.models.inception.presets import PRESETS as INCEPTION
    from kzoo.models.nasnet.presets import PRESETS as NASNET
    from kzoo.models.resnet.presets import PRESETS as RESNET
    from kzoo.models.xception.presets import PRESETS as XCEPTION

    for depth in (50, 101, 152):
        files = RESNET[f"resnet{depth}_v2"]["imagenet"]
        top, notop = keras_resnet.WEIGHTS_HASHES[f"resnet{depth}v2"]
        base = (keras_resnet.BASE_WEIGHTS_PATH
                + f"resnet{depth}v2_weights_tf_dim_ordering_tf_kernels")
        assert (files.top_url, files.top_hash) == (base + ".h5", top)
        assert (files.notop_url, files.notop_hash) == (base + "_notop.h5", notop)
    for depth in (121, 169, 201):
        files = DENSENET[f"densenet{depth}"]["imagenet"]
        assert files.top_url == getattr(keras_densenet, f"DENSENET{depth}_WEIGHT_PATH")
        assert files.notop_url == getattr(keras_densenet, f"DENSENET{depth}_WEIGHT_PATH_NO_TOP")
    xc = XCEPTION["xception"]["imagenet"]
    assert (xc.top_url, xc.notop_url) == (keras_xception.WEIGHTS_PATH,
                                          keras_xception.WEIGHTS_PATH_NO_TOP)
    irv2 = INCEPTION["inception_resnet_v2"]["imagenet"]
    assert irv2.top_url.startswith(keras_irv2.BASE_WEIGHT_URL)
    assert NASNET["nasnet_mobile"]["imagenet"].top_url == keras_nasnet.NASNET_MOBILE_WEIGHT_PATH
    assert (NASNET["nasnet_large"]["imagenet"].notop_url
            == keras_nasnet.NASNET_LARGE_WEIGHT_PATH_NO_TOP)


# keras.applications passes the hashes of these files to get_file inline: capture the request
# of its own builder and of kzoo's, with and without the top.
CAPTURED = {
    "densenet121": (keras_densenet, keras.applications.DenseNet121),
    "xception": (keras_xception, keras.applications.Xception),
    "inception_resnet_v2": (keras_irv2, keras.applications.InceptionResNetV2),
    "nasnet_mobile": (keras_nasnet, keras.applications.NASNetMobile),
    "nasnet_large": (keras_nasnet, keras.applications.NASNetLarge),
}


@pytest.mark.heavy
@pytest.mark.parametrize("name", CAPTURED)
def test_imagenet_asks_get_file_what_keras_applications_asks(monkeypatch, name):
    module, builder = CAPTURED[name]
    calls = []

    def capture(fname, origin=None, file_hash=None, cache_subdir=None, **kwargs):
        calls.append((fname, origin, file_hash, cache_subdir))
        raise RuntimeError("offline")

    monkeypatch.setattr(keras.utils, "get_file", capture)
    monkeypatch.setattr(module.file_utils, "get_file", capture)
    for include_top in (True, False):
        # Without the top the input size is free: the smallest keeps the builds cheap.
        shape = None if include_top else (75, 75, 3)
        calls.clear()
        with pytest.raises(RuntimeError):
            builder(weights="imagenet", include_top=include_top, input_shape=shape)
        expected = calls[0]
        calls.clear()
        with pytest.raises(ValueError, match="Could not fetch"):
            kzoo.create_model(name, weights="imagenet", include_top=include_top,
                              input_shape=shape)
        assert calls[0] == expected
        keras.backend.clear_session(free_memory=False)


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["resnet101_v2", "resnet152_v2", "densenet169", "densenet201",
                                  "inception_resnet_v2", "nasnet_large"])
def test_full_size_count_equals_keras_applications(name):
    builder, _ = FAMILIES[name]
    assert kzoo.create_model(name).count_params() == builder(weights=None).count_params()


def test_scaled_residual_is_keras_applications_custom_scale_layer(rng):
    a, b = (rng.normal(size=(2, 5, 5, 3)).astype("float32") for _ in range(2))
    ours = kzoo.models.inception.ScaledResidual(0.17)
    theirs = keras_irv2.CustomScaleLayer(0.17)
    np.testing.assert_allclose(np.asarray(ours([a, b])), np.asarray(theirs([a, b])), atol=1e-7)
    restored = kzoo.models.inception.ScaledResidual.from_config(ours.get_config())
    assert restored.scale == 0.17
    with pytest.raises(ValueError, match="Received: scale='big'"):
        kzoo.models.inception.ScaledResidual("big")
