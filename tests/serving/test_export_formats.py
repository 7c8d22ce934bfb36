"""`kzoo export --format tflite|onnx|all --quantize none|float16|int8`: quantized LiteRT
files, the check run before publishing, and clear errors for models a runtime cannot take.

Runtimes are opened here on the written files (`ai_edge_litert`, `onnxruntime`);
the int8 export of the shipped LeNet is calibrated on Fashion-MNIST's training
images and measured on its test images (Debian's IDX files).
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import kzoo
from kzoo.cli.main import main
from kzoo.data.sources import load_arrays
from kzoo.serving import export, export_version

LENET = "lenet_fashion_mnist"
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def _fashion_mnist_test(count):
    try:
        images, labels, _ = load_arrays("fashion_mnist", "test")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Fashion-MNIST is not installed here: {e}")
    return images[:count].astype("float32"), labels[:count]


@pytest.fixture(scope="module")
def lenet():
    return kzoo.create_model("lenet", weights="fashion_mnist")


def test_int8_lenet_agrees_with_float_and_records_its_accuracy(tmp_path, lenet):
    """Full-integer int8 with uint8 input: 4x smaller, top-1 as the float model's on
    Fashion-MNIST test images, its accuracy measured into kzoo.json."""
    result = CliRunner().invoke(main, ["export", LENET, "--name", "m", "--base",
                                       str(tmp_path), "--format", "tflite", "--quantize",
                                       "int8"])
    assert result.exit_code == 0, result.output
    assert "int8" in result.output and "test accuracy" in result.output
    folder = tmp_path / "m" / "1"
    info = json.loads((folder / "kzoo.json").read_text())
    entry = info["formats"]["tflite"]
    assert entry["quantize"] == "int8" and entry["input_type"] == "uint8"
    assert entry["test_images"] == 10_000 and entry["dataset"] == "fashion_mnist"
    assert abs(entry["test_accuracy"] - info["test_accuracy"]) <= 0.005
    assert entry["keras_test_accuracy"] == pytest.approx(info["test_accuracy"], abs=1e-4)
    assert entry["bytes"] < os.path.getsize(kzoo.models.pretrained.locate(
        next(e for e in kzoo.models.pretrained.read_manifest() if e["name"] == LENET))) / 3

    interpreter = _interpreter(folder / "model.tflite")
    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()["images"]
    assert details["dtype"] == np.uint8
    scale, zero_point = details["quantization"]
    assert (scale, zero_point) == (entry["input_scale"], entry["input_zero_point"])
    images, labels = _fashion_mnist_test(500)
    quantized = np.clip(np.round(images / scale + zero_point), 0, 255).astype(np.uint8)
    tensors = {op["index"]: op for op in interpreter.get_tensor_details()}
    assert any(t["dtype"] == np.int8 for t in tensors.values())  # integer activations
    answer = runner(images=quantized)
    float_top1 = lenet.predict(images, verbose=0).argmax(-1)
    assert np.mean(answer["classes"] == float_top1) >= 0.98
    assert np.mean(answer["classes"] == labels) >= 0.85


@pytest.mark.heavy  # the default run's budget: float16 is also measured by benchmarks/export.py
def test_float16_and_int8_input(tmp_path, lenet):
    half, info = export_version(LENET, "m", base=str(tmp_path), format="tflite",
                                quantize="float16")
    assert info["formats"]["tflite"]["max_abs_diff"] <= 2e-2
    float32, _ = export_version(LENET, "m", base=str(tmp_path), format="tflite")
    size = os.path.getsize(os.path.join(half, "model.tflite"))
    assert size < 0.6 * os.path.getsize(os.path.join(float32, "model.tflite"))

    # Calibrated on a folder of image files without class subfolders (calibration reads
    # no labels): decoded, they are the test images to the pixel (PNG is lossless).
    from PIL import Image

    from kzoo.serving.export import _flat_folder_images

    images, _ = _fashion_mnist_test(64)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(images.astype("uint8")):
        Image.fromarray(image[..., 0]).save(photos / f"{i:03d}.png")
    np.testing.assert_array_equal(_flat_folder_images(str(photos), (28, 28, 1)), images)
    path = export(lenet, str(tmp_path / "int8" / "1"), format="tflite", quantize="int8",
                  calibration_data=str(photos), input_type="int8")
    info = json.loads((tmp_path / "int8" / "1" / "kzoo.json").read_text())
    assert info["formats"]["tflite"]["input_type"] == "int8"
    assert "test_accuracy" not in info["formats"]["tflite"]  # a bare model: no dataset known
    runner = _interpreter(os.path.join(path, "model.tflite")).get_signature_runner(
        "serving_default")
    assert runner.get_input_details()["images"]["dtype"] == np.int8


def test_calibration_folder_without_class_subfolders(tmp_path):
    """`--calibration-data FOLDER` takes a plain folder of images (calibration reads no
    labels): decoded as `predict_images` decodes, PNG's pixels come back exactly; an
    image-less folder is a clear error; a folder of class subfolders is left to the
    dataset reader."""
    from PIL import Image

    from kzoo.serving.export import _calibration_images, _flat_folder_images

    pixels = np.random.default_rng(7).integers(0, 256, (5, 6, 7, 1)).astype("uint8")
    for i, image in enumerate(pixels):
        Image.fromarray(image[..., 0]).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    np.testing.assert_array_equal(
        _calibration_images(str(tmp_path), {}, (6, 7, 1)), pixels.astype("float32"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"calibration_data.*holds no image files"):
        _calibration_images(str(empty), {}, (6, 7, 1))
    (tmp_path / "classes" / "a").mkdir(parents=True)
    assert _flat_folder_images(str(tmp_path / "classes"), (6, 7, 1)) is None


def _determinant_model():
    """A classifier with an op LiteRT's builtins lack (tf.linalg.det: MatrixDeterminant)."""
    class Determinant(keras.layers.Layer):
        def call(self, x):
            return tf.linalg.det(x[..., 0])[:, None]

    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(
        Determinant(name="determinant")(inputs))
    return keras.Model(inputs, outputs)


def test_a_model_litert_cannot_take_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"`format`.*builtin ops.*MatrixDeterminant.*"
                                         r"layer\(s\) determinant"):
        export(_determinant_model(), str(tmp_path / "m" / "1"), format="all")
    assert os.listdir(tmp_path / "m") == []  # nothing published, no leftovers


def test_an_export_that_answers_wrong_is_not_published(tmp_path, lenet, monkeypatch):
    from kzoo.serving import litert, onnx

    original = onnx.Runner.__call__

    def off(self, images):
        answer = original(self, images)
        answer["probabilities"] = answer["probabilities"] + 1e-3
        return answer

    monkeypatch.setattr(onnx.Runner, "__call__", off)
    with pytest.raises(ValueError, match=r"ONNX file answers probabilities 1\.00e-03 away"):
        export(lenet, str(tmp_path / "m" / "1"), format="onnx")
    monkeypatch.setattr(litert.Runner, "__call__",
                        lambda self, images: (_ for _ in ()).throw(
                            RuntimeError("Node number 3 (CONV_2D) failed to invoke.")))
    with pytest.raises(ValueError, match=r"fails in LiteRT's interpreter at op CONV_2D"):
        export(lenet, str(tmp_path / "m" / "1"), format="tflite")
    assert os.listdir(tmp_path / "m") == []


def test_all_formats_side_by_side_and_overwrite(tmp_path):
    path, info = export_version(LENET, "m", base=str(tmp_path), format="all")
    assert sorted(os.listdir(path)) == ["assets", "fingerprint.pb", "model.onnx",
                                        "model.tflite", "saved_model.pb", "variables"]
    assert set(info["formats"]) == {"saved_model", "tflite", "onnx"}
    assert info["formats"]["onnx"]["opset"] == kzoo.serving.onnx.OPSET
    assert all(entry["max_abs_diff"] <= 1e-4 for entry in info["formats"].values())
    assert kzoo.serving.is_export(path)
    # An ONNX-only export is a kzoo export too: --overwrite may replace it.
    onnx_path, _ = export_version(LENET, "o", base=str(tmp_path), format="onnx")
    assert sorted(os.listdir(onnx_path)) == ["kzoo.json", "labels.txt", "model.onnx"]
    export_version(LENET, "o", base=str(tmp_path), version=1, format="tflite", overwrite=True)
    assert sorted(os.listdir(onnx_path)) == ["kzoo.json", "labels.txt", "model.tflite"]


def test_a_mixed_precision_model_exports_in_float32(tmp_path):
    """LiteRT's builtins take no float16 Conv2D/MatMul: a model trained under
    `mixed_float16` (float32 weights) is traced in float32 for export, and its policy is
    restored afterwards."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=10)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    path = export(model, str(tmp_path / "m" / "1"), format="all")
    info = json.loads((tmp_path / "m" / "1" / "assets" / "kzoo.json").read_text())
    assert info["float32_from_mixed_precision_layers"] > 0
    assert all(layer.dtype_policy.name == "mixed_float16" for layer in model.layers[1:])
    images = np.random.default_rng(3).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    runner = _interpreter(os.path.join(path, "model.tflite")).get_signature_runner(
        "serving_default")
    half = np.asarray(model(images, training=False), dtype="float32")
    np.testing.assert_allclose(runner(images=images)["probabilities"], half, atol=1e-2)


def test_exact_gelu_exports_to_onnx(tmp_path):
    """TF's exact GELU computes erfc, which tf2onnx passes through although ONNX has no
    Erfc (ConvNeXt failed so): the export writes it as 1 - Erf."""
    import onnxruntime

    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs / 64.0 - 2.0)
    x = keras.layers.Activation("gelu", name="gelu")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    path = export(model, str(tmp_path / "m" / "1"), format="onnx")
    session = onnxruntime.InferenceSession(os.path.join(path, "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert "Erf" in {node.op_type for node in __import__("onnx").load(
        os.path.join(path, "model.onnx")).graph.node}
    images = np.random.default_rng(4).uniform(0, 255, (5, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(session.run(["probabilities"], {"images": images})[0],
                               np.asarray(model(images)), atol=1e-5)


def test_normalization_constants_become_onnx_initializers(tmp_path):
    """Keras's `Normalization(mean=..., variance=...)` (EfficientNet's and ConvNeXt's
    in-model preprocessing) keeps tensors that tf2onnx left as graph inputs no caller
    could feed: the export freezes them."""
    import onnxruntime

    inputs = keras.Input((5, 5, 1))
    x = keras.layers.Normalization(mean=100.0, variance=900.0, name="normalize")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    path = export(model, str(tmp_path / "m" / "1"), format="onnx")
    session = onnxruntime.InferenceSession(os.path.join(path, "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    images = np.random.default_rng(5).uniform(0, 255, (4, 5, 5, 1)).astype("float32")
    np.testing.assert_allclose(session.run(["probabilities"], {"images": images})[0],
                               np.asarray(model(images)), atol=1e-5)


def test_quantized_accuracy_uses_the_runs_classes(capsys):
    """A finetune run on a class subset (`--classes 5,6,7`, relabelled 0..2) is measured
    on that subset; labels the model cannot answer are never scored."""
    import sys

    module = sys.modules["kzoo.serving.export"]  # `kzoo.serving.export` names the function
    model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=3)

    def runner(images):  # stands in for the LiteRT file: the model's own top-1
        return {"classes": np.asarray(model(images)).argmax(-1)}

    info = {"dataset": "fashion_mnist"}
    _fashion_mnist_test(1)  # skips where the data is missing
    assert module._test_accuracy(runner, model, info, (28, 28, 1), limit=60) is None
    assert "do not match the model's 3 classes" in capsys.readouterr().err
    info["dataset_classes"] = [5, 6, 7]
    measured = module._test_accuracy(runner, model, info, (28, 28, 1), limit=60)
    assert measured["test_images"] == 60
    assert measured["test_accuracy"] == measured["keras_test_accuracy"]


def _onnx_signature(path):
    """What an ONNX file computes, without tf2onnx's per-conversion unique names: its
    op counts and its initializers' shapes and sums."""
    import collections

    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return (collections.Counter(node.op_type for node in graph.node),
            sorted((tuple(i.dims), float(numpy_helper.to_array(i).astype(np.float64).sum()))
                   for i in graph.initializer))


def test_a_failing_tf2onnx_optimizer_is_skipped_on_both_paths():
    """tf2onnx rolls back an optimizer pass that raises, as its default path does (MobileNetV3-
    Large's transpose pass fails on a bias without shape); its large-model path does not,
    and its environment switch turns catching off whatever its value."""
    from tf2onnx import optimizer
    from tf2onnx.graph import Graph

    from kzoo.serving.onnx import _optimizer_errors_caught

    class Failing:
        graph_been_opt = False

        def optimize(self, graph, iteration):
            raise ValueError("max() arg is an empty sequence")

    with pytest.raises(ValueError, match="empty sequence"):  # as the large-model path calls it
        optimizer.optimize_graph(Graph([]), False, optimizers={"failing": Failing})
    with _optimizer_errors_caught():
        from tf2onnx import convert

        convert.optimizer.optimize_graph(Graph([]), False, optimizers={"failing": Failing})
    assert optimizer.optimize_graph.__module__ == "tf2onnx.optimizer"  # restored


def test_the_memory_bounded_conversion_writes_tf2onnxs_own_graph(tmp_path, monkeypatch):
    """`kzoo.serving.onnx` bounds tf2onnx's memory (its large-model path, the weights put
    back into the one file; a fresh NodeProto per update and a collection per optimizer
    pass): the file computes what plain `tf2onnx.convert.from_function` writes (the same
    ops, the same initializers, the same answers to the bit in onnxruntime), and tf2onnx's
    classes and environment are restored afterwards."""
    import onnxruntime
    import tf2onnx
    from tf2onnx import constants
    from tf2onnx import graph as tf2onnx_graph
    from tf2onnx.optimizer.optimizer_base import GraphOptimizerBase

    from kzoo.serving import onnx as onnx_export
    from kzoo.serving.export import _onnx_function

    before = (tf2onnx_graph.Node.update_proto, GraphOptimizerBase.optimize,
              os.environ.get(constants.ENV_TF2ONNX_CATCH_ERRORS))
    model = kzoo.create_model("lenet", input_shape=(28, 28, 1), classes=3)
    function, spec = _onnx_function(model)
    onnx_export.convert(function, spec, str(tmp_path / "bounded.onnx"))
    assert (tf2onnx_graph.Node.update_proto, GraphOptimizerBase.optimize,
            os.environ.get(constants.ENV_TF2ONNX_CATCH_ERRORS)) == before
    reference, _ = tf2onnx.convert.from_function(function, input_signature=[spec],
                                                 opset=onnx_export.OPSET)
    (tmp_path / "tf2onnx.onnx").write_bytes(reference.SerializeToString())
    assert _onnx_signature(tmp_path / "bounded.onnx") == _onnx_signature(
        tmp_path / "tf2onnx.onnx")
    images = np.random.default_rng(6).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    answers = []
    for name in ("bounded", "tf2onnx"):
        session = onnxruntime.InferenceSession(str(tmp_path / f"{name}.onnx"),
                                               providers=["CPUExecutionProvider"])
        outputs = session.run(None, {session.get_inputs()[0].name: images})
        answers.append(sorted(outputs, key=lambda a: a.dtype.kind))  # floats, then ints
    for bounded, reference in zip(*answers):
        np.testing.assert_array_equal(bounded, reference)

    # Models above LARGE_MODEL_BYTES take tf2onnx's large-model path, their weights put
    # back into the file: one self-contained file answering the same.
    import onnx

    monkeypatch.setattr(onnx_export, "LARGE_MODEL_BYTES", 0)
    onnx_export.convert(function, spec, str(tmp_path / "large.onnx"))
    graph = onnx.load(str(tmp_path / "large.onnx")).graph
    assert graph.initializer and all(t.data_location == onnx.TensorProto.DEFAULT
                                     for t in graph.initializer)
    large = onnx_export.Runner(str(tmp_path / "large.onnx"))(images)
    np.testing.assert_array_equal(large["probabilities"], answers[0][0])
    np.testing.assert_array_equal(large["classes"], answers[0][1])


MEMORY_PROBE = """
import sys, warnings
warnings.simplefilter("ignore")
import kzoo
from kzoo.serving import onnx as onnx_export
from kzoo.serving.export import _onnx_function
model = kzoo.create_model("inception_resnet_v2", input_shape=(75, 75, 3), classes=3)
function, spec = _onnx_function(model)
onnx_export.convert(function, spec, sys.argv[1])
import resource
print("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.heavy
def test_onnx_conversion_memory_of_the_largest_graph(tmp_path):
    """Inception-ResNet-v2's ONNX conversion peaked at 11.7 GB with tf2onnx as it comes (a
    sweep process running it was killed at 24 GB); now about 5.3 GB, TensorFlow's freezing
    of the variables (models of more than `LARGE_MODEL_BYTES` of weights avoid it).
    Measured in a fresh process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    peak = int(done.stdout.split("peak_mb")[-1])
    assert peak < 7000, f"the conversion peaked at {peak} MB"
