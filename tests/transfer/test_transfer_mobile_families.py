"""MobileNet and EfficientNet as transfer bases: `kzoo finetune`, load_base, freeze, CAM.

One model per family. In the default suite: mobilenet_v2's `kzoo finetune`
run and freezing, and the MobileNetV3 top that CAM and `classifier` now walk
past. Heavy (`./scripts/run test-heavy`): efficientnet_b0 and
efficientnet_v2_b0, `load_base` with a `.weights.h5` file and the CAM of each
family. Weight files are written here, offline, from randomly initialised RGB
models with non-trivial BatchNorm statistics (fresh ones are 0/1, which a
batch-statistics update could leave looking unchanged): keras.applications'
legacy HDF5 layout and Keras `.weights.h5`. Images are 32 or 64 pixels, grey
where the point is that a 1-channel dataset takes pretrained RGB weights.
"""

import hashlib
import json
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from keras.src.legacy.saving import legacy_h5_format
from PIL import Image

import kzoo
from kzoo.cli import main
from kzoo.transfer.cam import cam_method, class_activation_map

HEAVY = pytest.mark.heavy
#: family -> a layer of the base's middle (the `until` of a partial freeze).
MIDDLE = {
    "mobilenet_v2": "block_13_expand_relu",
    "efficientnet_b0": "block6a_expand_activation",
    "efficientnet_v2_b0": "block6a_expand_activation",
}
FAMILIES = ["mobilenet_v2", pytest.param("efficientnet_b0", marks=HEAVY),
            pytest.param("efficientnet_v2_b0", marks=HEAVY)]
ALL_HEAVY = [pytest.param(name, marks=HEAVY) for name in MIDDLE]


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _randomize(model, seed=0):
    """Non-trivial BatchNorm scales, offsets and moving statistics, and biases."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if "moving_variance" in v.path or "gamma" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif "moving_mean" in v.path or "beta" in v.path or "bias" in v.path:
            v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory):
    """`weight_file(name, suffix)`: a file of an RGB `name` without its top, made once."""
    made = {}

    def make(name, suffix=".h5"):
        if (name, suffix) not in made:
            source = _randomize(kzoo.create_model(name, input_shape=(32, 32, 3),
                                                  include_top=False))
            path = str(tmp_path_factory.mktemp("weights") / f"{name}{suffix}")
            if suffix == ".h5":  # keras.applications' layout: one group per layer name
                with h5py.File(path, "w") as f:
                    legacy_h5_format.save_weights_to_hdf5_group(f, source)
            else:
                source.save_weights(path)
            made[name, suffix] = path, {w.path: w.numpy() for w in source.weights}
        return made[name, suffix]

    return make


def _file_arrays(path):
    """`{"layer/weight": array}` of a legacy HDF5 weights file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        for layer in f.attrs["layer_names"]:
            group = f[layer]
            for name in group.attrs.get("weight_names", []):
                arrays[name.decode() if isinstance(name, bytes) else name] = np.asarray(
                    group[name])
    return arrays


def _batch_norms(model):
    return [layer for layer in model._flatten_layers(include_self=False)
            if kzoo.transfer.is_batch_norm(layer)]


def _bn_state(model):
    """`{layer: bytes of gamma, beta, moving mean, moving variance}` of every BN layer."""
    return {layer.name: tuple(w.numpy().tobytes() for w in layer.weights)
            for layer in _batch_norms(model)}


def _grey_folder(root, per_class=6, test_per_class=2, size=32):
    """A Fashion-MNIST-like folder: 1-channel PNGs of shirts and trousers, train/ and test/."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", test_per_class)):
        for name in ("shirt", "trousers"):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.normal(20, 8, (size, size))
                if name == "shirt":
                    pixels[6:28, 6:26] += 180
                else:
                    pixels[4:30, 8:14] += 180
                    pixels[4:30, 18:24] += 180
                image = Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"), "L")
                image.save(root / split / name / f"{i}.png")
    return str(root)


# --------------------------------------------------------------------------- #
# kzoo finetune and load_base
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("name, mode", [
    ("mobilenet_v2", "linear"),
    pytest.param("efficientnet_b0", "auto", marks=HEAVY),  # 'full': backward at 224×224
    pytest.param("efficientnet_v2_b0", "linear", marks=HEAVY),
])
def test_kzoo_finetune_a_grey_folder_on_rgb_weights(tmp_path, weight_file, name, mode):
    # `kzoo finetune NAME --weights FILE --dataset FOLDER`: the base is built at its default
    # 224×224×3 with the file's RGB weights; the grey 32×32 images are resized and repeated
    # to RGB in front of it.
    path, _ = weight_file(name)  # legacy HDF5 of an RGB model
    data = _grey_folder(tmp_path / "data")
    run = str(tmp_path / "run")
    result = CliRunner().invoke(main, ["finetune", name, "--weights", path, "--dataset", data,
                                       "--mode", mode, "--epochs", "1", "--batch-size", "8",
                                       "--learning-rate", "0.001", "--output", run])
    assert result.exit_code == 0, result.output
    trained = "linear" if mode == "linear" else "full"  # auto: 'full', one phase at 1 epoch
    assert f"mode {trained}" in result.output
    for file in ("run.json", "history.csv", "model.keras", "metrics.json"):
        assert os.path.isfile(os.path.join(run, file)), file
    with open(os.path.join(run, "run.json")) as f:
        record = json.load(f)
    assert record["base"] == {"source": name, "kind": "model", "architecture": name,
                              "weights": path, "sha256": _sha256(path)}
    assert record["command"].startswith(f"kzoo finetune {name} --dataset ")
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["mode"] == trained and metrics["input_shape"] == [32, 32, 1]
    assert metrics["class_names"] == ["shirt", "trousers"]

    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 2)
    # Grey in front of the RGB base, whose first convolution keeps the file's 3 channels.
    assert isinstance(model.get_layer("input_channels"), kzoo.transfer.ConvertChannels)
    assert isinstance(model.get_layer("input_resize"), keras.layers.Resizing)
    saved = _file_arrays(path)
    first = next(layer for layer in model.layers if layer.weights
                 and len(layer.weights[0].shape) == 4)
    kernel = saved[f"{first.name}/kernel"]
    assert first.kernel.shape == kernel.shape and kernel.shape[2] == 3
    # "linear" keeps the whole base, "full" trains its convolutions; every BatchNorm keeps
    # the file's values bit for bit (scale, offset and moving statistics) either way.
    assert np.array_equal(first.kernel.numpy(), kernel) == (trained == "linear")
    batch_norms = _batch_norms(model)
    assert len(batch_norms) > 40
    for layer in batch_norms:
        for w in layer.weights:
            np.testing.assert_array_equal(w.numpy(), saved[f"{layer.name}/{w.name}"],
                                          err_msg=w.path)


@pytest.mark.parametrize("name", ALL_HEAVY)
def test_load_base_reads_a_keras_weights_file(weight_file, name):
    path, expected = weight_file(name, ".weights.h5")
    base, info = kzoo.transfer.load_base(name, weights=path)
    assert info == {"source": name, "kind": "model", "architecture": name, "weights": path,
                    "sha256": _sha256(path)}
    assert base.input_shape == (None, 224, 224, 3)  # the registry's default size
    got = {w.path: w.numpy() for w in base.weights}
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert len(kzoo.transfer.feature_tensor(base).shape) == 4


# --------------------------------------------------------------------------- #
# freeze: BatchNorm bit for bit
# --------------------------------------------------------------------------- #


@pytest.mark.heavy
@pytest.mark.parametrize("name", FAMILIES)
def test_freeze_keeps_batch_norm_bit_identical_through_training(weight_file, rng, name):
    path, _ = weight_file(name)
    # A grey base with RGB weights (MobileNet sums its first kernel over RGB; EfficientNet
    # repeats grey to RGB in front), then a new head.
    base = kzoo.create_model(name, input_shape=(32, 32, 1), include_top=False, weights=path)
    model = kzoo.transfer.classifier(base, 3)
    x = rng.uniform(0, 255, (16, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 3, 16)
    batch_norms = _batch_norms(model)
    assert len(batch_norms) > 40
    probe = keras.Model(model.inputs[0], [layer.output for layer in batch_norms])
    # Each BN layer's own function, on a fixed input of its shape.
    inputs = {layer.name: rng.normal(0, 2, (2, *layer.input.shape[1:])).astype("float32")
              for layer in batch_norms}

    def bn_outputs():
        return {layer.name: keras.ops.convert_to_numpy(layer(inputs[layer.name])).tobytes()
                for layer in batch_norms}

    def train():
        model.compile(optimizer=keras.optimizers.SGD(0.05),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)

    def network_maps():  # eager: no predict function to trace for two calls
        return [keras.ops.convert_to_numpy(m).tobytes() for m in probe(x, training=False)]

    state, outputs, maps = _bn_state(model), bn_outputs(), network_maps()

    # 1. The whole base frozen: the head trains, every BN map of the network is unchanged.
    frozen = kzoo.transfer.freeze(model)
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["predictions"]
    assert {layer.name for layer in batch_norms} <= set(frozen)
    head = model.get_layer("predictions").kernel.numpy()
    train()
    assert not np.array_equal(model.get_layer("predictions").kernel.numpy(), head)
    assert _bn_state(model) == state
    assert bn_outputs() == outputs
    assert network_maps() == maps

    # 2. Unfrozen past the middle: the convolutions there train, no BN layer does.
    middle = MIDDLE[name]
    names = [layer.name for layer in model.layers]
    convs = [layer for layer in model.layers
             if layer.weights and len(layer.weights[0].shape) == 4]
    before = {layer.name: layer.weights[0].numpy() for layer in convs}
    kzoo.transfer.freeze(model, until=middle)
    trainable = [layer.name for layer in model.layers if layer.trainable_weights]
    assert not any(kzoo.transfer.is_batch_norm(model.get_layer(n)) for n in trainable)
    train()
    assert _bn_state(model) == state
    assert bn_outputs() == outputs
    moved = {layer.name for layer in convs
             if not np.array_equal(layer.weights[0].numpy(), before[layer.name])}
    later = {layer.name for layer in convs if names.index(layer.name) > names.index(middle)}
    assert moved and moved <= later


# --------------------------------------------------------------------------- #
# Class activation maps
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ALL_HEAVY)  # the default suite: mobilenet_v3_small's below
def test_class_activation_maps(weight_file, rng, name):
    path, _ = weight_file(name)
    base = kzoo.create_model(name, input_shape=(64, 64, 3), include_top=False, weights=path)
    # Grey images into the RGB base: CAM reads the classifier's own (replayed) graph.
    model = kzoo.transfer.classifier(base, 4, input_shape=(64, 64, 1), dropout=0.2)
    images = rng.uniform(0, 255, (5, 64, 64, 1)).astype("float32")
    features = keras.Model(model.inputs[0], model.get_layer("pooler").input).predict(
        images, verbose=0)
    assert features.shape[1:3] == (2, 2)  # the last feature map: 64 / 32
    kernel, bias = model.get_layer("predictions").get_weights()
    probabilities = model.predict(images, verbose=0)
    assert cam_method(model) == "cam"
    for class_index, classes in ((None, probabilities.argmax(-1)), (3, np.full(5, 3)),
                                 ([0, 1, 2, 3, 0], [0, 1, 2, 3, 0])):
        maps = class_activation_map(model, images, class_index)
        assert maps.shape == (5, 2, 2) and maps.dtype == np.float32
        np.testing.assert_allclose(maps, np.einsum("nhwk,kn->nhw", features, kernel[:, classes]),
                                   rtol=1e-4, atol=1e-4)
    # Each class's map averages to its logit less the bias: all four of one image.
    per_class = class_activation_map(model, np.repeat(images[:1], 4, axis=0), [0, 1, 2, 3])
    np.testing.assert_allclose(tf.nn.softmax(per_class.mean(axis=(1, 2)) + bias),
                               probabilities[0], rtol=1e-4, atol=1e-6)
    # Grad-CAM of a global-average + affine head is ReLU(CAM) / (h·w).
    grad_cam = class_activation_map(model, images, method="grad-cam")
    np.testing.assert_allclose(grad_cam, np.maximum(class_activation_map(model, images), 0) / 4,
                               rtol=1e-4, atol=1e-6)
    shown = class_activation_map(model, images, upsample=True, normalize=True)
    assert shown.shape == (5, 64, 64) and shown.min() >= 0
    assert set(np.round(shown.max(axis=(1, 2)), 5)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="Argument `class_index`.*Received"):
        class_activation_map(model, images, 4)


def test_mobilenet_v3s_own_top_is_cut_before_its_pooling(rng):
    # MobileNetV3's top: global average (keepdims) -> conv_2 -> hard-swish -> logits (1×1
    # convolutions) -> flatten. Its (1, 1, classes) logits are not its last feature map.
    model = _randomize(kzoo.create_model("mobilenet_v3_small", input_shape=(64, 64, 3),
                                         classes=5))
    pooling = [layer for layer in model.layers
               if isinstance(layer, keras.layers.GlobalAveragePooling2D)][-1]
    last_map = pooling.input
    assert tuple(last_map.shape) == (None, 2, 2, 576)
    assert kzoo.transfer.feature_tensor(model) is last_map
    cut = kzoo.transfer.classifier(model, 3)
    names = [layer.name for layer in cut.layers]
    assert "logits" not in names and "conv_2" not in names
    assert cut.get_layer("pooler").input.shape == (None, 2, 2, 576)

    # Grad-CAM on that map, by its formula with the model's own top layers.
    images = rng.uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    assert cam_method(model) == "grad-cam"
    maps = class_activation_map(model, images)
    assert maps.shape == (3, 2, 2)
    a = tf.Variable(keras.Model(model.inputs[0], last_map)(images))
    top = model.layers[model.layers.index(pooling):-1]  # pooling ... flatten (no softmax)
    with tf.GradientTape() as tape:
        scores = a
        for layer in top:
            scores = layer(scores)
        index = tf.argmax(scores, -1)
        score = tf.reduce_sum(tf.gather(scores, index, axis=1, batch_dims=1))
    alpha = tf.reduce_mean(tape.gradient(score, a), axis=(1, 2))
    expected = np.maximum(np.einsum("nhwk,nk->nhw", a.numpy(), alpha.numpy()), 0)
    np.testing.assert_array_equal(index, np.argmax(model(images, training=False), -1))
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-4 * max(expected.max(), 1e-6))


def test_a_1x1_top_without_global_pooling_is_not_walked_past():
    # A trunk whose last map is 1×1 (a strided convolution), flattened into a dense head:
    # that 1×1 map is the feature map. A keepdims pooling flattened into a dense head is cut
    # before the pooling.
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv_a")(inputs)
    trunk = keras.layers.Conv2D(6, 6, name="conv_b")(x)  # (1, 1, 6)
    flat = keras.layers.Dense(2, name="scores")(keras.layers.Flatten()(trunk))
    assert kzoo.transfer.feature_tensor(keras.Model(inputs, flat)) is trunk
    pooled = keras.layers.GlobalMaxPooling2D(keepdims=True)(x)
    head = keras.layers.Dense(2, name="scores2")(keras.layers.Flatten()(pooled))
    assert kzoo.transfer.feature_tensor(keras.Model(inputs, head)) is x


def test_the_stages_of_a_squeeze_excite_base_are_its_resolutions():
    # find_stages skips squeeze-excite branches' 1×1 maps (computed from a global pooling).
    base = kzoo.create_model("mobilenet_v3_small", input_shape=(64, 64, 3), include_top=False)
    model = kzoo.transfer.classifier(base, 3)
    stages = kzoo.models.features.find_stages(model)
    assert [s["reduction"] for s in stages][-5:] == [2, 4, 8, 16, 32]
    assert stages[-1]["shape"] == (2, 2, 576)
