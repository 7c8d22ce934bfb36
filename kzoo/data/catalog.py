"""What kzoo knows about each dataset: shape, classes, where its files live."""

import dataclasses

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

#: IDX file names of the MNIST family, per split.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset kzoo can load.

    Attributes:
        name: kzoo's name (also the tensorflow-datasets name where one exists).
        shape: image shape (H, W, C).
        class_names: one name per label.
        splits: split name -> number of examples.
        tfds_name: tensorflow-datasets name, or None.
        idx_dirs: folders (besides `$KZOO_DATA_DIR`) that may hold IDX files.
        sklearn: whether scikit-learn ships it.
    """

    name: str
    shape: tuple
    class_names: tuple
    splits: dict
    tfds_name: str = None
    idx_dirs: tuple = ()
    sklearn: bool = False

    @property
    def num_classes(self):
        return len(self.class_names)


DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "fashion_mnist", (28, 28, 1), FASHION_MNIST_CLASSES,
            {"train": 60000, "test": 10000}, tfds_name="fashion_mnist",
            idx_dirs=("/usr/share/datasets/fashion-mnist", "~/.keras/datasets/fashion-mnist"),
        ),
        DatasetSpec(
            "mnist", (28, 28, 1), DIGIT_CLASSES, {"train": 60000, "test": 10000},
            tfds_name="mnist",
            idx_dirs=("/usr/share/datasets/mnist", "~/.keras/datasets/mnist"),
        ),
        DatasetSpec(
            "digits", (8, 8, 1), DIGIT_CLASSES, {"train": 1438, "test": 359}, sklearn=True,
        ),
        DatasetSpec(
            "cifar10", (32, 32, 3), CIFAR10_CLASSES, {"train": 50000, "test": 10000},
            tfds_name="cifar10",
        ),
    )
}


def get_spec(name, argument="dataset"):
    """The `DatasetSpec` of `name`; an unknown name is a `ValueError` listing the known.

    `argument` is the caller's name for the value, used in the message.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(
            f"Unknown dataset: argument `{argument}` must be one of {sorted(DATASETS)}. "
            f"Received: {argument}={name!r}"
        )
    return DATASETS[name]
