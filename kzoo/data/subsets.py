"""Subsets of a split: some of the classes (`classes`), N labels of each (`labels_per_class`)."""

import numpy as np


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_classes(classes, num_classes, where):
    """`classes` as a tuple of ints (None stays None); a `ValueError` for bad indices.

    `where` names the dataset in the message.
    """
    if classes is None:
        return None
    values = list(classes) if isinstance(classes, (list, tuple, range, np.ndarray)) else None
    if (values is None or not values or not all(_is_int(c) for c in values)
            or not all(0 <= c < num_classes for c in values) or len(set(values)) != len(values)):
        raise ValueError(
            f"Argument `classes` must be a non-empty list of distinct class indices in "
            f"[0, {num_classes}) of {where} (e.g. [5, 6, 7, 8, 9]); they become the labels "
            f"0, 1, ... in that order. Received: classes={classes!r}")
    return tuple(int(c) for c in values)


def check_labels_per_class(labels_per_class, split):
    """A `ValueError` unless `labels_per_class` is None or a positive int, for the train split."""
    if labels_per_class is None:
        return
    if not _is_int(labels_per_class) or labels_per_class <= 0:
        raise ValueError(f"Argument `labels_per_class` must be None or a positive int. "
                         f"Received: labels_per_class={labels_per_class!r}")
    if split != "train":
        raise ValueError(
            f"Argument `labels_per_class` subsets the training split only (evaluate on the whole "
            f"{split!r} split). Received: labels_per_class={labels_per_class!r} with "
            f"split={split!r}")


def check_seed(seed):
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"Argument `seed` must be a non-negative int. Received: seed={seed!r}")


def select_classes(images, labels, classes):
    """The examples of `classes`, labels remapped to their positions in `classes`, order kept."""
    if classes is None:
        return images, labels
    lookup = np.full(max(max(classes), int(labels.max(initial=0))) + 1, -1, "int64")
    lookup[list(classes)] = np.arange(len(classes))
    mapped = lookup[labels]
    keep = mapped >= 0
    return images[keep], mapped[keep]


def per_class_subset(images, labels, labels_per_class, seed, class_names):
    """Exactly `labels_per_class` examples of each class, chosen with a seeded NumPy Generator.

    One permutation per class (class 0 first) picks the examples; a last
    permutation, from the same Generator, orders the result. `class_names`
    (one per label) name a class that has too few examples in the message.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=len(class_names))
    smallest = int(np.argmin(counts))
    if counts[smallest] < labels_per_class:
        raise ValueError(
            f"Argument `labels_per_class`: class {smallest} ({class_names[smallest]!r}) has only "
            f"{counts[smallest]} training examples, fewer than labels_per_class="
            f"{labels_per_class} (the smallest class sets the largest possible value). "
            f"Received: labels_per_class={labels_per_class!r}")
    rng = np.random.default_rng(seed)
    chosen = [np.flatnonzero(labels == c)[rng.permutation(counts[c])[:labels_per_class]]
              for c in range(len(class_names))]
    chosen = np.concatenate(chosen)
    chosen = chosen[rng.permutation(len(chosen))]
    return images[chosen], labels[chosen]
