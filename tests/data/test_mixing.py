"""Mixup and CutMix in the `kzoo.data` pipeline, against NumPy formulas (issue 13)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import data

CLASSES = 10


def _batches(images, labels, batch_size=8, **kwargs):
    ds = data.from_arrays(images, labels, batch_size, normalize=None, num_classes=CLASSES,
                          **kwargs)
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _partner(row, own):
    """The class mixed into a label row besides `own` (`own` itself when unmixed)."""
    others = [c for c in np.flatnonzero(row > 1e-6) if c != own]
    assert len(others) <= 1, row
    return others[0] if others else own


def _distinct_images(rng, n):
    """Image i of class i % 10, each made of its own pixel values."""
    return rng.integers(0, 256, (n, 12, 10, 1), dtype=np.uint8), np.arange(n) % CLASSES


def test_mixup_blends_each_image_with_its_label_partner(rng):
    images, labels = _distinct_images(rng, 10)  # one batch, one image per class
    (x, y), = _batches(images, labels, batch_size=10, mixup=0.4, seed=1)
    np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-6)
    mixed = 0
    for i in range(10):
        j = _partner(y[i], labels[i])
        lam = y[i, labels[i]]
        want = lam * images[i].astype("float64") + (1 - lam) * images[j]
        np.testing.assert_allclose(x[i], want, atol=2e-3)
        mixed += j != labels[i] and 0.01 < lam < 0.99
    assert mixed >= 3  # Beta(0.4, 0.4) puts most λ near 0 or 1, not all


def test_cutmix_labels_are_the_pasted_pixels(rng):
    images = np.repeat(np.arange(10, dtype=np.uint8)[:, None, None, None] * 25, 28 * 28,
                       axis=1).reshape(10, 28, 28, 1)  # image i: every pixel 25·i
    labels = np.arange(10)
    fractions = []
    for x, y in _batches(np.concatenate([images] * 6), np.tile(labels, 6), batch_size=10,
                         cutmix=1.0, seed=2):
        for i in range(10):
            j = _partner(y[i], i)
            own, pasted = x[i, ..., 0] == 25 * i, x[i, ..., 0] == 25 * j
            assert np.all(own | pasted)
            if j == i:
                continue
            # The pasted pixels form one box, and their share is the label's weight.
            rows, cols = np.flatnonzero(pasted.any(1)), np.flatnonzero(pasted.any(0))
            assert pasted.sum() == len(rows) * len(cols)
            assert np.all(pasted[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
            assert y[i, j] == pytest.approx(pasted.mean(), abs=1e-6)
            fractions.append(pasted.mean())
    # λ ~ Beta(1, 1) = U(0, 1): the pasted share 1 − λ spreads over (0, 1).
    assert len(fractions) > 30 and 0.3 < np.mean(fractions) < 0.7


def test_mixup_and_cutmix_each_take_whole_batches(rng):
    images, labels = _distinct_images(rng, 400)  # in each batch of 10, image c is of class c
    kinds = []
    for b, (x, y) in enumerate(_batches(images, labels, batch_size=10, mixup=1.0, cutmix=1.0,
                                        seed=3)):
        batch = images[10 * b:10 * b + 10].astype("float32")
        pairs = [(batch[i], batch[_partner(y[i], i)]) for i in range(10)]
        # CutMix: each pixel is the image's or its partner's; Mixup blends them.
        pasted = [np.all((x[i] == own) | (x[i] == other)) for i, (own, other) in enumerate(pairs)]
        kinds.append("cutmix" if all(pasted) else "mixup")
        if not all(pasted):
            for i, (own, other) in enumerate(pairs):
                lam = y[i, i]
                np.testing.assert_allclose(x[i], lam * own + (1 - lam) * other, atol=2e-3)
    assert 10 <= kinds.count("cutmix") <= 30, kinds  # probability 0.5 over 40 batches


def test_a_seed_repeats_the_mixed_batches(rng):
    # As `kzoo.training.train` runs them: the parallel map then draws in order.
    tf.config.experimental.enable_op_determinism()
    images, labels = _distinct_images(rng, 32)
    first = _batches(images, labels, mixup=0.2, cutmix=1.0, seed=4)
    again = _batches(images, labels, mixup=0.2, cutmix=1.0, seed=4)
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_one_hot_without_mixing_and_load_mixes_the_train_split_only():
    train = next(iter(data.load("digits", "train", 16, mixup=0.3, seed=0)))[1].numpy()
    test = next(iter(data.load("digits", "test", 16, mixup=0.3, seed=0)))[1].numpy()
    one_hot = next(iter(data.load("digits", "test", 16, one_hot=True)))[1].numpy()
    assert train.shape == (16, 10) and (train.max(1) < 1).any()
    assert test.shape == (16,)
    assert one_hot.shape == (16, 10) and set(np.unique(one_hot)) == {0.0, 1.0}


def test_cutmix_layer_serializes():
    layer = data.CutMix(factor=(1.0, 1.0), seed=7)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is data.CutMix and again.get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs, message", [
    (dict(mixup=-0.1, num_classes=10), "`mixup` must be a finite number >= 0.*mixup=-0.1"),
    (dict(mixup=float("inf"), num_classes=10), "`mixup`.*mixup=inf"),
    (dict(cutmix=1.5, num_classes=10), "`cutmix` must be a number in \\[0, 1\\].*cutmix=1.5"),
    (dict(cutmix=True, num_classes=10), "`cutmix`.*cutmix=True"),
    (dict(mixup=0.2), "`num_classes` must be given.*Received: num_classes=None"),
])
def test_bad_mixing_arguments_are_value_errors(rng, kwargs, message):
    images, labels = _distinct_images(rng, 4)
    with pytest.raises(ValueError, match=message):
        data.from_arrays(images, labels, 2, **kwargs)
