"""`kzoo.data.load`: a shuffled, batched, prefetched `tf.data.Dataset`."""

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.catalog import get_spec
from kzoo.data.sources import load_arrays

NORMALIZATIONS = (None, "none", "scale", "standardize")
AUGMENTATIONS = ("flip", "crop", "scale", "color")


def channel_statistics(name, *, data_dir=None, download=False):
    """Per-channel mean and std of the training split, pixels scaled to [0, 1]."""
    images, _, _ = load_arrays(name, "train", data_dir=data_dir, download=download)
    pixels = images.reshape(-1, images.shape[-1]).astype("float64") / 255.0
    return pixels.mean(axis=0).astype("float32"), pixels.std(axis=0).astype("float32")


def parse_augment(augment):
    """None, a comma-separated string or a sequence → a tuple of augmentation names."""
    if augment in (None, "", "none", False):
        return ()
    if isinstance(augment, str):
        names = augment.split(",")
    elif isinstance(augment, (list, tuple)) and all(isinstance(n, str) for n in augment):
        names = list(augment)
    else:
        raise ValueError(
            f"Argument `augment` must be None, a list of names or a comma-separated string "
            f"(a subset of {list(AUGMENTATIONS)}). Received: augment={augment!r}"
        )
    names = tuple(n.strip().lower() for n in names if n.strip())
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation {unknown[0]!r}: argument `augment` must be a subset of "
            f"{list(AUGMENTATIONS)} (a list or a comma-separated string). "
            f"Received: augment={augment!r}"
        )
    return names


def augmentation_layers(names, shape, seed=None, pad=4, zoom=0.1):
    """Keras preprocessing layers for the named augmentations (inputs in [0, 1]).

    `flip`: random horizontal flip; `crop`: zero-pad by `pad` pixels and crop
    back at random (the CIFAR recipe); `scale`: random zoom in or out by up to
    `zoom` of the height and width, filling with black; `color`: random
    brightness and contrast.
    """
    height, width = shape[:2]
    layers = []
    if "flip" in names:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if "crop" in names:
        layers.append(keras.layers.ZeroPadding2D(pad))
        layers.append(keras.layers.RandomCrop(height, width, seed=seed))
    if "scale" in names:
        layers.append(keras.layers.RandomZoom((-zoom, zoom), fill_mode="constant",
                                              fill_value=0.0, seed=seed))
    if "color" in names:
        layers.append(keras.layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed))
        layers.append(keras.layers.RandomContrast(0.2, seed=seed))
    return layers


def load(
    name="fashion_mnist",
    split="train",
    batch_size=128,
    *,
    shuffle=None,
    normalize="scale",
    augment=None,
    seed=None,
    data_dir=None,
    download=False,
    drop_remainder=False,
):
    """Loads a dataset as a `tf.data.Dataset` of `(image, label)` batches.

    Args:
        name: `"fashion_mnist"` (default), `"mnist"`, `"digits"` or `"cifar10"`.
        split: `"train"` or `"test"`.
        batch_size: positive int.
        shuffle: shuffle every epoch; defaults to `True` for the train split.
        normalize: `"scale"` (pixels / 255, the default), `"standardize"`
            (then minus the training split's per-channel mean, over its std),
            or `None` (raw 0–255 values as float32, for models that carry their
            own preprocessing).
        augment: `None`, or a subset of `("flip", "crop", "scale", "color")` as a list
            or a comma-separated string, applied to the train split only.
        seed: seed of the shuffle and the augmentations.
        data_dir: tensorflow-datasets data dir.
        download: let tensorflow-datasets download the data when no local
            source has it.
        drop_remainder: drop the last partial batch.

    Returns:
        A batched, prefetched `tf.data.Dataset` of float32 images
        (B, H, W, C) and int64 labels (B,).

    Example:

    >>> ds = kzoo.data.load("fashion_mnist", "train", batch_size=128, augment="flip,crop")
    >>> images, labels = next(iter(ds))
    """
    get_spec(name, argument="name")  # an unknown name fails first, with the list of names
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(
            f"Argument `batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )
    images, labels, _ = load_arrays(name, split, data_dir=data_dir, download=download)
    mean = std = None
    if normalize == "standardize":
        mean, std = channel_statistics(name, data_dir=data_dir, download=download)
    return from_arrays(
        images, labels, batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        normalize=normalize,
        augment=augment if split == "train" else None,
        seed=seed, mean=mean, std=std, drop_remainder=drop_remainder,
    )


def from_arrays(images, labels, batch_size, *, shuffle=False, normalize="scale", augment=None,
                seed=None, mean=None, std=None, drop_remainder=False):
    """The `load` pipeline over in-memory uint8 images (N, H, W, C) and labels.

    `mean` and `std` (per channel, pixels in [0, 1]) are required for
    `normalize="standardize"`. See `load` for the other arguments.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(
            f"Argument `batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"Argument `normalize` must be one of {list(NORMALIZATIONS)}. "
            f"Received: normalize={normalize!r}"
        )
    if normalize == "standardize" and (mean is None or std is None):
        raise ValueError("normalize='standardize' needs `mean` and `std`. Received: None")
    names = parse_augment(augment)

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    scale = normalize in ("scale", "standardize") or bool(names)
    augmenter = None
    if names:
        augmenter = keras.Sequential(augmentation_layers(names, images.shape[1:], seed))

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if scale:
            x = x / 255.0
        if augmenter is not None:
            x = tf.clip_by_value(augmenter(x, training=True), 0.0, 1.0)
        if normalize == "standardize":
            x = (x - mean) / np.maximum(std, 1e-7)
        elif normalize in (None, "none") and scale:
            x = x * 255.0  # augmented in [0, 1], handed back raw
        return x, y

    # Deterministic order of the mapped elements, so a seeded run repeats exactly.
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def info(name):
    """What a dataset is: classes, class names, image shape, split sizes.

    Example:

    >>> kzoo.data.info("fashion_mnist")["class_names"][:2]
    ('T-shirt/top', 'Trouser')
    """
    spec = get_spec(name)
    return {
        "name": spec.name,
        "num_classes": spec.num_classes,
        "class_names": spec.class_names,
        "shape": spec.shape,
        "splits": dict(spec.splits),
    }
