"""Evaluation on a test split: accuracy, loss, per-class accuracy, confusion counts."""

import os

import keras
import numpy as np
import tensorflow as tf

from kzoo import distribute
from kzoo.data import catalog, pipeline, sources
from kzoo.models import pretrained
from kzoo.training import reports
from kzoo.utils import keras_files


def test_metrics(labels, probabilities, class_names):
    """Metrics of predicted `probabilities` (N, classes) against integer `labels` (N,)."""
    labels = np.asarray(labels)
    predictions = probabilities.argmax(axis=-1)
    counts = reports.confusion_matrix(labels, predictions, len(class_names))
    loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return {
        "test_accuracy": float((predictions == labels).mean()),
        "test_loss": float(np.mean(keras.ops.convert_to_numpy(loss))),
        "per_class_accuracy": {
            name: float(counts[i, i] / max(counts[i].sum(), 1))
            for i, name in enumerate(class_names)
        },
        "examples": int(len(labels)),
    }, counts


def predict_probabilities(model, images, batch_size=512, *, tta=False):
    """`model`'s class probabilities on NumPy `images` (N, H, W, C), raw pixels in.

    Args:
        model: a classifier taking raw pixels and returning probabilities.
        images: the images, channels last.
        batch_size: images per predicted batch.
        tta: test-time augmentation: the mean of the probabilities of each
            image and of its horizontal flip (`images[:, :, ::-1]`).

    Returns:
        A float array (N, classes).

    Examples:
        >>> probabilities = kzoo.training.evaluate.predict_probabilities(model, images, tta=True)
    """
    if not isinstance(tta, bool):
        raise ValueError(f"Argument `tta` must be True or False. Received: tta={tta!r}")
    images = np.asarray(images)
    if tta and images.ndim != 4:
        raise ValueError(f"Argument `tta` flips images (N, height, width, channels) "
                         f"horizontally. Received: images of shape {images.shape}")

    def predict(x):
        if isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Each worker on its own (the chief alone may evaluate): a plain call of the
            # model, which needs no collectives, rather than Keras's distributed predict.
            return distribute.predict_probabilities(model, x, batch_size)
        ds = pipeline.from_arrays(x, np.zeros(len(x), "int64"), batch_size, normalize=None)
        return model.predict(ds, verbose=0)

    probabilities = predict(images)
    if tta:
        probabilities = (probabilities + predict(np.ascontiguousarray(images[:, :, ::-1]))) / 2
    return probabilities


def evaluate_model(model, images, labels, class_names, batch_size=512, *, tta=False):
    """`test_metrics` of `model` (raw pixels in) on arrays; also returns the confusion counts.

    With `tta=True` the metrics are those of the mean of the probabilities
    of each image and of its horizontal flip (`predict_probabilities`).
    """
    return test_metrics(labels, predict_probabilities(model, images, batch_size, tta=tta),
                        class_names)


def load_model_file(path):
    """A `.keras` model file; one Keras cannot load is a `ValueError` naming it.

    `kzoo.utils.keras_files.load_model_file`, with the file called `model_file`.
    """
    return keras_files.load_model_file(path, argument="model_file")


def evaluate_model_file(model_file, dataset, batch_size=512, *, tta=False):
    """Test accuracy and loss of a `.keras` model file (raw pixels in) on `dataset`.

    A shipped zoo checkpoint is checked against its sha256 first. With
    `tta=True`, of the mean of the probabilities of each image and of its
    horizontal flip.

    Returns:
        `{"accuracy", "loss", "examples"}`.
    """
    spec = catalog.get_spec(dataset)
    if not isinstance(model_file, (str, os.PathLike)):
        raise ValueError(f"Argument `model_file` must be the path of a .keras file. "
                         f"Received: model_file={model_file!r}")
    entry = pretrained.entry_for_file(model_file)
    if entry is not None:
        pretrained.verify(model_file, entry)
    model = load_model_file(model_file)
    expected = tuple(model.input_shape[1:])
    if expected != tuple(spec.shape) or model.output_shape[-1] != spec.num_classes:
        raise ValueError(
            f"Model {model_file!r} takes {expected} images with {model.output_shape[-1]} "
            f"classes; dataset {dataset!r} has {tuple(spec.shape)} images with "
            f"{spec.num_classes} classes. Received: dataset={dataset!r}"
        )
    images, labels, _ = sources.load_arrays(dataset, "test")
    metrics, _ = evaluate_model(model, images, labels, spec.class_names, batch_size, tta=tta)
    return {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"],
            "examples": metrics["examples"]}
