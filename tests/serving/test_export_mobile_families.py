"""`kzoo export` of MobileNet and EfficientNet: SavedModel and LiteRT equal the Keras model.

What is exported is what `kzoo finetune` makes of a pretrained base on grey
images: a 1-channel base built with an RGB weights file (written here, offline,
from a randomly initialised model with non-trivial BatchNorm statistics) under
a `kzoo.transfer.classifier` head. So the in-model preprocessing is in the
graph: MobileNetV3's `Rescaling`; EfficientNet's `grey_to_rgb` (a
`Concatenate` repeating grey to RGB for pretrained weights), `Rescaling` and
`Normalization`. Native convolutions only (the Im2Col LiteRT path is a separate
issue). The LiteRT export (`kzoo.serving.export_version`) of
mobilenet_v3_small runs in the default suite; the other families and every
SavedModel export (`kzoo export` of the model's `.keras` file) are heavy
(`./scripts/run test-heavy`).
"""

import json
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from keras.src.legacy.saving import legacy_h5_format

import kzoo
from kzoo.cli.main import main
from kzoo.serving import export_version

HEAVY = pytest.mark.heavy
SHAPE = (32, 32, 1)
CLASSES = 4
#: family -> the layers in front of its first convolution (but zero-padding).
PREPROCESSING = {
    "mobilenet_v3_small": ["Rescaling"],
    "mobilenet_v2": [],
    "efficientnet_b0": ["Concatenate", "Rescaling", "Normalization"],  # grey_to_rgb first
    "efficientnet_v2_b0": ["Concatenate", "Rescaling", "Normalization"],
}
FAMILIES = ["mobilenet_v3_small"] + [pytest.param(name, marks=HEAVY)
                                     for name in ("mobilenet_v2", "efficientnet_b0",
                                                  "efficientnet_v2_b0")]


def _randomize(model, rng):
    """Non-trivial BatchNorm scales, offsets and moving statistics, and biases."""
    for v in model.weights:
        if "moving_variance" in v.path or "gamma" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif "moving_mean" in v.path or "beta" in v.path or "bias" in v.path:
            v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
    return model


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tmp_path_factory):
    """`(name, model, images)`: a grey classifier on an RGB-weights base."""
    name = request.param
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp(name)
    source = _randomize(kzoo.create_model(name, input_shape=(32, 32, 3), include_top=False),
                        rng)
    weights = str(folder / f"{name}_rgb.h5")  # keras.applications' legacy layout
    with h5py.File(weights, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    base = kzoo.create_model(name, input_shape=SHAPE, include_top=False, weights=weights)
    model = kzoo.transfer.classifier(base, CLASSES)
    images = rng.uniform(0, 255, (3, *SHAPE)).astype("float32")
    # A head with logits a few units apart, so that the probabilities compared are not
    # all about 1/CLASSES whatever the features.
    features = keras.ops.convert_to_numpy(
        keras.Model(model.inputs[0], model.get_layer("pooler").output)(images))
    kernel = rng.normal(size=(features.shape[-1], CLASSES))
    kernel *= 3.0 / np.std(features @ kernel)
    model.get_layer("predictions").kernel.assign(kernel.astype("float32"))
    yield name, model, images
    keras.backend.clear_session()


def _keras_probabilities(model, images):
    return keras.ops.convert_to_numpy(model(images, training=False))  # eager: no tracing


def _check_probabilities(name, probabilities, expected):
    assert probabilities.dtype == np.float32 and probabilities.shape == expected.shape
    assert expected.max(-1).min() > 1.5 / CLASSES  # not flat: the comparison means something
    np.testing.assert_allclose(probabilities, expected, atol=1e-4, err_msg=name)


def test_the_models_have_their_preprocessing(family):
    name, model, _ = family
    first_conv = next(i for i, layer in enumerate(model.layers)
                      if layer.weights and len(layer.weights[0].shape) == 4)
    front = [layer for layer in model.layers[1:first_conv]
             if not isinstance(layer, keras.layers.ZeroPadding2D)]
    assert [type(layer).__name__ for layer in front] == PREPROCESSING[name]
    if front and isinstance(front[0], keras.layers.Concatenate):
        assert front[0].name == "grey_to_rgb"
    # A MobileNet's first kernel is summed over RGB for grey; EfficientNet repeats grey.
    grey_to_rgb = "Concatenate" in PREPROCESSING[name]
    assert model.layers[first_conv].kernel.shape[2] == (3 if grey_to_rgb else 1)


@HEAVY  # every family: the LiteRT export writes a SavedModel on its way
def test_kzoo_export_saved_model_equals_keras(family, tmp_path):
    name, model, images = family
    path = str(tmp_path / f"{name}_grey.keras")
    model.save(path)
    base = str(tmp_path / "serving")
    result = CliRunner().invoke(main, ["export", path, "--name", name, "--base", base])
    assert result.exit_code == 0, result.output
    assert "signatures serving_default, predict_images" in result.output
    version = os.path.join(base, name, "1")
    with open(os.path.join(version, "assets", "kzoo.json")) as f:
        info = json.load(f)
    assert info["input_shape"] == list(SHAPE) and info["kind"] == "keras_file"
    assert info["params"] == model.count_params() and info["format"] == "saved_model"

    loaded = tf.saved_model.load(version)
    assert sorted(loaded.signatures) == ["predict_images", "serving_default"]
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    expected = _keras_probabilities(model, images)
    _check_probabilities(name, out["probabilities"].numpy(), expected)
    np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))


def _op_names(flatbuffer):
    """The operator names of a LiteRT flatbuffer, `CUSTOM` for a custom (e.g. Flex) op."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.add("CUSTOM" if code.CustomCode() is not None else names[builtin])
    return ops


@pytest.mark.heavy
@pytest.mark.filterwarnings("ignore::UserWarning")  # tf.lite.Interpreter's deprecation
def test_litert_export_is_builtin_ops_and_equals_keras(family, tmp_path):
    name, model, images = family
    path, info = export_version(model, name, base=str(tmp_path / "serving"), format="tflite")
    assert sorted(os.listdir(path)) == ["kzoo.json", "labels.txt", "model.tflite"]
    assert info["format"] == "tflite" and info["input_shape"] == list(SHAPE)
    with open(os.path.join(path, "model.tflite"), "rb") as f:
        flatbuffer = f.read()
    ops = _op_names(flatbuffer)
    assert "CUSTOM" not in ops and not any(op.startswith("STABLEHLO") for op in ops), ops
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= ops, ops
    if "grey_to_rgb" in PREPROCESSING[name]:
        assert "CONCATENATION" in ops, ops

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    runner = Interpreter(model_content=flatbuffer).get_signature_runner("serving_default")
    expected = _keras_probabilities(model, images)
    for batch in (1, len(images)):
        out = runner(images=images[:batch])
        _check_probabilities(name, out["probabilities"], expected[:batch])
        np.testing.assert_array_equal(out["classes"], expected[:batch].argmax(-1))
