"""Where the images come from, tried in order, as NumPy arrays (uint8 images).

1. tensorflow-datasets, if the dataset is prepared in its data dir;
2. IDX files (MNIST family) in `$KZOO_DATA_DIR`, `$KZOO_DATA_DIR/<name>`,
   Debian's package folder (`/usr/share/datasets/fashion-mnist`) or Keras's
   cache (`~/.keras/datasets/<name>`), gzipped or not;
3. scikit-learn's 8×8 digits, inside its wheel;
4. tensorflow-datasets' download, when `download=True` and the machine is online.

Anything else is a `DatasetNotFoundError` that says how to get the data.

`load_arrays` also reads a folder of images with one subfolder per class
(`kzoo.data.folders`), and takes the subsets `classes` and `labels_per_class`
(`kzoo.data.subsets`) for every dataset.
"""

import gzip
import os
import zlib

import numpy as np

from kzoo.data import folders, subsets
from kzoo.data.catalog import IDX_FILES, get_spec


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is in none of the places kzoo looks, and cannot be downloaded."""


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array.

    A file that is not one (a `.gz` that is not gzip, a cut-off gzip stream,
    a bad magic number, fewer bytes than its header says) is a `ValueError`
    naming it.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"IDX file {path!r} cannot be read ({e}): a .gz file must be a "
                         f"complete gzip stream (download it again). Received: "
                         f"path={path!r}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"Not an IDX file (bad magic number). Received: path={path!r}")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise ValueError(f"Only unsigned-byte IDX files are supported. Received: path={path!r}")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"Truncated IDX file: expected {tuple(dims)} bytes. Received: path={path!r}")
    return array.reshape(dims)


def idx_directories(name):
    """Candidate folders for the IDX files of `name`, in search order."""
    spec = get_spec(name)
    dirs = []
    env = os.environ.get("KZOO_DATA_DIR")
    if env:
        dirs += [os.path.join(env, name), os.path.join(env, name.replace("_", "-")), env]
    dirs += [os.path.expanduser(d) for d in spec.idx_dirs]
    return dirs


def _find_idx(directory, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def from_idx(name, split):
    """(images (N, H, W, 1) uint8, labels (N,) int64, source) or None."""
    if name not in ("fashion_mnist", "mnist"):
        return None
    for directory in idx_directories(name):
        paths = [_find_idx(directory, stem) for stem in IDX_FILES[split]]
        if all(paths):
            images, labels = read_idx(paths[0]), read_idx(paths[1])
            if len(images) != len(labels):
                raise ValueError(
                    f"IDX images and labels differ in length in {directory}. "
                    f"Received: {len(images)} images, {len(labels)} labels"
                )
            check_labels(name, labels, where=f"IDX file {paths[1]!r}")
            return images[..., None], labels.astype("int64"), f"idx:{directory}"
    return None


def check_labels(name, labels, *, where):
    """A `ValueError` unless every label of dataset `name` is one of its classes.

    `where` names the file (or source) the labels came from.
    """
    classes = get_spec(name).num_classes
    labels = np.asarray(labels)
    outside = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(outside):
        i = int(outside[0])
        raise ValueError(
            f"Dataset {name!r} has {classes} classes (labels 0..{classes - 1}), but {where} "
            f"holds label {int(labels[i])} (at example {i}; {len(outside):,} labels outside "
            f"that range): the file is damaged or of another dataset. Received: "
            f"dataset={name!r}")


def from_sklearn_digits(split):
    """sklearn's 8×8 digits as uint8 0–255, a fixed 80/20 split (seed 0)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")[..., None]
    labels = digits.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(images))
    n_test = get_spec("digits").splits["test"]
    chosen = order[n_test:] if split == "train" else order[:n_test]
    return images[chosen], labels[chosen], "sklearn:load_digits"


def from_tfds(name, split, data_dir=None, download=False):
    """The split from tensorflow-datasets, if prepared (or downloadable)."""
    spec = get_spec(name)
    if spec.tfds_name is None:
        return None
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    from absl import logging as absl_logging

    # Probing an unprepared dataset makes tfds warn about its empty version
    # folder; that is the expected case here, not news for the user.
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
        prepared = builder.is_prepared()
    finally:
        absl_logging.set_verbosity(verbosity)
    if not prepared:
        if not download:
            return None
        builder.download_and_prepare()
    images, labels = tfds.as_numpy(
        builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
    )
    return images.astype("uint8"), labels.astype("int64"), f"tfds:{builder.data_dir}"


def load_arrays(name, split="train", *, data_dir=None, download=False, classes=None,
                labels_per_class=None, seed=0, channels=None, image_size=None,
                validation_split=None):
    """Loads a split as NumPy arrays: a catalog dataset, or a folder of images.

    Args:
        name: a dataset name (`kzoo.data.list_datasets()`), or else the path
            of an existing folder of images with one subfolder per class
            (`kzoo.data.folders`; read into memory with
            `keras.utils.image_dataset_from_directory`).
        split: `"train"` or `"test"`; for a folder `"train"`, `"validation"`
            (held out of the training images) and `"test"` (with train/ and
            test/ subfolders).
        data_dir: tensorflow-datasets data dir (default: its own).
        download: allow tensorflow-datasets to download when nothing local has it.
        classes: None (all), or a list of class indices: only their examples,
            relabelled 0, 1, ... in the order given (e.g. `[5, 6, 7, 8, 9]`).
        labels_per_class: None, or N: exactly N examples of each (kept) class,
            a stratified subset of the training split chosen by `seed`
            (`split="train"` only).
        seed: seed of the `labels_per_class` subset (NumPy Generator).
        channels: folders only: 1 or 3; None: from the first training image.
        image_size: folders only: `(height, width)` to resize to (bilinear);
            None: the first training image's size.
        validation_split: folders only: fraction of the training images held
            out as "validation" (fixed seed); None: 0.2 for a folder of class
            subfolders, none for train/ and test/ folders.

    Returns:
        `(images, labels, source)`: uint8 images (N, H, W, C), int64 labels and
        a string naming where they came from (`"folder:<absolute path>"` for
        a folder). Folder images are sorted by label, then file path.

    Raises:
        ValueError: unknown dataset, split, classes or other bad argument, a
            class with fewer than `labels_per_class` examples, or a folder
            without class subfolders, images, or with one class only.
        DatasetNotFoundError: nowhere to be found; the message says how to get it.
    """
    images, labels, source, class_names = split_arrays(
        name, split, data_dir=data_dir, download=download, classes=classes,
        labels_per_class=labels_per_class, seed=seed, channels=channels,
        image_size=image_size, validation_split=validation_split)
    if labels_per_class is not None:
        images, labels = subsets.per_class_subset(images, labels, labels_per_class, seed,
                                                  class_names)
    return images, labels, source


def split_arrays(name, split="train", *, data_dir=None, download=False, classes=None,
                 labels_per_class=None, seed=0, channels=None, image_size=None,
                 validation_split=None):
    """`load_arrays` before `labels_per_class` (which is only checked), plus the class names.

    Returns `(images, labels, source, class_names)`, the class names of the
    kept classes, in label order.
    """
    kind = folders.check_name(name, argument="name")
    subsets.check_labels_per_class(labels_per_class, split)
    subsets.check_seed(seed)
    if kind == "folder":
        folders.check_channels_and_size(channels, image_size)
        folder = folders.scan_folder(name, argument="name")
        classes = subsets.check_classes(classes, len(folder.class_names),
                                        f"the image folder {folder.root}")
        images, labels, class_names, source = folders.read_folder(
            name, split, channels=channels, image_size=image_size,
            validation_split=validation_split, folder=folder)
    else:
        spec = get_spec(name, argument="name")
        if split not in spec.splits:
            raise ValueError(
                f"Unknown split: argument `split` of dataset {name!r} must be one of "
                f"{sorted(spec.splits)}. Received: split={split!r}"
            )
        classes = subsets.check_classes(classes, spec.num_classes, f"dataset {name!r}")
        check_folder_only(name, channels=channels, image_size=image_size,
                          validation_split=validation_split)
        images, labels, source = catalog_arrays(name, split, data_dir=data_dir,
                                                download=download)
        class_names = spec.class_names
    images, labels = subsets.select_classes(images, labels, classes)
    if classes is not None:
        class_names = tuple(class_names[c] for c in classes)
    return images, labels, source, tuple(class_names)


def check_folder_only(name, **arguments):
    """A `ValueError` for a folder-only argument given with a catalog dataset."""
    spec = get_spec(name, argument="name")
    for argument, value in arguments.items():
        if value is not None:
            raise ValueError(
                f"Argument `{argument}` applies to image folders only; dataset {name!r} has "
                f"images of {spec.shape} and the splits {sorted(spec.splits)}. "
                f"Received: {argument}={value!r}")


def catalog_arrays(name, split="train", *, data_dir=None, download=False):
    """A catalog dataset's split from the first source that has it (see the module docstring)."""
    spec = get_spec(name, argument="name")
    if data_dir is not None and (not isinstance(data_dir, (str, os.PathLike))
                                 or os.path.isfile(data_dir)):
        raise ValueError(f"Argument `data_dir` must be a folder (tensorflow-datasets' data "
                         f"dir), not a file. Received: data_dir={data_dir!r}")
    found = (
        from_tfds(name, split, data_dir)
        or from_idx(name, split)
        or (from_sklearn_digits(split) if spec.sklearn else None)
    )
    if found is None and download:
        try:
            found = from_tfds(name, split, data_dir, download=True)
        except Exception as e:  # noqa: BLE001 - any download failure gets the same advice
            raise DatasetNotFoundError(_how_to_get(name) + f" (download failed: {e})") from None
    if found is None:
        raise DatasetNotFoundError(_how_to_get(name))
    check_labels(name, found[1], where=found[2])
    return found


def _how_to_get(name):
    spec = get_spec(name)
    ways = []
    if spec.tfds_name:
        ways.append(f"go online and pass download=True (kzoo train --download) so "
                    f"tensorflow-datasets fetches {spec.tfds_name!r}")
    if name in ("fashion_mnist", "mnist"):
        if name == "fashion_mnist":
            ways.insert(0, "install Debian's package: sudo apt-get install dataset-fashion-mnist")
        ways.append("or put the four IDX files (train-images-idx3-ubyte.gz, ...) in "
                    "$KZOO_DATA_DIR/" + name)
    looked = ", ".join(idx_directories(name)) if name in ("fashion_mnist", "mnist") else ""
    where = f" Looked in the tensorflow-datasets data dir{' and ' + looked if looked else ''}."
    return f"Dataset {name!r} was not found offline.{where} To get it: " + "; ".join(ways) + "."
