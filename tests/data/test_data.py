"""kzoo.data against the raw files and scikit-learn, offline."""

import gzip
import os

import numpy as np
import pytest

from kzoo import data

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")),
    reason="Debian's dataset-fashion-mnist is not installed",
)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


@pytest.fixture
def idx_dir(tmp_path, monkeypatch):
    """A KZOO_DATA_DIR with a tiny MNIST in IDX files, independent of any install."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    arrays = {}
    for split, n in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = rng.integers(0, 10, size=(n,))
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
        arrays[split] = (images, labels)
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    return arrays


def test_idx_files_from_kzoo_data_dir(idx_dir):
    images, labels, source = data.load_arrays("mnist", "test")
    np.testing.assert_array_equal(images[..., 0], idx_dir["t10k"][0])
    np.testing.assert_array_equal(labels, idx_dir["t10k"][1])
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    assert source.startswith("idx:")


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + np.array([2, 28, 28], ">u4").tobytes() + b"\0" * 10)
    with pytest.raises(ValueError, match="Truncated"):
        data.read_idx(str(path))


@needs_fashion
def test_fashion_mnist_from_debian_package():
    images, labels, _ = data.load_arrays("fashion_mnist", "test")
    assert images.shape == (10000, 28, 28, 1)
    # The published first test labels: ankle boot, pullover, trouser, trouser, shirt.
    np.testing.assert_array_equal(labels[:5], [9, 2, 1, 1, 6])
    assert np.bincount(labels).tolist() == [1000] * 10


def test_digits_split_is_fixed_and_disjoint():
    from sklearn.datasets import load_digits

    train, train_labels, _ = data.load_arrays("digits", "train")
    test, _, _ = data.load_arrays("digits", "test")
    assert len(train) + len(test) == len(load_digits().images) == 1797
    # uint8 0-255 from sklearn's 0-16 scale.
    assert train.dtype == np.uint8 and train.max() == 255
    again, again_labels, _ = data.load_arrays("digits", "train")
    np.testing.assert_array_equal(train_labels, again_labels)


def test_load_batches_scales_and_keeps_labels(idx_dir):
    ds = data.load("mnist", "test", batch_size=4, shuffle=False)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 1]
    x, y = batches[0]
    np.testing.assert_allclose(x.numpy()[..., 0], idx_dir["t10k"][0][:4] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), idx_dir["t10k"][1][:4])


def test_standardize_uses_training_split_statistics(idx_dir):
    mean, std = data.channel_statistics("mnist")
    train = idx_dir["train"][0] / 255.0
    np.testing.assert_allclose(mean, [train.mean()], rtol=1e-5)
    np.testing.assert_allclose(std, [train.std()], rtol=1e-5)
    x, _ = next(iter(data.load("mnist", "test", 5, shuffle=False, normalize="standardize")))
    expected = (idx_dir["t10k"][0] / 255.0 - train.mean()) / train.std()
    np.testing.assert_allclose(x.numpy()[..., 0], expected, rtol=1e-4, atol=1e-5)


def test_augmentation_stays_in_range_and_changes_images(idx_dir):
    plain, _ = next(iter(data.load("mnist", "train", 12, shuffle=False)))
    augmented, _ = next(iter(data.load("mnist", "train", 12, shuffle=False,
                                       augment="flip,crop,scale,color", seed=1)))
    assert augmented.shape == plain.shape
    assert 0.0 <= float(np.min(augmented)) and float(np.max(augmented)) <= 1.0
    assert not np.allclose(augmented, plain)


def test_scale_zooms_within_its_range():
    # A centred bright square: a zoom by a factor in [0.9, 1.1] scales its
    # area by roughly [0.81, 1.21]; images differ from one another.
    images = np.zeros((32, 28, 28, 1), "uint8")
    images[:, 9:19, 9:19] = 255
    ds = data.from_arrays(images, np.zeros(32, "int64"), 32, augment="scale", seed=3)
    x = next(iter(ds))[0].numpy()
    area = x.sum(axis=(1, 2, 3)) / 100.0  # 1.0 = the original 10×10 square
    assert 0.75 < area.min() and area.max() < 1.3, area
    assert area.std() > 0.02, area
    centre = (x * np.arange(28)[None, :, None, None]).sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(centre, 13.5, atol=0.6)  # zoom keeps the square centred


def test_erase_is_random_erasing_as_published():
    # Zhong et al. 2017: with probability 0.5, one rectangle of 2-40% of the image,
    # aspect ratio about 0.3-3.3, filled with random values; the rest untouched.
    images = np.full((2000, 28, 28, 1), 255, "uint8")
    ds = data.from_arrays(images, np.zeros(2000, "int64"), 2000, augment="erase", seed=5)
    x = next(iter(ds))[0].numpy()[..., 0]
    erased = x < 1.0
    hit = erased.reshape(2000, -1).any(1)
    assert 0.46 < hit.mean() < 0.54, hit.mean()
    area = erased.reshape(2000, -1).mean(1)[hit]
    rows, cols = erased.any(2).sum(1)[hit], erased.any(1).sum(1)[hit]
    assert np.all(erased.reshape(2000, -1).sum(1)[hit] <= rows * cols)  # inside one box
    assert 0.015 < area.min() and area.max() < 0.42 and np.median(area) > 0.1
    assert 0.2 < (rows / cols).min() and (rows / cols).max() < 5
    fill = x[erased]
    assert fill.std() > 0.1 and 0.0 <= fill.min() and fill.max() <= 1.0  # random values


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "cifar100"}, "dataset"),
        ({"name": "digits", "split": "validation"}, "split"),
        ({"name": "digits", "batch_size": 0}, "batch_size"),
        ({"name": "digits", "normalize": "zscore"}, "normalize"),
        ({"name": "digits", "augment": "rotate"}, "augment"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"{match}.*Received|Received.*{match}"):
        data.load(**kwargs)


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError, match="To get it"):
        data.load_arrays("mnist", "train", data_dir=str(tmp_path / "tfds"))
