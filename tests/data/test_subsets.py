"""`classes` and `labels_per_class` against the full splits they are taken from."""

import collections
import os

import numpy as np
import pytest
from PIL import Image

from kzoo import data

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")),
    reason="Debian's dataset-fashion-mnist is not installed",
)


@pytest.fixture(scope="module")
def digits_train():
    images, labels, _ = data.load_arrays("digits", "train")
    return images, labels


def _examples(images, labels):
    """How often each (label, image) occurs: a subset never exceeds these counts."""
    return collections.Counter((int(y), x.tobytes()) for x, y in zip(images, labels))


def test_labels_per_class_is_a_stratified_subset_of_train(digits_train):
    images, labels, source = data.load_arrays("digits", "train", labels_per_class=5)
    assert source == "sklearn:load_digits"
    assert images.shape == (50, 8, 8, 1) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10
    # Each chosen image is one of the training images of its label, none taken twice.
    assert not _examples(images, labels) - _examples(*digits_train)
    assert not np.all(np.diff(labels) >= 0)  # the result is shuffled, not grouped by class


def test_labels_per_class_is_seeded(digits_train):
    first = data.load_arrays("digits", "train", labels_per_class=3, seed=7)
    again = data.load_arrays("digits", "train", labels_per_class=3, seed=7)
    other = data.load_arrays("digits", "train", labels_per_class=3, seed=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert _examples(*first[:2]) != _examples(*other[:2])  # other images, not only another order
    default = data.load_arrays("digits", "train", labels_per_class=3)
    np.testing.assert_array_equal(default[0], data.load_arrays(
        "digits", "train", labels_per_class=3, seed=0)[0])  # seed defaults to 0


def test_labels_per_class_follows_the_documented_draw(digits_train):
    # One Generator: a permutation per class, class 0 first, then one of the result.
    images, labels = digits_train
    rng = np.random.default_rng(3)
    chosen = np.concatenate([np.flatnonzero(labels == c)[rng.permutation((labels == c).sum())[:4]]
                             for c in range(10)])
    chosen = chosen[rng.permutation(len(chosen))]
    got = data.load_arrays("digits", "train", labels_per_class=4, seed=3)
    np.testing.assert_array_equal(got[0], images[chosen])
    np.testing.assert_array_equal(got[1], labels[chosen])


def test_too_many_labels_per_class_names_the_class_and_its_count(digits_train):
    counts = np.bincount(digits_train[1])
    smallest = int(np.argmin(counts))
    with pytest.raises(ValueError, match=rf"`labels_per_class`: class {smallest} \('{smallest}'\) "
                                         rf"has only {counts.min()} training examples.*"
                                         rf"Received: labels_per_class={counts.min() + 1}"):
        data.load_arrays("digits", "train", labels_per_class=int(counts.min()) + 1)
    assert len(data.load_arrays("digits", "train", labels_per_class=int(counts.min()))[1]) == (
        10 * counts.min())


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "test", "labels_per_class": 5}, r"training split only.*split='test'"),
    ({"labels_per_class": 0}, r"positive int. Received: labels_per_class=0"),
    ({"labels_per_class": True}, r"positive int. Received: labels_per_class=True"),
    ({"labels_per_class": 2.0}, r"positive int. Received: labels_per_class=2.0"),
    ({"labels_per_class": 2, "seed": -1}, r"`seed`.*Received: seed=-1"),
    ({"classes": [10]}, r"`classes`.*\[0, 10\).*Received: classes=\[10\]"),
    ({"classes": [-1, 2]}, r"`classes`.*Received: classes=\[-1, 2\]"),
    ({"classes": [1, 1]}, r"distinct.*Received: classes=\[1, 1\]"),
    ({"classes": []}, r"non-empty.*Received: classes=\[\]"),
    ({"classes": "5"}, r"`classes`.*Received: classes='5'"),
    ({"classes": [True, 2]}, r"`classes`.*Received: classes=\[True, 2\]"),
    ({"classes": [1.0, 2]}, r"`classes`.*Received: classes=\[1.0, 2\]"),
])
def test_bad_subset_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_arrays("digits", **{"split": "train", **kwargs})
    with pytest.raises(ValueError, match=match):
        data.load("digits", batch_size=8, **{"split": "train", **kwargs})


@pytest.mark.parametrize("split", ["train", "test"])
def test_classes_keep_and_remap_in_the_given_order(split):
    images, labels, _ = data.load_arrays("digits", split)
    kept = [9, 5, 7]
    sub_images, sub_labels, _ = data.load_arrays("digits", split, classes=kept)
    mask = np.isin(labels, kept)
    np.testing.assert_array_equal(sub_images, images[mask])  # order kept
    np.testing.assert_array_equal(sub_labels, [kept.index(c) for c in labels[mask]])
    assert sub_labels.dtype == np.int64
    info = data.info("digits", classes=kept)
    assert info["class_names"] == ("9", "5", "7") and info["num_classes"] == 3
    assert info["splits"][split] == mask.sum()


def test_classes_with_labels_per_class(digits_train):
    images, labels = digits_train
    kept = [5, 6, 7, 8, 9]
    sub_images, sub_labels, _ = data.load_arrays("digits", "train", classes=kept,
                                                 labels_per_class=6, seed=2)
    assert np.bincount(sub_labels).tolist() == [6] * 5
    originals = _examples(images, labels)
    for x, y in zip(sub_images, sub_labels):
        assert (kept[y], x.tobytes()) in originals  # new label k is old class kept[k]


def test_load_applies_the_subsets(digits_train):
    x, y = next(iter(data.load("digits", "train", 100, shuffle=False, classes=[3, 4],
                               labels_per_class=7)))
    images, labels, _ = data.load_arrays("digits", "train", classes=[3, 4], labels_per_class=7)
    np.testing.assert_allclose(x.numpy(), images / 255.0, rtol=1e-6)  # seed None: subset seed 0
    np.testing.assert_array_equal(y.numpy(), labels)
    # Standardization from the training examples of the kept classes (not of the subset).
    test, _, _ = data.load_arrays("digits", "test", classes=[3, 4])
    train = digits_train[0][np.isin(digits_train[1], [3, 4])] / 255.0
    x, _ = next(iter(data.load("digits", "test", 1000, classes=[3, 4],
                               normalize="standardize")))
    np.testing.assert_allclose(x.numpy(), (test / 255.0 - train.mean()) / train.std(),
                               rtol=1e-4, atol=1e-5)
    x, _ = next(iter(data.load("digits", "train", 1000, shuffle=False, classes=[3, 4],
                               labels_per_class=7, normalize="standardize")))
    np.testing.assert_allclose(x.numpy(), (images / 255.0 - train.mean()) / train.std(),
                               rtol=1e-4, atol=1e-5)


def test_subsets_of_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("cat", 5), ("dog", 4), ("eel", 6)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    everything = data.load_arrays(tmp_path, "train", validation_split=0)
    few = data.load_arrays(tmp_path, "train", validation_split=0, labels_per_class=3, seed=1)
    assert np.bincount(few[1]).tolist() == [3, 3, 3]
    assert not _examples(*few[:2]) - _examples(*everything[:2])
    with pytest.raises(ValueError, match=r"class 1 \('dog'\) has only 4.*labels_per_class=5"):
        data.load_arrays(tmp_path, "train", validation_split=0, labels_per_class=5)
    kept = data.load_arrays(tmp_path, "train", validation_split=0, classes=[2, 0])
    mask = np.isin(everything[1], [2, 0])
    np.testing.assert_array_equal(kept[0], everything[0][mask])
    np.testing.assert_array_equal(kept[1], np.where(everything[1][mask] == 2, 0, 1))
    info = data.info(tmp_path, classes=[2, 0])
    assert info["class_names"] == ("eel", "cat") and info["splits"] == {"train": 9,
                                                                        "validation": 2}
    with pytest.raises(ValueError, match=r"`classes`.*\[0, 3\).*Received: classes=\[3\]"):
        data.info(tmp_path, classes=[3])


@needs_fashion
def test_fashion_mnist_transfer_split():
    # The transfer protocol: classes 0-4 (task A) vs 5-9 (task B), 1,000 test images each.
    b_test = data.load_arrays("fashion_mnist", "test", classes=[5, 6, 7, 8, 9])
    assert np.bincount(b_test[1]).tolist() == [1000] * 5
    info = data.info("fashion_mnist", classes=[5, 6, 7, 8, 9])
    assert info["class_names"] == ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert info["splits"] == {"train": 30000, "test": 5000}
    few = data.load_arrays("fashion_mnist", "train", classes=[0, 1, 2, 3, 4], labels_per_class=10)
    assert np.bincount(few[1]).tolist() == [10] * 5
