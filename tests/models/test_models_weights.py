"""Weights: keras.applications' legacy HDF5 files load into kzoo builders, offline.

A keras.applications model's weights are written in the legacy layout its
ImageNet files use (`save_weights_to_hdf5_group`), loaded into the kzoo
builder by path, and the predictions compared on random input.
"""

import keras
import numpy as np
import pytest

import kzoo
from model_helpers import randomize_statistics, write_legacy_h5
from kzoo.models import weights as weight_files

ATOL = 1e-4


def _proof(tmp_path, rng, keras_builder, kzoo_name, **kwargs):
    reference = randomize_statistics(keras_builder(weights=None, **kwargs))
    path = write_legacy_h5(reference, tmp_path / f"{kzoo_name}.h5")
    model = kzoo.create_model(kzoo_name, weights=path, **kwargs)
    x = rng.uniform(0, 1, (2, *reference.input_shape[1:])).astype("float32")
    expected = reference.predict(x, verbose=0)
    actual = model.predict(x, verbose=0)
    np.testing.assert_allclose(actual, expected, atol=ATOL)
    print(f"{kzoo_name} {kwargs}: max |kzoo - keras| = {np.abs(actual - expected).max():.3g}")
    return model, path, x


def test_resnet50_keras_legacy_file_with_top(tmp_path, rng):
    # keras.applications accepts any input >= 32 with the top when weights=None.
    model, _, _ = _proof(tmp_path, rng, keras.applications.ResNet50, "resnet50",
                         input_shape=(96, 96, 3))
    assert model.output.shape == (None, 1000)


@pytest.mark.heavy
def test_resnet50_keras_legacy_file_without_top_and_grey_input(tmp_path, rng):
    model, path, x = _proof(tmp_path, rng, keras.applications.ResNet50, "resnet50",
                            include_top=False, pooling="avg", input_shape=(96, 96, 3))
    # The same RGB file adapts to a 1-channel model: grey g equals RGB [g, g, g].
    grey = kzoo.create_model("resnet50", weights=path, include_top=False, pooling="avg",
                             input_shape=(96, 96, 1))
    g = x[..., :1]
    np.testing.assert_allclose(
        grey.predict(g, verbose=0), model.predict(np.repeat(g, 3, axis=-1), verbose=0),
        atol=ATOL,
    )


@pytest.mark.heavy
def test_inception_v3_keras_legacy_file_without_top(tmp_path, rng):
    # keras.applications leaves these layers unnamed: the file loads by order.
    _proof(tmp_path, rng, keras.applications.InceptionV3, "inception_v3",
           include_top=False, pooling="avg", input_shape=(75, 75, 3))


def test_vgg16_keras_legacy_file_without_top(tmp_path, rng):
    _proof(tmp_path, rng, keras.applications.VGG16, "vgg16", include_top=False, pooling="avg",
           input_shape=(32, 32, 3))


@pytest.mark.heavy
def test_inception_v3_keras_legacy_file_with_top(tmp_path, rng):
    _proof(tmp_path, rng, keras.applications.InceptionV3, "inception_v3")


@pytest.mark.heavy
def test_vgg16_keras_legacy_file_with_top(tmp_path, rng):
    _proof(tmp_path, rng, keras.applications.VGG16, "vgg16")


@pytest.mark.heavy
@pytest.mark.parametrize("keras_name, name", [("ResNet101", "resnet101"),
                                              ("ResNet152", "resnet152"),
                                              ("VGG19", "vgg19")])
def test_other_keras_legacy_files_without_top(tmp_path, rng, keras_name, name):
    _proof(tmp_path, rng, getattr(keras.applications, keras_name), name,
           include_top=False, pooling="avg", input_shape=(64, 64, 3))


@pytest.mark.parametrize("name, keras_module, include_top", [
    ("resnet50", "resnet", True),
    ("vgg16", "vgg16", False),
    # Heavy (about 7 s; the default run keeps resnet50's and vgg16's): `./scripts/run test-heavy`.
    pytest.param("inception_v3", "inception_v3", True, marks=pytest.mark.heavy),
])
def test_imagenet_fetches_the_keras_applications_file(monkeypatch, tmp_path, name,
                                                      keras_module, include_top):
    """`weights="imagenet"` asks `get_file` for keras.applications' URL and hash."""
    import importlib

    module = importlib.import_module(f"keras.src.applications.{keras_module}")
    if name == "resnet50":
        keras_url = f"{module.BASE_WEIGHTS_PATH}{name}_weights_tf_dim_ordering_tf_kernels.h5"
        keras_hash = module.WEIGHTS_HASHES[name][0]
    elif name == "vgg16":  # keras.applications writes these hashes inline
        keras_url, keras_hash = module.WEIGHTS_PATH_NO_TOP, "6d6bbae143d832006294945121d1f1fc"
    else:
        keras_url, keras_hash = module.WEIGHTS_PATH, "9a0d58056eeedaa3f26cb7ebd46da564"
    kwargs = {} if include_top else {"include_top": False, "input_shape": (32, 32, 3)}
    # Offline stand-in for the downloaded file: this model's own weights.
    own = kzoo.create_model(name, **kwargs)
    stand_in = write_legacy_h5(own, tmp_path / "stand_in.h5")
    calls = []

    def fake_get_file(fname, origin, cache_subdir, file_hash):
        calls.append((fname, origin, cache_subdir, file_hash))
        return stand_in

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    model = kzoo.create_model(name, weights="imagenet", **kwargs)
    assert calls == [(keras_url.rsplit("/", 1)[-1], keras_url, "models", keras_hash)]
    for a, b in zip(model.weights, own.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["resnet50", "vgg16", "inception_v3", "resnet152", "vgg19"])
def test_imagenet_with_top_needs_1000_classes(name):
    with pytest.raises(ValueError, match="classes"):
        kzoo.create_model(name, weights="imagenet", classes=10)


def test_unknown_weights_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="imagenet.*Received: weights='cifar'"):
        kzoo.create_model("resnet50", weights="cifar")
    with pytest.raises(ValueError, match="Received: weights='imagenet'"):
        kzoo.create_model("lenet", weights="imagenet")


def test_imagenet_flatten_head_needs_default_input():
    with pytest.raises(ValueError, match=r"\(224, 224\)"):
        kzoo.create_model("vgg16", weights="imagenet", input_shape=(64, 64, 3))


def test_keras_weights_h5_file_and_channel_adaptation(tmp_path, rng):
    rgb = randomize_statistics(kzoo.create_model("resnet20"))
    path = str(tmp_path / "resnet20.weights.h5")
    rgb.save_weights(path)
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    same = kzoo.create_model("resnet20", weights=path)
    np.testing.assert_allclose(same.predict(x, verbose=0), rgb.predict(x, verbose=0), atol=1e-6)

    grey = kzoo.create_model("resnet20", weights=path, input_shape=(32, 32, 1))
    g = x[..., :1]
    np.testing.assert_allclose(grey.predict(g, verbose=0),
                               rgb.predict(np.repeat(g, 3, axis=-1), verbose=0), atol=ATOL)

    five = kzoo.create_model("resnet20", weights=path, input_shape=(32, 32, 5))
    kernel = rgb.get_layer("stem_conv").kernel.numpy()
    expected = np.concatenate([kernel, kernel[:, :, :2]], axis=2) * 3 / 5
    np.testing.assert_allclose(five.get_layer("stem_conv").kernel.numpy(), expected, rtol=1e-6)


def test_legacy_file_channel_adaptation_many_channels(tmp_path, rng):
    rgb = randomize_statistics(kzoo.create_model("resnet20"))
    path = write_legacy_h5(rgb, tmp_path / "resnet20.h5")
    model = kzoo.create_model("resnet20", weights=path, input_shape=(32, 32, 6))
    # Six channels holding the image twice, scaled by 3/6 each: the RGB output.
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(np.concatenate([x, x], -1), verbose=0),
                               rgb.predict(x, verbose=0), atol=ATOL)


def test_adapt_input_conv():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype("float32")
    np.testing.assert_allclose(weight_files.adapt_input_conv(kernel, 1),
                               kernel.sum(axis=2, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(weight_files.adapt_input_conv(kernel, 3), kernel)
    two = weight_files.adapt_input_conv(kernel, 2)
    np.testing.assert_allclose(two, kernel[:, :, :2] * 1.5, rtol=1e-6)
    six = np.concatenate([kernel, kernel], axis=2)
    np.testing.assert_allclose(weight_files.adapt_input_conv(six, 1),
                               2 * kernel.sum(axis=2, keepdims=True), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Received"):
        weight_files.adapt_input_conv(np.ones((3, 3, 4, 2)), 5)


def test_mismatched_file_raises(tmp_path):
    path = write_legacy_h5(kzoo.create_model("lenet"), tmp_path / "lenet.h5")
    with pytest.raises(ValueError, match="Received"):
        kzoo.create_model("resnet20", weights=path)
