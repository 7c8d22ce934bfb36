"""Datasets as `tf.data` pipelines (`kzoo.data.load`) with offline fallbacks.

`load`, `load_arrays` and `info` take a catalog name (`list_datasets()`) or
the path of a folder of images with one subfolder per class
(`kzoo.data.folders`), and the subsets `classes` and `labels_per_class`
(`kzoo.data.subsets`); `mixup` and `cutmix` mix the training batches
(`kzoo.data.mixing`).
"""

from kzoo.data.catalog import DATASETS
from kzoo.data.mixing import CutMix
from kzoo.data.pipeline import channel_statistics, from_arrays, info, load
from kzoo.data.sources import DatasetNotFoundError, load_arrays, read_idx


def list_datasets():
    """Names `kzoo.data.load` accepts."""
    return sorted(DATASETS)


__all__ = [
    "CutMix",
    "DatasetNotFoundError",
    "channel_statistics",
    "from_arrays",
    "info",
    "list_datasets",
    "load",
    "load_arrays",
    "read_idx",
]
