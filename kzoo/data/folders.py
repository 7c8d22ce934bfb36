"""Folders of images with one subfolder per class, read into memory with Keras.

Two layouts are understood:

- `root/<class>/...`: one split, `"train"`, from which a fixed seeded fraction
  (`validation_split`, default 0.2) is held out as `"validation"`;
- `root/train/<class>/...` and `root/test/<class>/...` (and optionally
  `root/validation/<class>/...`): the splits are those folders; a fraction of
  `train/` is held out as `"validation"` only if `validation_split` is given
  and there is no `validation/` folder.

Class names are the class subfolders, sorted (label i is the i-th name); every
split folder must have the same ones. Images are the files Keras reads
(`.bmp .gif .jpeg .jpg .png`, case-insensitive, in the class subfolder and
its subfolders); files PIL cannot fully decode, or whose data TensorFlow does
not decode (e.g. TIFF named `.png`), are skipped with a warning that counts
them and names the first. `keras.utils.image_dataset_from_directory` would
crash on them at iteration time with an error that names no file, so it reads
a temporary folder of links to the readable files only.

The images come out uint8, `(N, H, W, C)`, sorted by label and then by file
path, whatever TensorFlow's random state: Keras's own per-element shuffle is
undone by reading the chosen split's files a second time, unshuffled.
"""

import contextlib
import dataclasses
import io
import os
import shutil
import tempfile
import warnings

import numpy as np

from kzoo.data.catalog import DATASETS

#: What keras.utils.image_dataset_from_directory reads (its ALLOWLIST_FORMATS).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: PIL format names of data TensorFlow's `decode_image` decodes (MPO: a camera JPEG).
DECODABLE_FORMATS = ("BMP", "GIF", "JPEG", "MPO", "PNG", "WEBP")
#: PIL modes read as one channel when `channels=None`.
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: Seed of the held-out validation split: fixed, so "train" and "validation"
#: are disjoint whatever seed a caller passes for shuffling or subsets.
SPLIT_SEED = 0
DEFAULT_VALIDATION_SPLIT = 0.2
SPLIT_FOLDERS = ("train", "validation", "test")


def is_folder(name):
    """Whether `name` means an image folder: not a catalog name, and an existing directory."""
    if isinstance(name, str) and name in DATASETS:
        return False
    return isinstance(name, (str, os.PathLike)) and os.path.isdir(name)


def check_name(name, argument="name"):
    """`"dataset"` for a catalog name, `"folder"` for an existing directory, else a `ValueError`."""
    if isinstance(name, str) and name in DATASETS:
        return "dataset"
    if is_folder(name):
        return "folder"
    shown = os.fspath(name) if isinstance(name, os.PathLike) else name
    hint = ""
    if isinstance(shown, str) and os.path.exists(shown):
        hint = f" ({shown!r} is a file, not a folder)"
    raise ValueError(
        f"Unknown dataset: argument `{argument}` must be one of {sorted(DATASETS)}, or the path "
        f"of an existing folder of images with one subfolder per class{hint}. "
        f"Received: {argument}={shown!r}"
    )


@dataclasses.dataclass(frozen=True)
class Folder:
    """A scanned image folder.

    Attributes:
        root: absolute path of the folder.
        class_names: sorted class subfolder names.
        dirs: split folder name -> absolute path (`{"train": root}` for one split).
        files: split folder name -> `[(path relative to that folder, label)]` of
            the readable images, in Keras's order (by class, then path).
        skipped: `[(path, reason)]` of the image files that cannot be read.
    """

    root: str
    class_names: tuple
    dirs: dict
    files: dict
    skipped: tuple

    @property
    def first_image(self):
        """The first readable training image: it sets `channels` and `image_size` by default."""
        return os.path.join(self.dirs["train"], self.files["train"][0][0])

    def splits(self, validation_split=None):
        """The split names `load` accepts, and the held-out fraction of train in effect."""
        names = [s for s in SPLIT_FOLDERS if s in self.dirs]
        fraction = _fraction(self, validation_split)
        if fraction and "validation" not in names:
            names.insert(1, "validation")
        return names, fraction


def _subfolders(directory):
    """Non-hidden subfolders, sorted, as Keras lists classes."""
    return sorted(d for d in os.listdir(directory)
                  if not d.startswith(".") and os.path.isdir(os.path.join(directory, d)))


def _image_files(class_dir):
    """Paths relative to `class_dir`'s parent, in the order Keras walks them."""
    parent = os.path.dirname(class_dir)
    for dirpath, _, names in sorted(os.walk(class_dir), key=lambda item: item[0]):
        for name in sorted(names):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                yield os.path.relpath(os.path.join(dirpath, name), parent)


def unreadable(path):
    """Why the image file cannot be read (a short string), or None if it can."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()  # the structure and checksums
        with Image.open(path) as image:
            image.load()  # the pixel data: verify() passes truncated JPEGs, broken PNG streams
            image_format = image.format
    except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
        return f"{type(e).__name__}: {e}"
    if image_format not in DECODABLE_FORMATS:
        return f"{image_format} data, which TensorFlow does not decode"
    return None


def _argument_error(argument, root, what):
    return ValueError(f"Argument `{argument}`: {what} Received: {argument}={root!r}")


def scan_folder(path, argument="name"):
    """Checks the layout and the files of an image folder; returns a `Folder`.

    Warns (`UserWarning`) about unreadable image files, which are skipped.

    Raises:
        ValueError: no class subfolders, one class only, no readable image
            (in a split or a training class), or split folders whose classes differ.
    """
    root = os.path.abspath(os.fspath(path))
    top = _subfolders(root)
    dirs = {"train": root}
    if "train" in top and _subfolders(os.path.join(root, "train")):
        held = {s: os.path.join(root, s) for s in ("validation", "test")
                if s in top and _subfolders(os.path.join(root, s))}
        if held:
            dirs = {"train": os.path.join(root, "train"), **held}
    classes = _subfolders(dirs["train"])
    where = "" if dirs["train"] == root else " train/"
    if not classes:
        raise _argument_error(argument, root, (
            f"the folder{where} has no class subfolders (expected one subfolder of images "
            f"per class, or train/ and test/ folders that each have them)."))
    if len(classes) < 2:
        raise _argument_error(argument, root, (
            f"the folder{where} has one class subfolder only ({classes[0]!r}); a classification "
            f"dataset needs at least two (pass the folder that holds the class folders)."))
    files, skipped = {}, []
    for split, directory in dirs.items():
        own = _subfolders(directory)
        if own != classes:
            raise _argument_error(argument, root, (
                f"{split}/ has the class folders {own}, train/ has {classes}: every split "
                f"folder must have the same class subfolders."))
        found, candidates, empty = [], 0, []
        for label, name in enumerate(classes):
            before = len(found)
            for relative in _image_files(os.path.join(directory, name)):
                candidates += 1
                reason = unreadable(os.path.join(directory, relative))
                if reason is None:
                    found.append((relative, label))
                else:
                    skipped.append((os.path.join(directory, relative), reason))
            if len(found) == before:
                empty.append(name)
        if not found:
            what = "no image files" if not candidates else (
                f"no readable image ({candidates} unreadable, the first: {skipped[-candidates][0]} "
                f"({skipped[-candidates][1]}))")
            place = ("the class subfolders" if directory == root
                     else f"the class folders of {split}/")
            raise _argument_error(argument, root, (
                f"{place} hold {what}; Keras reads {', '.join(IMAGE_EXTENSIONS)} files."))
        if split == "train" and empty:
            raise _argument_error(argument, root, (
                f"the training class folder {empty[0]!r} has no readable image "
                f"({', '.join(IMAGE_EXTENSIONS)}); every class needs training images."))
        files[split] = found
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image file(s) in {root}; the first: "
            f"{skipped[0][0]} ({skipped[0][1]}).", UserWarning, stacklevel=2)
    return Folder(root, tuple(classes), dirs, files, tuple(skipped))


def _fraction(folder, validation_split, argument="validation_split"):
    """The fraction of train/ held out as "validation" (0.0 for none)."""
    if validation_split is not None and (
            isinstance(validation_split, bool)
            or not isinstance(validation_split, (int, float, np.floating, np.integer))
            or not 0 <= validation_split < 1):
        raise ValueError(f"Argument `{argument}` must be a fraction in [0, 1) (or None for the "
                         f"default). Received: {argument}={validation_split!r}")
    if "validation" in folder.dirs:
        if validation_split:
            raise ValueError(
                f"Argument `{argument}`: {folder.root} has a validation/ folder, which is the "
                f"validation split; do not also hold out part of train/. "
                f"Received: {argument}={validation_split!r}")
        return 0.0
    if validation_split is None:
        return DEFAULT_VALIDATION_SPLIT if len(folder.dirs) == 1 else 0.0
    return float(validation_split)


def _split_source(folder, split, validation_split):
    """`(folder key, Keras subset or None, fraction)` of a split name."""
    names, fraction = folder.splits(validation_split)
    if split not in names:
        layout = "train/ and test/ folders" if len(folder.dirs) > 1 else "class subfolders only"
        extra = ("" if fraction or "validation" in folder.dirs else
                 "; 'validation' needs validation_split > 0")
        raise ValueError(
            f"Unknown split: argument `split` of the image folder {folder.root} ({layout}) must be "
            f"one of {names}{extra}. Received: split={split!r}")
    if split == "validation" and "validation" not in folder.dirs:
        return "train", "validation", fraction
    if split == "train" and fraction:
        return "train", "training", fraction
    return split, None, fraction


def _link(source, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.symlink(source, target)
    except OSError:  # no symlinks here (e.g. Windows without the privilege)
        shutil.copyfile(source, target)


@contextlib.contextmanager
def _mirror(folder, key, files):
    """A temporary folder of links to `files` of split folder `key`, one subfolder per class."""
    with tempfile.TemporaryDirectory(prefix="kzoo-folder-") as tmp:
        for name in folder.class_names:
            os.makedirs(os.path.join(tmp, name))
        for relative, _ in files:
            _link(os.path.join(folder.dirs[key], relative), os.path.join(tmp, relative))
        yield tmp


def _keras_dataset(directory, class_names, **kwargs):
    import keras

    # Keras prints "Using N files for training." even with verbose=False.
    with contextlib.redirect_stdout(io.StringIO()):
        return keras.utils.image_dataset_from_directory(
            directory, labels="inferred", label_mode="int", class_names=list(class_names),
            interpolation="bilinear", data_format="channels_last", verbose=False, **kwargs)


def split_files(folder, split, validation_split=None):
    """`[(path relative to the split's folder, label)]` of a split, in Keras's order.

    A held-out split is Keras's `validation_split`/`subset` with seed
    `SPLIT_SEED` over the readable files of train/ (not stratified: in a small
    folder a class can be missing from "validation").
    """
    key, subset, fraction = _split_source(folder, split, validation_split)
    files = folder.files[key]
    if subset is None:
        return key, files
    n_held = int(fraction * len(files))  # Keras's arithmetic
    if n_held == 0:
        # Keras would hand "training" no file at all and then fail with "No images found".
        raise ValueError(
            f"Argument `validation_split`: {fraction} of the {len(files)} training images of "
            f"{folder.root} is no image; pass a larger fraction, or 0 for no validation split. "
            f"Received: validation_split={validation_split!r}")
    with _mirror(folder, key, files) as tmp:
        dataset = _keras_dataset(tmp, folder.class_names, image_size=(1, 1), batch_size=None,
                                 shuffle=True, seed=SPLIT_SEED, validation_split=fraction,
                                 subset=subset)
        chosen = {os.path.relpath(p, tmp) for p in dataset.file_paths}
    return key, [item for item in files if item[0] in chosen]


def check_channels_and_size(channels, image_size):
    """`image_size` as `(height, width)` or None; a `ValueError` for bad values."""
    if channels not in (None, 1, 3) or isinstance(channels, bool):
        raise ValueError(f"Argument `channels` must be None (from the images), 1 (grayscale) or "
                         f"3 (RGB). Received: channels={channels!r}")
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"Argument `image_size` must be None (the first image's size), a positive "
                         f"int or (height, width). Received: image_size={image_size!r}")
    return int(size[0]), int(size[1])


def image_format(folder, channels=None, image_size=None):
    """`(channels, (height, width))`: the given ones, or the first training image's."""
    from PIL import Image

    size = check_channels_and_size(channels, image_size)
    with Image.open(folder.first_image) as image:
        mode, (width, height) = image.mode, image.size
    if channels is None:
        channels = 1 if mode in GREY_MODES else 3
    return channels, size or (height, width)


def to_uint8_arrays(dataset):
    """`(images uint8 (N, H, W, C), labels int64 (N,))` of a batched `(image, label)` dataset.

    The images are rounded and clipped to 0–255 (`image_dataset_from_directory`
    yields float32 0–255, fractional only after resizing).
    """
    import tensorflow as tf

    images, labels = [], []
    try:
        for x, y in dataset:
            images.append(np.clip(np.round(x.numpy()), 0, 255).astype("uint8"))
            labels.append(y.numpy().astype("int64"))
    except tf.errors.InvalidArgumentError as e:
        reason = e.message.split("}}", 1)[-1].strip().splitlines()[0]
        raise ValueError(f"TensorFlow could not decode an image that PIL reads: {reason}") from None
    return np.concatenate(images), np.concatenate(labels)


def read_folder(path, split="train", *, channels=None, image_size=None, validation_split=None,
                folder=None, argument="name"):
    """Reads one split of an image folder into memory.

    Args:
        path: the folder (see the module docstring for the layouts).
        split: `"train"`, `"validation"` (held out of train/, or validation/)
            or `"test"` (with a test/ folder).
        channels: 1 or 3; None: 1 if the first training image is grayscale, else 3.
        image_size: `(height, width)` (or an int) to resize every image to
            (bilinear, aspect ratio not kept); None: the first training image's size.
        validation_split: fraction of train/ held out as "validation" (Keras's
            seeded `validation_split`, seed `SPLIT_SEED`); None: 0.2 for a
            folder of class subfolders, none with train/ and test/.
        folder: a `Folder` already scanned from `path`.

    Returns:
        `(images, labels, class_names, source)`: uint8 (N, H, W, C) sorted by
        label, then by file path; int64 labels; the sorted class names;
        `"folder:<absolute path>"`.
    """
    folder = folder or scan_folder(path, argument)
    channels, size = image_format(folder, channels, image_size)
    key, files = split_files(folder, split, validation_split)
    with _mirror(folder, key, files) as tmp:
        dataset = _keras_dataset(tmp, folder.class_names, image_size=size, batch_size=64,
                                 shuffle=False, color_mode="grayscale" if channels == 1 else "rgb")
        if [os.path.relpath(p, tmp) for p in dataset.file_paths] != [f for f, _ in files]:
            raise RuntimeError(f"Keras indexed other files than kzoo scanned in {folder.root}")
        images, labels = to_uint8_arrays(dataset)
    return images, labels, folder.class_names, f"folder:{folder.root}"


def folder_info(path, *, channels=None, image_size=None, validation_split=None, classes=None,
                folder=None, argument="name"):
    """`kzoo.data.info` of an image folder (split sizes after the skipped files).

    `classes`, already checked, keeps those classes, in that order.
    """
    folder = folder or scan_folder(path, argument)
    channels, size = image_format(folder, channels, image_size)
    names, _ = folder.splits(validation_split)
    kept = list(range(len(folder.class_names))) if classes is None else list(classes)
    splits = {}
    for split in names:
        _, files = split_files(folder, split, validation_split)
        counts = np.bincount([label for _, label in files], minlength=len(folder.class_names))
        splits[split] = int(counts[kept].sum())
    return {
        "name": folder.root,
        "num_classes": len(kept),
        "class_names": tuple(folder.class_names[i] for i in kept),
        "shape": (size[0], size[1], channels),
        "splits": splits,
    }
