"""`kzoo.data` on folders of images (one subfolder per class), against the files PIL wrote."""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kzoo import data

# Created in this order; the class names (and labels) must come out sorted.
CLASSES = ("zebra", "apple", "mango")
SORTED = ("apple", "mango", "zebra")
PER_CLASS = 7
HEIGHT, WIDTH = 12, 10


def _write(directory, channels, seed, per_class=PER_CLASS, classes=CLASSES):
    """PNGs of known pixels: `{sorted label: [image uint8 (H, W, C)] in file-name order}`."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        os.makedirs(directory / name)
        images = []
        for i in range(per_class):
            pixels = rng.integers(0, 256, (HEIGHT, WIDTH, channels), dtype=np.uint8)
            image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
            image.save(directory / name / f"{i:02d}.png")
            images.append(pixels)
        written[SORTED.index(name)] = images
    return written


@pytest.fixture(params=[1, 3], ids=["grey", "rgb"])
def folder(request, tmp_path):
    """`(root, channels, written)`: 3 classes × 7 PNGs of 12×10, grey ("L") or RGB."""
    root = tmp_path / "images"
    return root, request.param, _write(root, request.param, seed=request.param)


def _all(written):
    return np.concatenate([np.stack(written[label]) for label in sorted(written)])


def _labels(written):
    return np.concatenate([[label] * len(written[label]) for label in sorted(written)])


def _keys(images, labels):
    """Each (label, image) as a hashable key, to compare sets of examples."""
    return [(int(y), x.tobytes()) for x, y in zip(images, labels)]


def test_pixels_labels_and_class_names_read_back(folder):
    root, channels, written = folder
    images, labels, source = data.load_arrays(str(root), "train", validation_split=0)
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.shape == (3 * PER_CLASS, HEIGHT, WIDTH, channels)  # channels from the files
    assert source == f"folder:{os.path.abspath(root)}"
    # PNG is lossless: exactly what was written, sorted by label, then file name.
    np.testing.assert_array_equal(images, _all(written))
    np.testing.assert_array_equal(labels, _labels(written))
    info = data.info(str(root), validation_split=0)
    assert info == {"name": os.path.abspath(root), "num_classes": 3, "class_names": SORTED,
                    "shape": (HEIGHT, WIDTH, channels), "splits": {"train": 21}}


def test_channels_convert_like_pil(folder):
    root, channels, written = folder
    other = 3 if channels == 1 else 1
    images, _, _ = data.load_arrays(root, "train", validation_split=0, channels=other)
    assert images.shape[-1] == other
    if other == 3:  # grey to RGB: three copies
        np.testing.assert_array_equal(images, np.repeat(_all(written), 3, axis=-1))
    else:  # RGB to grey: TensorFlow's decoder, within 1 of PIL's "L" (ITU-R 601-2 luma)
        expected = [np.asarray(Image.fromarray(x).convert("L")) for x in _all(written)]
        np.testing.assert_allclose(images[..., 0], np.stack(expected), atol=1)


def test_image_size_resizes_bilinear(folder):
    root, channels, written = folder
    up, _, _ = data.load_arrays(root, "train", validation_split=0, image_size=(24, 20))
    assert up.shape == (21, 24, 20, channels)
    expected = np.stack([np.asarray(Image.fromarray(x.squeeze(-1) if channels == 1 else x)
                                    .resize((20, 24), Image.BILINEAR)).reshape(24, 20, channels)
                         for x in _all(written)])
    # Upsampling: TensorFlow's bilinear and PIL's agree within rounding.
    np.testing.assert_allclose(up.astype(float), expected, atol=1.01)
    # Downsampling: TensorFlow's bilinear does not antialias (PIL's does), so only the shape.
    assert data.load_arrays(root, "train", validation_split=0, image_size=6)[0].shape[1:3] == (6, 6)
    assert data.info(root, image_size=(6, 5))["shape"] == (6, 5, channels)


def test_default_size_is_the_first_images(tmp_path):
    root = tmp_path / "mixed"
    _write(root, 3, seed=0, per_class=2)
    Image.new("RGB", (14, 16), (10, 20, 30)).save(root / "apple" / "00.png")  # first file
    images, _, _ = data.load_arrays(root, "train", validation_split=0)
    assert images.shape == (6, 16, 14, 3)
    np.testing.assert_array_equal(images[0], np.broadcast_to([10, 20, 30], (16, 14, 3)))


def test_validation_split_is_seeded_disjoint_and_complete(folder):
    root, channels, written = folder
    assert data.info(root)["splits"] == {"train": 17, "validation": 4}  # default 0.2: int(4.2)
    train, train_labels, _ = data.load_arrays(root, "train")
    validation, validation_labels, _ = data.load_arrays(root, "validation")
    assert (len(train), len(validation)) == (17, 4)
    everything = _keys(_all(written), _labels(written))
    split = _keys(train, train_labels) + _keys(validation, validation_labels)
    assert sorted(split) == sorted(everything)  # disjoint, and together all of them
    # The same split and order whatever TensorFlow's global seed (Keras shuffles with it).
    keras.utils.set_random_seed(99)
    again, again_labels, _ = data.load_arrays(root, "train")
    np.testing.assert_array_equal(again, train)
    np.testing.assert_array_equal(again_labels, train_labels)
    assert np.all(np.diff(train_labels) >= 0)  # sorted by label
    half = data.load_arrays(root, "validation", validation_split=0.5)[1]
    assert len(half) == 10  # int(0.5 * 21)


def test_train_test_layout(tmp_path):
    root = tmp_path / "split"
    train = _write(root / "train", 3, seed=0, per_class=4)
    test = _write(root / "test", 3, seed=1, per_class=2)
    x, y, source = data.load_arrays(root, "train")  # all of train/: no held-out part by default
    np.testing.assert_array_equal(x, _all(train))
    np.testing.assert_array_equal(y, _labels(train))
    assert source == f"folder:{root}"
    x, y, _ = data.load_arrays(root, "test")
    np.testing.assert_array_equal(x, _all(test))
    np.testing.assert_array_equal(y, _labels(test))
    info = data.info(root)
    assert info["class_names"] == SORTED and info["splits"] == {"train": 12, "test": 6}
    with pytest.raises(ValueError,
                       match=r"split.*\['train', 'test'\].*Received: split='validation'"):
        data.load_arrays(root, "validation")
    # A held-out part of train/ on request.
    assert data.info(root, validation_split=0.25)["splits"] == {"train": 9, "validation": 3,
                                                                "test": 6}
    held = [data.load_arrays(root, s, validation_split=0.25) for s in ("train", "validation")]
    assert sorted(_keys(*held[0][:2]) + _keys(*held[1][:2])) == sorted(_keys(_all(train),
                                                                            _labels(train)))


def test_a_validation_folder_is_the_validation_split(tmp_path):
    root = tmp_path / "split"
    train = _write(root / "train", 3, seed=0, per_class=2)
    validation = _write(root / "validation", 3, seed=1, per_class=1)
    test = _write(root / "test", 3, seed=2, per_class=1)
    assert data.info(root)["splits"] == {"train": 6, "validation": 3, "test": 3}
    for split, written in (("train", train), ("validation", validation), ("test", test)):
        np.testing.assert_array_equal(data.load_arrays(root, split)[0], _all(written))
    with pytest.raises(ValueError,
                       match=r"has a validation/ folder.*Received: validation_split=0.2"):
        data.load_arrays(root, "train", validation_split=0.2)


def test_split_folders_must_have_the_same_classes(tmp_path):
    root = tmp_path / "split"
    _write(root / "train", 1, seed=0, per_class=1)
    _write(root / "test", 1, seed=0, per_class=1, classes=("apple", "mango"))
    with pytest.raises(ValueError, match=r"test/ has the class folders.*Received: name="):
        data.load_arrays(root, "train")


CORRUPT = {
    "random.png": bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)),
    "empty.png": b"",
    "text.jpg": b"not a JPEG",
}


def _corrupt_files(root):
    """Unreadable files among the good ones; returns their paths, sorted."""
    good = (root / "apple" / "00.png").read_bytes()
    files = {root / "apple" / "zz-truncated.png": good[: len(good) // 2]}
    for name, content in CORRUPT.items():
        files[root / "mango" / name] = content
    jpeg = root / "zebra" / "photo.jpg"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(jpeg, quality=50)
    files[jpeg] = jpeg.read_bytes()[:300]  # truncated: PIL's verify() alone passes it
    tiff = root / "zebra" / "scan.png"
    Image.new("RGB", (10, 12)).save(tiff, format="TIFF")  # PIL reads it, TensorFlow does not
    files[tiff] = tiff.read_bytes()
    for path, content in files.items():
        path.write_bytes(content)
    return sorted(str(p) for p in files)


def test_keras_alone_crashes_on_a_corrupt_file_at_iteration(tmp_path):
    # Why kzoo scans the files first: Keras builds the dataset, then fails
    # mid-epoch with an error that names no file.
    root = tmp_path / "images"
    _write(root, 1, seed=0, per_class=2)
    (root / "mango" / "random.png").write_bytes(CORRUPT["random.png"])
    ds = keras.utils.image_dataset_from_directory(root, image_size=(12, 10), verbose=False)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        list(ds)
    assert "random.png" not in str(raised.value)


def test_corrupt_files_are_skipped_with_a_warning(folder):
    root, channels, written = folder
    bad = _corrupt_files(root)
    with pytest.warns(UserWarning, match=r"Skipped 6 unreadable image file\(s\).*the first: "
                                         + bad[0].replace("\\", "\\\\") + " "):
        images, labels, _ = data.load_arrays(root, "train", validation_split=0)
    np.testing.assert_array_equal(images, _all(written))
    np.testing.assert_array_equal(labels, _labels(written))
    with pytest.warns(UserWarning, match="Skipped 6"):
        assert data.info(root)["splits"] == {"train": 17, "validation": 4}  # of the 21 good ones


def test_load_pipeline_over_a_folder(folder):
    root, channels, written = folder
    train, _, _ = data.load_arrays(root, "train")
    validation, validation_labels, _ = data.load_arrays(root, "validation")
    x, y = next(iter(data.load(root, "validation", 8, normalize=None)))
    np.testing.assert_array_equal(x.numpy(), validation.astype("float32"))  # raw 0-255
    np.testing.assert_array_equal(y.numpy(), validation_labels)
    x, _ = next(iter(data.load(root, "validation", 8, normalize="standardize")))
    pixels = train.reshape(-1, channels) / 255.0  # the training split's statistics
    expected = (validation / 255.0 - pixels.mean(0)) / pixels.std(0)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-4, atol=1e-5)
    batches = list(data.load(root, "train", 5, augment="flip,crop", seed=0))
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 5, 2]
    assert all(0.0 <= float(np.min(b[0])) and float(np.max(b[0])) <= 1.0 for b in batches)


def test_a_catalog_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    _write(tmp_path / "digits", 1, seed=0, per_class=1)
    monkeypatch.chdir(tmp_path)
    assert data.load_arrays("digits", "test")[2] == "sklearn:load_digits"
    assert data.load_arrays("./digits", "train", validation_split=0)[2].startswith("folder:")


def _expect(match, name, **kwargs):
    with pytest.raises(ValueError, match=match) as raised:
        data.load_arrays(name, **kwargs)
    return str(raised.value)


def test_folder_errors_name_the_argument_and_the_path(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("L", (4, 4)).save(flat / "loose.png")
    _expect(rf"`name`.*no class subfolders.*Received: name='{flat}'", flat)

    one = tmp_path / "one"
    _write(one, 1, seed=0, per_class=2, classes=("apple",))
    _expect(rf"`name`.*one class subfolder only \('apple'\).*Received: name='{one}'", str(one))

    empty = tmp_path / "empty"
    for name in ("a", "b"):
        (empty / name).mkdir(parents=True)
        (empty / name / "notes.txt").write_text("no image")
    _expect(rf"`name`.*no image files.*Received: name='{empty}'", empty)

    broken = tmp_path / "broken"
    for name in ("a", "b"):
        (broken / name).mkdir(parents=True)
        (broken / name / "x.png").write_bytes(b"")
    _expect(rf"no readable image \(2 unreadable, the first: {broken}/a/x.png.*"
            rf"Received: name='{broken}'", broken)

    lopsided = tmp_path / "lopsided"
    _write(lopsided, 1, seed=0, per_class=1)
    shutil.rmtree(lopsided / "mango")
    (lopsided / "mango").mkdir()
    _expect(r"training class folder 'mango' has no readable image", lopsided)

    file = tmp_path / "image.png"
    Image.new("L", (4, 4)).save(file)
    message = _expect(r"Unknown dataset: argument `name`.*folder.*is a file", str(file))
    assert "Received: name=" in message and "'digits'" in message
    _expect(r"one of \['cifar10', 'digits', 'fashion_mnist', 'mnist'\], or the path of an "
            r"existing folder.*Received: name='no/such/folder'", "no/such/folder")


def test_folder_argument_errors(folder):
    root, _, _ = folder
    _expect(r"split.*\['train', 'validation'\].*Received: split='test'", root, split="test")
    _expect(r"`split`.*needs validation_split > 0.*Received: split='validation'", root,
            split="validation", validation_split=0)
    _expect(r"`validation_split`.*21 training images.*Received: validation_split=0.01", root,
            validation_split=0.01)
    _expect(r"`validation_split`.*\[0, 1\).*Received: validation_split=1", root, validation_split=1)
    _expect(r"`channels`.*Received: channels=2", root, channels=2)
    _expect(r"`image_size`.*Received: image_size=\(0, 4\)", root, image_size=(0, 4))
    _expect(r"`labels_per_class`.*Received: labels_per_class=2 with split='validation'", root,
            split="validation", labels_per_class=2)
    _expect(r"`channels` applies to image folders only.*Received: channels=3", "digits",
            channels=3)
