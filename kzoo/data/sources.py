"""Where the images come from, tried in order, as NumPy arrays (uint8 images).

1. tensorflow-datasets, if the dataset is prepared in its data dir;
2. IDX files (MNIST family) in `$KZOO_DATA_DIR`, `$KZOO_DATA_DIR/<name>`,
   Debian's package folder (`/usr/share/datasets/fashion-mnist`) or Keras's
   cache (`~/.keras/datasets/<name>`), gzipped or not;
3. scikit-learn's 8×8 digits, inside its wheel;
4. tensorflow-datasets' download, when `download=True` and the machine is online.

Anything else is a `DatasetNotFoundError` that says how to get the data.
"""

import gzip
import os

import numpy as np

from kzoo.data.catalog import IDX_FILES, get_spec


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is in none of the places kzoo looks, and cannot be downloaded."""


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
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
            return images[..., None], labels.astype("int64"), f"idx:{directory}"
    return None


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


def load_arrays(name, split="train", *, data_dir=None, download=False):
    """Loads a split as NumPy arrays from the first source that has it.

    Args:
        name: dataset name (`kzoo.data.list_datasets()`).
        split: `"train"` or `"test"`.
        data_dir: tensorflow-datasets data dir (default: its own).
        download: allow tensorflow-datasets to download when nothing local has it.

    Returns:
        `(images, labels, source)`: uint8 images (N, H, W, C), int64 labels and
        a string naming where they came from.

    Raises:
        ValueError: unknown dataset or split.
        DatasetNotFoundError: nowhere to be found; the message says how to get it.
    """
    spec = get_spec(name, argument="name")
    if split not in spec.splits:
        raise ValueError(
            f"Unknown split: argument `split` of dataset {name!r} must be one of "
            f"{sorted(spec.splits)}. Received: split={split!r}"
        )
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
