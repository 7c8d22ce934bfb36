"""applications/finetune_resnet50_folder.py, offline: a written weight file and a PNG folder.

The weight file is keras.applications' ResNet-50 (random weights) written in
the legacy HDF5 layout of its ImageNet files (`save_weights_to_hdf5_group`),
as tests/models/test_models_weights.py does; the images are coloured
circles, squares and triangles drawn with PIL.
"""

import json
import os

import h5py
import keras
import numpy as np
import pytest
from application_helpers import last_line, load_program
from keras.src.legacy.saving import legacy_h5_format
from PIL import Image, ImageDraw

import kzoo  # noqa: F401  (registers kzoo's layers for load_model)

SIZE = 32
SHAPES = {"circle": (220, 40, 40), "square": (40, 200, 40), "triangle": (40, 60, 220)}


def _write_folder(root, per_class=12, seed=0):
    rng = np.random.default_rng(seed)
    for name, colour in SHAPES.items():
        os.makedirs(root / name)
        for i in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 60, 3))
            image = Image.new("RGB", (48, 48), background)
            draw = ImageDraw.Draw(image)
            r = int(rng.integers(10, 18))
            cx, cy = (int(v) for v in rng.integers(r + 2, 48 - r - 2, 2))
            fill = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in colour)
            box = [cx - r, cy - r, cx + r, cy + r]
            if name == "circle":
                draw.ellipse(box, fill=fill)
            elif name == "square":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
            image.save(root / name / f"{i:02d}.png")
    return root


def _legacy_weight(path, layer_name, weight_name):
    with h5py.File(path, "r") as f:
        group = f[layer_name]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        return np.asarray(group[next(n for n in names if weight_name in n)])


@pytest.fixture(scope="module")
def resnet50_notop(tmp_path_factory):
    keras.utils.set_random_seed(7)
    reference = keras.applications.ResNet50(weights=None, include_top=False,
                                            input_shape=(SIZE, SIZE, 3))
    path = tmp_path_factory.mktemp("weights") / "resnet50_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    keras.backend.clear_session()
    return str(path)


# Heavy (about 16 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_runs_end_to_end_offline_and_writes_a_model_that_loads(tmp_path, resnet50_notop,
                                                               capsys):
    program = load_program("finetune_resnet50_folder")
    data = _write_folder(tmp_path / "shapes")
    output = tmp_path / "out"
    result = program.main(["--data", str(data), "--weights", resnet50_notop,
                           "--image-size", str(SIZE), "--epochs", "2", "--seed", "0",
                           "--output", str(output)])
    printed = capsys.readouterr().out
    assert last_line(printed).startswith("result: validation accuracy ")

    assert result["class_names"] == sorted(SHAPES)
    assert result["mode"] == "linear"
    assert result["train_images"] + result["evaluation_images"] == 3 * 12
    assert result["evaluation_split"] == "validation" and result["evaluation_images"] > 0
    assert 0.0 <= result["accuracy"] <= 1.0
    assert json.loads((output / "result.json").read_text())["accuracy"] == result["accuracy"]

    model = keras.saving.load_model(output / "model.keras")
    images = kzoo.data.load_arrays(str(data), "validation", channels=3,
                                   image_size=(SIZE, SIZE))[0].astype("float32")
    probabilities = model.predict(images[:4], verbose=0)
    assert probabilities.shape == (4, len(SHAPES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    # The weights came from the file: the first convolution and a deep one, bit for bit
    # (the linear mode keeps the base frozen, so the saved model still has them).
    for layer_name in ("conv1_conv", "conv5_block3_3_conv"):
        np.testing.assert_array_equal(model.get_layer(layer_name).get_weights()[0],
                                      _legacy_weight(resnet50_notop, layer_name, "kernel"))

    # The caffe preprocessing is inside: raw RGB in, the model equals keras.applications'
    # ResNet-50 on preprocess_input(raw) (features before the new head).
    reference = keras.applications.ResNet50(weights=resnet50_notop, include_top=False,
                                            input_shape=(SIZE, SIZE, 3))
    features = keras.Model(model.inputs, model.get_layer("pooler").input)
    raw = images[:2]
    expected = reference.predict(keras.applications.resnet.preprocess_input(raw.copy()),
                                 verbose=0)
    np.testing.assert_allclose(features.predict(raw, verbose=0), expected, rtol=1e-4, atol=1e-4)
