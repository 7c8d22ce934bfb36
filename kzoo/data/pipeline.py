"""`kzoo.data.load`: a shuffled, batched, prefetched `tf.data.Dataset`, of a dataset or a folder."""

import keras
import numpy as np
import tensorflow as tf

from kzoo.data import folders, mixing, subsets
from kzoo.data.catalog import get_spec
from kzoo.data.sources import check_folder_only, load_arrays, split_arrays

NORMALIZATIONS = (None, "none", "scale", "standardize")
AUGMENTATIONS = ("flip", "crop", "scale", "color", "erase")
#: Random erasing (Zhong et al. 2017, the published Fashion-MNIST recipe): probability, area.
ERASE_PROBABILITY, ERASE_AREA = 0.5, (0.02, 0.4)


def channel_statistics(name, *, data_dir=None, download=False, classes=None, channels=None,
                       image_size=None, validation_split=None):
    """Per-channel mean and std of the training split, pixels scaled to [0, 1].

    With `classes`, of the training examples of those classes (never of a
    `labels_per_class` subset: train and test are standardized alike). The
    other arguments are those of `load_arrays`.
    """
    images, _, _ = load_arrays(name, "train", data_dir=data_dir, download=download,
                               classes=classes, channels=channels, image_size=image_size,
                               validation_split=validation_split)
    return _statistics(images)


def _statistics(images):
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
    brightness and contrast; `erase`: random erasing (Zhong et al., 2017),
    last: with probability 0.5 a rectangle of 2–40% of the image, aspect ratio
    about 0.3–3.3, is filled with random values (`keras.layers.RandomErasing`
    with `factor=(0.5, 0.5)`, which is what makes the probability exactly 0.5
    — a single float `f` draws the probability from [0, f] — and the paper's
    area range `scale=(0.02, 0.4)`; Keras fills with clipped normal noise
    where the paper draws uniform values).
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
    if "erase" in names:
        layers.append(keras.layers.RandomErasing(
            factor=(ERASE_PROBABILITY, ERASE_PROBABILITY), scale=ERASE_AREA,
            value_range=(0.0, 1.0), seed=seed))
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
    classes=None,
    labels_per_class=None,
    channels=None,
    image_size=None,
    validation_split=None,
    mixup=0.0,
    cutmix=0.0,
    one_hot=False,
):
    """Loads a dataset, or a folder of images, as a `tf.data.Dataset` of `(image, label)` batches.

    Args:
        name: `"fashion_mnist"` (default), `"mnist"`, `"digits"` or `"cifar10"`;
            or else the path of an existing folder of images with one
            subfolder per class (`root/<class>/*.png`, or `root/train/<class>/`
            and `root/test/<class>/`), read into memory with
            `keras.utils.image_dataset_from_directory` (meant for small
            folders). Class names are the sorted subfolder names
            (`kzoo.data.info(path)`); unreadable files are skipped with a warning.
        split: `"train"` or `"test"`; for a folder `"train"`, `"validation"`
            (held out of the training images, see `validation_split`) and, with
            a test/ folder, `"test"`.
        batch_size: positive int.
        shuffle: shuffle every epoch; defaults to `True` for the train split.
        normalize: `"scale"` (pixels / 255, the default), `"standardize"`
            (then minus the training split's per-channel mean, over its std),
            or `None` (raw 0–255 values as float32, for models that carry their
            own preprocessing).
        augment: `None`, or a subset of `("flip", "crop", "scale", "color",
            "erase")` as a list or a comma-separated string, applied to the
            train split only (`augmentation_layers`).
        seed: seed of the shuffle and the augmentations, and of the
            `labels_per_class` subset (there None means 0).
        data_dir: tensorflow-datasets data dir.
        download: let tensorflow-datasets download the data when no local
            source has it.
        drop_remainder: drop the last partial batch.
        classes: None (all), or a list of class indices: only their examples,
            relabelled 0, 1, ... in the given order (`classes=[5, 6, 7, 8, 9]`:
            the second half of Fashion-MNIST as a 5-class task), in every split.
        labels_per_class: None, or N: exactly N examples of each (kept) class,
            a seeded stratified subset of the training split (`split="train"` only).
        channels: folders only: 1 (grayscale) or 3 (RGB); None: from the first
            training image.
        image_size: folders only: `(height, width)` every image is resized to
            (bilinear); None: the first training image's size.
        validation_split: folders only: the fraction of the training images held
            out as "validation", always with the same seed; None: 0.2 for a folder
            of class subfolders, none with train/ and test/ folders.
        mixup: α of Mixup on the train split (`kzoo.data.mixing`; 0 = off).
        cutmix: α of CutMix on the train split, in [0, 1] (0 = off); with
            `mixup` too, each batch gets one of the two.
        one_hot: labels as one-hot float32 rows (B, classes), what the
            validation and test splits of a mixed training need; implied by
            `mixup` or `cutmix` on the train split.

    Returns:
        A batched, prefetched `tf.data.Dataset` of float32 images
        (B, H, W, C) and int64 labels (B,) (float32 (B, classes) with
        `one_hot` or on the train split with `mixup` or `cutmix`).

    Examples:
        >>> ds = kzoo.data.load("fashion_mnist", "train", batch_size=128, augment="flip,crop")
        >>> images, labels = next(iter(ds))
        >>> few = kzoo.data.load("fashion_mnist", "train", 32, classes=[5, 6, 7, 8, 9],
        ...                      labels_per_class=10, seed=1)  # 50 images, labels 0-4
        >>> ds = kzoo.data.load("my_photos/", "validation", 32, image_size=(64, 64))
        >>> mixed = kzoo.data.load("fashion_mnist", "train", 128, mixup=0.2, cutmix=1.0)
    """
    folders.check_name(name, argument="name")  # an unknown name fails first, with the list
    mixing.check_mixing(mixup, cutmix)
    if not isinstance(one_hot, bool):
        raise ValueError(f"Argument `one_hot` must be True or False. Received: one_hot={one_hot!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(
            f"Argument `batch_size` must be a positive int. Received: batch_size={batch_size!r}"
        )
    subset_seed = 0 if seed is None else seed
    options = dict(data_dir=data_dir, download=download, classes=classes, channels=channels,
                   image_size=image_size, validation_split=validation_split)
    images, labels, _, class_names = split_arrays(
        name, split, labels_per_class=labels_per_class, seed=subset_seed, **options)
    mean = std = None
    if normalize == "standardize":
        # The training split's statistics (of the kept classes, before labels_per_class).
        mean, std = _statistics(images) if split == "train" else channel_statistics(
            name, **options)
    if labels_per_class is not None:
        images, labels = subsets.per_class_subset(images, labels, labels_per_class,
                                                  subset_seed, class_names)
    mixes = split == "train" and bool(mixup or cutmix)
    return from_arrays(
        images, labels, batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        normalize=normalize,
        augment=augment if split == "train" else None,
        seed=seed, mean=mean, std=std, drop_remainder=drop_remainder,
        num_classes=len(class_names) if one_hot or mixes else None,
        mixup=mixup if mixes else 0.0, cutmix=cutmix if mixes else 0.0,
    )


def from_arrays(images, labels, batch_size, *, shuffle=False, normalize="scale", augment=None,
                seed=None, mean=None, std=None, drop_remainder=False, num_classes=None,
                mixup=0.0, cutmix=0.0):
    """The `load` pipeline over in-memory uint8 images (N, H, W, C) and labels.

    `mean` and `std` (per channel, pixels in [0, 1]) are required for
    `normalize="standardize"`. With `num_classes`, the labels are one-hot
    float32 rows (B, num_classes), which `mixup` and `cutmix` (the last
    step, after the augmentations; `kzoo.data.mixing.batch_mixer`) need.
    See `load` for the other arguments.
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
    mixing.check_mixing(mixup, cutmix)
    if (mixup or cutmix) and num_classes is None:
        raise ValueError(f"Mixup and CutMix make soft labels: argument `num_classes` must be "
                         f"given with mixup={mixup!r}, cutmix={cutmix!r}. Received: "
                         f"num_classes=None")
    mix = None
    if num_classes is not None:
        mix = mixing.batch_mixer(num_classes, mixup=mixup, cutmix=cutmix, seed=seed)

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
        # Mixing is linear in the pixels: the same in any of these scales.
        return (x, y) if mix is None else mix(x, y)

    # Deterministic order of the mapped elements. The random augmentations and the mixing
    # repeat exactly for a seed only under `tf.config.experimental.enable_op_determinism()`
    # (which `kzoo.training.train` turns on): it runs their stateful draws in order.
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def info(name, *, classes=None, channels=None, image_size=None, validation_split=None,
         data_dir=None, download=False):
    """What a dataset or an image folder is: classes, class names, image shape, split sizes.

    `{"name", "num_classes", "class_names", "shape", "splits"}`; for a folder
    `name` is its absolute path, `shape` follows `channels` and `image_size`
    (as `load` would give), and `splits` counts the readable images of each
    split `load` accepts. With `classes`, the kept classes in the given order
    (label i is `class_names[i]`) and their split sizes; for a catalog dataset
    that reads the labels (`data_dir`, `download`).

    Examples:
        >>> kzoo.data.info("fashion_mnist")["class_names"][:2]
        ('T-shirt/top', 'Trouser')
        >>> kzoo.data.info("fashion_mnist", classes=[9, 5])["class_names"]
        ('Ankle boot', 'Sandal')
    """
    if folders.check_name(name, argument="name") == "folder":
        folders.check_channels_and_size(channels, image_size)
        folder = folders.scan_folder(name)
        kept = subsets.check_classes(classes, len(folder.class_names),
                                     f"the image folder {folder.root}")
        return folders.folder_info(name, channels=channels, image_size=image_size,
                                   validation_split=validation_split, classes=kept,
                                   folder=folder)
    spec = get_spec(name, argument="name")
    check_folder_only(name, channels=channels, image_size=image_size,
                      validation_split=validation_split)
    kept = subsets.check_classes(classes, spec.num_classes, f"dataset {name!r}")
    splits = dict(spec.splits)
    if kept is not None:
        splits = {split: len(load_arrays(name, split, data_dir=data_dir, download=download,
                                         classes=kept)[1])
                  for split in spec.splits}
    return {
        "name": spec.name,
        "num_classes": spec.num_classes if kept is None else len(kept),
        "class_names": spec.class_names if kept is None else tuple(
            spec.class_names[c] for c in kept),
        "shape": spec.shape,
        "splits": splits,
    }
