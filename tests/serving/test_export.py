"""`kzoo.serving.export` / `export_version`: signatures, assets, LiteRT, versions, atomicity.

The model is the shipped LeNet checkpoint (28×28×1 raw pixels, 10 classes).
The SavedModel is loaded in a real subprocess that imports only TensorFlow and
NumPy, and compared there-and-back with the Keras model run in this process.
"""

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kzoo.models import pretrained
from kzoo.serving import export, export_saved_model, export_version, load_source

# The module (its name is shadowed by the function `kzoo.serving.export`).
export_module = importlib.import_module("kzoo.serving.export")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET = os.path.join(REPO, "saved_models", "lenet_fashion_mnist.keras")
ENTRY = {e["name"]: e for e in pretrained.read_manifest()}["lenet_fashion_mnist"]
CLASS_NAMES = ENTRY["class_names"]


@pytest.fixture(scope="module")
def lenet():
    model, _ = load_source(LENET)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The LeNet checkpoint exported once as a SavedModel (version 1 of `lenet`)."""
    base = tmp_path_factory.mktemp("serving")
    path, info = export_version(LENET, "lenet", base=str(base))
    return path, info


def _leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(export_module.TMP_PREFIX)]


def _encoded_images():
    """PNG/JPEG/GIF/BMP bytes of other sizes and modes than the model's 28×28×1."""
    rng = np.random.default_rng(0)
    files = []
    for size, mode, fmt in [((40, 52), "RGB", "PNG"), ((64, 48), "RGB", "JPEG"),
                            ((28, 28), "L", "PNG"), ((17, 33), "RGBA", "PNG"),
                            ((30, 30), "L", "GIF"), ((21, 35), "RGB", "BMP")]:
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        pixels = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
        # Smooth the noise a little, so that JPEG keeps most of it.
        pixels = np.repeat(np.repeat(pixels[::2, ::2], 2, 0), 2, 1)[:size[0], :size[1]]
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        files.append(buffer.getvalue())
    return files


def _reference_pixels(data, shape=(28, 28, 1)):
    """The model's input for one encoded file: decoded by tf.io, converted and resized."""
    image = tf.io.decode_image(data, channels=0, expand_animations=False).numpy()
    image = image.astype("float32")
    if image.shape[-1] in (2, 4):
        image = image[..., :-1]
    if image.shape[-1] == 3:
        image = (image @ np.array([0.2989, 0.5870, 0.1140], "float32"))[..., None]
    return tf.image.resize(image, shape[:2], method="bilinear").numpy()


KZOO_FREE_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    path, inputs, outputs = sys.argv[1:4]
    data = np.load(inputs, allow_pickle=True)
    model = tf.saved_model.load(path)
    result = {"signatures": np.array(sorted(model.signatures))}
    serve = model.signatures["serving_default"]
    for batch in (1, 5):
        out = serve(images=tf.constant(data["images"][:batch]))
        for key, value in out.items():
            result[f"serve{batch}_{key}"] = value.numpy()
    out = model.signatures["predict_images"](image_bytes=tf.constant(list(data["files"])))
    for key, value in out.items():
        result[f"bytes_{key}"] = value.numpy()
    with open(path + "/assets/labels.txt") as f:
        result["labels"] = np.array(f.read().splitlines())
    assert not any(m == "kzoo" or m.startswith("kzoo.") for m in sys.modules), "kzoo imported"
    np.savez(outputs, **result)
""")


def test_saved_model_loads_without_kzoo_and_matches_keras(exported, lenet, tmp_path):
    path, _ = exported
    images = np.random.default_rng(1).uniform(0, 255, (5, 28, 28, 1)).astype("float32")
    files = _encoded_images()
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, images=images, files=np.array(files, dtype=object))
    script = tmp_path / "load.py"
    script.write_text(KZOO_FREE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script), path, str(inputs),
                           str(tmp_path / "out.npz")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = np.load(tmp_path / "out.npz", allow_pickle=True)
    assert list(out["signatures"]) == ["predict_images", "serving_default"]
    assert list(out["labels"]) == CLASS_NAMES

    expected = lenet.predict(images, verbose=0)
    for batch in (1, 5):
        probabilities = out[f"serve{batch}_probabilities"]
        assert probabilities.dtype == np.float32 and probabilities.shape == (batch, 10)
        np.testing.assert_allclose(probabilities, expected[:batch], atol=1e-5)
        top = expected[:batch].argmax(-1)
        assert out[f"serve{batch}_classes"].dtype == np.int64
        np.testing.assert_array_equal(out[f"serve{batch}_classes"], top)
        assert [c.decode() for c in out[f"serve{batch}_class_names"]] == [
            CLASS_NAMES[i] for i in top]

    reference = lenet.predict(np.stack([_reference_pixels(f) for f in files]), verbose=0)
    assert out["bytes_probabilities"].shape == (len(files), 10)
    np.testing.assert_allclose(out["bytes_probabilities"], reference, atol=1e-4)
    np.testing.assert_array_equal(out["bytes_classes"], reference.argmax(-1))
    assert [c.decode() for c in out["bytes_class_names"]] == [
        CLASS_NAMES[i] for i in reference.argmax(-1)]


def test_assets_and_metadata(exported):
    path, info = exported
    assert path.endswith(os.path.join("lenet", "1"))
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert f.read() == "".join(c + "\n" for c in CLASS_NAMES)
    with open(os.path.join(path, "assets", "kzoo.json")) as f:
        written = json.load(f)
    assert written == info
    assert written["kzoo_export"] == 1  # the marker `--overwrite` requires
    assert written["architecture"] == "lenet" and written["dataset"] == "fashion_mnist"
    assert written["input_shape"] == [28, 28, 1]
    assert written["class_names"] == CLASS_NAMES
    assert written["test_accuracy"] == ENTRY["test_accuracy"]
    assert written["params"] == 431080
    assert written["sha256"] == ENTRY["sha256"]
    assert set(written["signatures"]) == {"serving_default", "predict_images"}


@pytest.mark.heavy
def test_saved_model_cli_lists_both_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.isfile(cli):
        pytest.skip("saved_model_cli is not installed beside this Python")
    done = subprocess.run([cli, "show", "--dir", exported[0], "--all"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['predict_images']",
                 "inputs['images']", "inputs['image_bytes']", "outputs['probabilities']",
                 "outputs['classes']", "outputs['class_names']", "DT_FLOAT", "DT_STRING",
                 "DT_INT64", "(-1, 28, 28, 1)"):
        assert text in done.stdout, text


@pytest.mark.filterwarnings("ignore::UserWarning")  # tf.lite.Interpreter's deprecation
def test_tflite_builtin_ops_matches_keras(lenet, tmp_path):
    path, info = export_version("lenet_fashion_mnist", "lenet", base=str(tmp_path),
                                format="tflite")
    assert sorted(os.listdir(path)) == ["kzoo.json", "labels.txt", "model.tflite"]
    assert info["format"] == "tflite" and info["kind"] == "checkpoint"
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=os.path.join(path, "model.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    images = np.random.default_rng(2).uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    out = runner(images=images)
    np.testing.assert_allclose(out["probabilities"], lenet.predict(images, verbose=0),
                               atol=1e-4)
    np.testing.assert_array_equal(out["classes"], out["probabilities"].argmax(-1))
    assert _leftovers(os.path.join(tmp_path, "lenet")) == []


def test_tflite_that_needs_other_ops_is_a_value_error(lenet, tmp_path, monkeypatch):
    class Failing:
        target_spec = type("Spec", (), {})()

        def convert(self):
            raise RuntimeError("ops not supported: FlexFoo")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model",
                        staticmethod(lambda *a, **k: Failing()))
    with pytest.raises(ValueError, match="`format`.*builtin ops.*FlexFoo"):
        export(lenet, str(tmp_path / "m" / "1"), format="tflite")
    assert os.listdir(tmp_path / "m") == []


def test_versions_are_numbered_refused_and_overwritten(lenet, tmp_path):
    base = str(tmp_path)
    first, _ = export_version(lenet, "m", base=base, class_names=CLASS_NAMES)
    second, info = export_version(lenet, "m", base=base)
    assert [os.path.basename(first), os.path.basename(second)] == ["1", "2"]
    assert info["class_names"] is None  # a bare keras.Model: no names known
    with open(os.path.join(second, "assets", "labels.txt")) as f:
        assert f.read().split() == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match="`version`.*exists.*--overwrite"):
        export_version(lenet, "m", base=base, version=1)
    path, info = export_version(lenet, "m", base=base, version=1, overwrite=True)
    assert path == first and info["class_names"] is None
    assert sorted(os.listdir(os.path.join(base, "m"))) == ["1", "2"]
    # A later version after a gap: highest + 1.
    export_version(lenet, "m", base=base, version=7)
    assert export_version(lenet, "m", base=base)[0].endswith(os.path.join("m", "8"))


def test_overwrite_never_replaces_a_foreign_folder(lenet, tmp_path):
    mine = tmp_path / "m" / "1"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a kzoo export"):
        export_version(lenet, "m", base=str(tmp_path), version=1, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="not a kzoo export"):
        export(lenet, str(mine), overwrite=True)
    assert os.listdir(mine) == ["notes.txt"]


@pytest.mark.parametrize("files, kzoos", [
    ({"saved_model.pb": b"", "assets/kzoo.json": {"kzoo_export": 1}}, True),
    # An export made before the marker: the keys every kzoo.json held.
    ({"saved_model.pb": b"", "assets/kzoo.json": dict.fromkeys(
        ("source", "kind", "architecture", "sha256", "format"))}, True),
    ({"model.tflite": b"", "kzoo.json": {"kzoo_export": 1}}, True),
    ({"model.onnx": b"", "kzoo.json": {"kzoo_export": 1}}, True),
    # A user's SavedModel (with their notes) or files that only look like kzoo's.
    ({"saved_model.pb": b"", "notes.txt": b"mine"}, False),
    ({"saved_model.pb": b"", "kzoo.json": {"kzoo_export": 1}}, False),  # not in assets/
    ({"saved_model.pb": b"", "assets/kzoo.json": {"source": "mine"}}, False),
    ({"saved_model.pb": b"", "assets/kzoo.json": b"{not json"}, False),
    ({"saved_model.pb": b"", "assets/kzoo.json": [1, 2]}, False),
    ({"model.tflite": b"", "kzoo.json": {"kzoo_export": "yes"}}, False),
    ({"kzoo.json": {"kzoo_export": 1}}, False),  # no model in it
])
def test_only_kzoos_marked_exports_are_exports(tmp_path, files, kzoos):
    for name, data in files.items():
        path = tmp_path / "v" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    assert export_module.is_export(str(tmp_path / "v")) is kzoos


def test_leftovers_of_killed_exports_are_removed_only_when_kzoos(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    marker = export_module.TMP_MARKER
    host = __import__("socket").gethostname()

    def leftover(name, mark=None, files=()):
        folder = tmp_path / name
        folder.mkdir()
        if mark is not None:
            (folder / marker).write_text(json.dumps(mark))
        for file in files:
            (folder / file).mkdir(parents=True)
        return folder

    now = __import__("time").time()
    killed = leftover(".tmp-export-killed", {"pid": dead.pid, "host": host, "started": now})
    running = leftover(".tmp-export-running", {"pid": os.getpid(), "host": host,
                                               "started": now})
    elsewhere = leftover(".tmp-export-elsewhere", {"pid": 1, "host": "other", "started": now})
    ancient = leftover(".tmp-export-ancient", {"pid": 1, "host": "other",
                                               "started": now - 2 * 86400})
    # Killed between moving version 3 aside and moving the new one in: 3 comes back.
    aside = leftover(".tmp-export-aside", {"pid": dead.pid, "host": host, "started": now,
                                           "path": "3"}, files=["old/variables", "version"])
    users = leftover(".tmp-export-users", None, files=["data"])  # no marker: never kzoo's
    garbled = leftover(".tmp-export-garbled", None)
    (garbled / marker).write_text("not json")
    export_module._remove_stale_tmp(str(tmp_path))
    assert not killed.exists() and not ancient.exists() and not aside.exists()
    assert running.exists() and elsewhere.exists() and users.exists() and garbled.exists()
    assert os.path.isdir(tmp_path / "3" / "variables")


def test_cli_version_is_a_positive_int64():
    from kzoo.cli.export import _version

    assert _version("7") == 7 and _version(str(2**63 - 1)) == 2**63 - 1
    for value in ("0", "-1", "99999999999999999999", str(2**63), "²", "1.0", ""):
        with pytest.raises(ValueError, match="`version`"):
            _version(value)


@pytest.mark.parametrize("where", ["saver", "assets"])
def test_a_failure_mid_export_leaves_nothing(lenet, tmp_path, monkeypatch, where):
    base = str(tmp_path)
    if where == "saver":
        def fail(*args, **kwargs):
            raise RuntimeError("disk on fire")
        monkeypatch.setattr(tf.saved_model, "save", fail)
    else:  # the SavedModel is written, the assets are not
        def fail(directory, *args):
            assert os.path.isfile(os.path.join(os.path.dirname(directory), "saved_model.pb"))
            raise RuntimeError("disk on fire")
        monkeypatch.setattr(export_module, "_write_files", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_version(lenet, "m", base=base)
    assert os.listdir(os.path.join(base, "m")) == []


@pytest.mark.heavy
def test_a_failed_overwrite_keeps_the_old_version(lenet, tmp_path, monkeypatch):
    path, _ = export_version(lenet, "m", base=str(tmp_path), class_names=CLASS_NAMES)
    monkeypatch.setattr(export_module, "_write_files",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    with pytest.raises(RuntimeError):
        export_version(lenet, "m", base=str(tmp_path), version=1, overwrite=True)
    assert os.listdir(os.path.dirname(path)) == ["1"]
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert f.read().splitlines() == CLASS_NAMES


def test_sources_run_directory_and_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(LENET, run / "model.keras")
    names = [f"c{i}" for i in range(10)]
    (run / "metrics.json").write_text(json.dumps({
        "model": "lenet", "dataset": "fashion_mnist", "test_accuracy": 0.5, "params": 431080,
        "input_shape": [28, 28, 1], "class_names": names}))
    _, info = load_source(str(run))
    assert info["kind"] == "run" and info["class_names"] == names
    assert info["test_accuracy"] == 0.5 and info["sha256"] == ENTRY["sha256"]
    _, info = load_source("lenet_fashion_mnist")
    assert info["kind"] == "checkpoint" and info["class_names"] == CLASS_NAMES


@pytest.mark.heavy
def test_export_saved_model_alias_replaces(lenet, tmp_path):
    path = str(tmp_path / "run" / "saved_model")
    export_saved_model(lenet, path)
    export_saved_model(lenet, path)  # a rerun replaces it whole
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert _leftovers(os.path.dirname(path)) == []


@pytest.mark.parametrize("kwargs, argument", [
    ({"source": "no_such_checkpoint"}, "`source`"),
    ({"source": "missing.keras"}, "`source`"),
    ({"name": "a/b"}, "`name`"),
    ({"name": ".."}, "`name`"),
    ({"name": "a..b"}, "`name`"),
    ({"name": ""}, "`name`"),
    ({"version": 0}, "`version`"),
    ({"version": -2}, "`version`"),
    ({"version": "1"}, "`version`"),
    ({"version": True}, "`version`"),
    ({"version": 2**63}, "`version`.*int64"),  # beyond TF Serving's int64 versions
    ({"format": "coreml"}, "`format`"),
    ({"format": "onnx", "quantize": "int8"}, "`quantize`.*LiteRT"),
    ({"format": "tflite", "quantize": "int4"}, "`quantize`"),
    ({"format": "tflite", "quantize": "int8", "input_type": "float64"}, "`input_type`"),
    # A bare keras.Model names no training data to calibrate on.
    ({"format": "tflite", "quantize": "int8"}, "`calibration_data`.*dataset"),
    ({"format": "tflite", "quantize": "int8", "calibration_data": "no_such_dataset"},
     "`calibration_data`.*no_such_dataset"),
    ({"format": "tflite", "calibration_data": "fashion_mnist"}, "`calibration_data`.*int8"),
    ({"class_names": ["a", "b"]}, "`class_names`"),
])
def test_bad_arguments_name_the_argument(lenet, tmp_path, kwargs, argument):
    arguments = {"source": lenet, "name": "m", "base": str(tmp_path / "base"), **kwargs}
    with pytest.raises(ValueError, match=argument):
        export_version(arguments.pop("source"), arguments.pop("name"), **arguments)
    assert not (tmp_path / "base").exists() or os.listdir(tmp_path / "base") in ([], ["m"])
    if (tmp_path / "base" / "m").exists():
        assert os.listdir(tmp_path / "base" / "m") == []


def test_base_that_is_a_file(lenet, tmp_path):
    base = tmp_path / "base"
    base.write_text("")
    with pytest.raises(ValueError, match="`base`"):
        export_version(lenet, "m", base=str(base))
    with pytest.raises(ValueError, match="`path`"):
        export(lenet, str(base / "1"))
    with pytest.raises(ValueError, match="`path`"):
        export(lenet, str(base))


def test_model_that_is_not_an_image_classifier(tmp_path):
    two_outputs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = export(two_outputs, str(tmp_path / "1"))  # vectors: serving_default only
    loaded = tf.saved_model.load(path)
    assert list(loaded.signatures) == ["serving_default"]
    with pytest.raises(ValueError, match="`model`"):
        export(keras.Sequential([keras.Input((4,)), keras.layers.Reshape((2, 2))]),
               str(tmp_path / "2"))
