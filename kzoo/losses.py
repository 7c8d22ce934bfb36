"""Losses: sparse categorical cross-entropy with label smoothing.

Keras's `SparseCategoricalCrossentropy` has no `label_smoothing` (its
`CategoricalCrossentropy` has, for one-hot labels); the zoo's datasets give
integer labels. `SparseCategoricalCrossentropy(label_smoothing=ε)` one-hots
them inside the loss and hands them to Keras's `CategoricalCrossentropy`, so
the smoothing is Keras's own: the target is `(1 − ε)·onehot + ε / K`.
"""

import numbers

import keras
from keras import ops

from kzoo.api_export import kzoo_export

__all__ = ["SparseCategoricalCrossentropy"]


@kzoo_export("kzoo.losses.SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, with label smoothing.

    `loss = −Σₖ tₖ · log pₖ` with `t = (1 − label_smoothing) · onehot(y) +
    label_smoothing / K` over the K classes of `y_pred` (Szegedy et al. 2016,
    §7). With `label_smoothing=0` it equals
    `keras.losses.SparseCategoricalCrossentropy`.

    Args:
        label_smoothing: ε in [0, 1). Defaults to 0.1.
        from_logits: whether `y_pred` are logits. Defaults to `False`.
        reduction: as for every Keras loss. Defaults to
            `"sum_over_batch_size"`.
        name: as for every Keras loss. Defaults to
            `"sparse_categorical_crossentropy"`.

    Examples:
        >>> model.compile(optimizer="adam", metrics=["accuracy"],
        ...               loss=kzoo.losses.SparseCategoricalCrossentropy(label_smoothing=0.1))
    """

    def __init__(self, label_smoothing=0.1, from_logits=False,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy"):
        super().__init__(reduction=reduction, name=name)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
                or not 0 <= label_smoothing < 1:
            raise ValueError(f"Argument `label_smoothing` must be a number in [0, 1). "
                             f"Received: label_smoothing={label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)
        self._categorical = keras.losses.CategoricalCrossentropy(
            from_logits=self.from_logits, label_smoothing=self.label_smoothing,
            reduction=None)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        onehot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return self._categorical(onehot, y_pred)

    def get_config(self):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits,
                "reduction": self.reduction, "name": self.name}
