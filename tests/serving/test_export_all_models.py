"""Every registered model exports to a SavedModel, LiteRT and ONNX (`format="all"`), and
each file answers as the Keras model does, through the runtime itself.

The references are independent of kzoo's export code: the Keras model called in
this process, `ai_edge_litert`'s interpreter and `onnxruntime` opened here on the
written files (not through `kzoo.serving.litert` / `kzoo.serving.onnx`), and
TensorFlow's `tf.saved_model.load`. Models are built at their smallest input size
with 3 classes and non-trivial BatchNorm statistics. The default run keeps a few
small models of different families (and the Im2Col LeNet, whose LiteRT file once
failed at its first invoke); every other model runs with `-m heavy`
(`./scripts/run test-heavy`), each in a Python process of its own (this file run as
a script: `python tests/serving/test_export_all_models.py NAME FOLDER`).
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.models.registry import get_entry
from kzoo.serving import export

CLASSES = 3


@pytest.fixture(autouse=True)
def _release_memory():
    """Each export's graphs freed before the next model: the converters' memory grows
    with the model (EfficientNet-B6 at 32x32: 3.4 GB peak for LiteRT, 7.4 GB for ONNX),
    and kept across 20-odd models one process ran out of 24 GB."""
    yield
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


TOLERANCE = 1e-4
DEFAULT_RUN = {"lenet", "mlp"}


def _shape(name):
    entry = get_entry(name)
    shape = entry.default_input_shape
    if len(shape) == 1:
        return tuple(shape)
    return (entry.min_input_size, entry.min_input_size, shape[-1])


def _randomize_statistics(model, shape, seed=0):
    """BatchNorm statistics as a trained network's are: each layer's moving mean and
    variance are those of its input on seeded images (one training-mode pass with the
    momentum at 0 and dropout off), so every layer normalizes its input as training
    left it, and then random gamma (0.8-1.2) and beta (N(0, 0.1)). Statistics drawn
    independently of the activations either saturated a deep network (random gamma and
    variance: EfficientNetV2-M's penultimate activations reached 4e4, where Keras's own
    eager and graph calls disagree on every argmax) or let the signal fade under the
    random offsets (EfficientNet-B0's answer was the same for every input to 4e-6)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (8, *shape)).astype("float32")
    saved = {}
    for layer in model._flatten_layers():
        for attribute, value in (("momentum", 0.0), ("rate", 0.0)):
            if isinstance(getattr(layer, attribute, None), float):
                saved[(layer, attribute)] = getattr(layer, attribute)
                setattr(layer, attribute, value)
    model(images, training=True)
    for (layer, attribute), value in saved.items():
        setattr(layer, attribute, value)
    for v in model.weights:
        if v.path.endswith("/gamma"):
            v.assign(rng.uniform(0.8, 1.2, v.shape).astype("float32"))
        elif v.path.endswith("/beta"):
            v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))


def _residual_branch_gammas(model):
    """The gammas of the BatchNorms that end a residual branch (feeding an `Add`, through
    a Dropout at most): shrinking them damps a deep network's compounding branches and
    keeps its skip path, so the answer still depends on the input."""
    import keras

    gammas = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add):
            continue
        for node in layer._inbound_nodes[0].parent_nodes:
            source = node.operation
            while isinstance(source, keras.layers.Dropout):
                source = source._inbound_nodes[0].parent_nodes[0].operation
            if type(source).__name__ in ("BatchNorm", "BatchNormalization"):
                gammas.append(source.gamma)
    return gammas


def _moderate_logits(model, shape, scale=4.0, features_bound=100.0):
    """Keeps the network's answers well-conditioned, as a trained classifier's are: while
    the classifier's input features exceed `features_bound` on seeded images, the gammas
    ending residual branches shrink by 0.7 (then, if that is not enough or there are none,
    every BatchNorm gamma): a random deep residual network's branches compound, and
    untrained EfficientNetV2-L's features reach 8e3, where Keras's own eager and graph
    calls of the same model disagree by 0.3 in probability. Shrinking every gamma instead
    left its answer the same for every input to 1e-6. Then the classifier's kernel and
    bias are scaled so that its logits spread by about `scale` (a softmax saturated by
    logits in the hundreds turns float32 round-off into probability differences above
    1e-4). Then 1e-4 measures the export, not the round-off."""
    import keras

    head = next(layer for layer in reversed(model.layers) if getattr(layer, "kernel", None)
                is not None)
    features_of = keras.Model(model.inputs, head.input)
    images = np.random.default_rng(2).uniform(0, 255, (8, *shape)).astype("float32")
    every_gamma = [v for v in model.weights if "gamma" in v.path]
    residual = _residual_branch_gammas(model)
    for gammas in ([residual] * 20 if residual else []) + [every_gamma] * 20:
        features = np.asarray(features_of(images)).reshape(8, -1)
        if not gammas or np.abs(features).max() <= features_bound:
            break
        for v in gammas:
            v.assign(v.numpy() * 0.7)
    features = np.asarray(features_of(images)).reshape(8, -1)
    kernel = head.kernel.numpy()
    bias = head.bias.numpy() if getattr(head, "bias", None) is not None else 0.0
    logits = features @ kernel.reshape(-1, kernel.shape[-1]) + bias
    spread = float(np.std(logits))
    if spread > scale:
        head.kernel.assign(kernel * (scale / spread))
        if getattr(head, "bias", None) is not None:
            head.bias.assign(bias * (scale / spread))


def _check_all_formats(model, shape, folder):
    path = export(model, str(folder), format="all")
    assert {"saved_model.pb", "model.tflite", "model.onnx", "assets"} <= set(os.listdir(path))
    images = np.random.default_rng(1).uniform(0, 255, (3, *shape)).astype("float32")
    expected = np.asarray(model(images, training=False))
    # The comparison means something only if the answer depends on the input.
    assert np.ptp(expected, axis=0).max() > 5 * TOLERANCE, expected

    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=os.path.join(path, "model.tflite")).get_signature_runner(
        "serving_default")
    litert = runner(images=images)
    np.testing.assert_allclose(litert["probabilities"], expected, atol=TOLERANCE)
    np.testing.assert_array_equal(litert["classes"], expected.argmax(-1))

    import onnxruntime

    session = onnxruntime.InferenceSession(os.path.join(path, "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    onnx = dict(zip(["probabilities", "classes"],
                    session.run(["probabilities", "classes"], {"images": images})))
    np.testing.assert_allclose(onnx["probabilities"], expected, atol=TOLERANCE)
    np.testing.assert_array_equal(onnx["classes"], expected.argmax(-1))

    loaded = tf.saved_model.load(path)
    answer = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(answer["probabilities"].numpy(), expected, atol=TOLERANCE)

    with open(os.path.join(path, "assets", "kzoo.json")) as f:
        info = json.load(f)
    assert set(info["formats"]) == {"saved_model", "tflite", "onnx"}
    assert info["formats"]["onnx"]["opset"] == kzoo.serving.onnx.OPSET
    return info


def _export_and_check(name, folder):
    shape = _shape(name)
    model = kzoo.create_model(name, input_shape=shape, classes=CLASSES)
    _randomize_statistics(model, shape)
    _moderate_logits(model, shape)
    _check_all_formats(model, shape, folder)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # tf2onnx on NumPy 2 (Keras's patch)
@pytest.mark.parametrize("name", [n if n in DEFAULT_RUN else
                                  pytest.param(n, marks=pytest.mark.heavy)
                                  for n in kzoo.list_models()])
def test_every_model_exports_to_every_runtime(name, tmp_path):
    folder = tmp_path / name / "1"
    if name in DEFAULT_RUN:
        _export_and_check(name, folder)
        return
    # A heavy model in a process of its own: what the converters keep of one large
    # model (allocator fragmentation, TensorFlow's caches) is not the next one's.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, __file__, name, str(folder)], capture_output=True,
                          text=True, timeout=3600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, f"{name}:\n{done.stdout[-2000:]}\n{done.stderr[-6000:]}"


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name", ["lenet", pytest.param("mobilenet_v2", marks=pytest.mark.heavy),
                                  pytest.param("resnet20", marks=pytest.mark.heavy)])
def test_im2col_models_are_lowered_to_their_native_twins(name, tmp_path):
    """The Im2Col graph's 6-D slices fail in TensorFlow's own LiteRT interpreter; the
    export lowers them, so the file runs there too and holds no WHILE loop."""
    shape = _shape(name)
    model = kzoo.create_model(name, input_shape=shape, classes=CLASSES, conv_impl="im2col")
    _randomize_statistics(model, shape)
    _moderate_logits(model, shape)
    info = _check_all_formats(model, shape, tmp_path / name / "1")
    assert info["lowered_im2col_layers"] > 0
    # Restored after the export: the model still runs as Im2Col.
    assert len(kzoo.layers.lowering.im2col_layers(model)) == info["lowered_im2col_layers"]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tmp_path / name / "1" / "model.tflite"))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "WHILE" not in ops and "CONV_2D" in ops


if __name__ == "__main__":  # one heavy model, from the test above: NAME FOLDER
    import sys
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    _export_and_check(sys.argv[1], sys.argv[2])
