"""Mixup and CutMix: training batches mixed in pairs, their labels mixed alike.

Mixup (Zhang et al. 2018, arXiv:1710.09412) blends each image with another of
its batch, `λ·x_i + (1 − λ)·x_j`, λ ~ Beta(α, α); CutMix (Yun et al. 2019,
arXiv:1905.04899) pastes a box of image j covering a fraction 1 − λ of image i.
Either way the label becomes `λ·onehot(y_i) + (1 − λ)·onehot(y_j)`, so a
batch's labels are soft rows (B, classes), trained with the categorical
cross-entropy. With both on, each batch gets one of the two, CutMix with
probability `switch_probability` (timm's `Mixup(switch_prob=0.5)`).

Keras does the sampling and the pixels (`keras.layers.MixUp`,
`keras.layers.CutMix`); `CutMix` below only corrects the label weight to the
pasted area counted in pixels.
"""

import math
import numbers

import keras
import tensorflow as tf

from kzoo.api_export import kzoo_export

#: Probability of CutMix, not Mixup, for a batch when both are on (timm's default).
SWITCH_PROBABILITY = 0.5


@kzoo_export("kzoo.data.CutMix")
class CutMix(keras.layers.CutMix):
    """`keras.layers.CutMix` whose label weights are the pasted area in pixels.

    Keras weights image i's own label by `1 − box area / image area` with the
    box's real-valued sides, but pastes the whole pixels whose indices fall in
    the box: on a 28×28 image a box of sides 10.5 × 10.5 (14% of the area)
    can paste 10 × 10 or 11 × 11 pixels (13% or 15%). Here the weight is
    `1 − pasted pixels / pixels`, so labels and pixels agree exactly (timm's
    `correct_lam`). Everything else (the box's sampling from Beta(α, α) with
    α drawn from `factor`, the permutation, the pasting) is Keras's.

    Args:
        factor: as `keras.layers.CutMix`: α is drawn uniformly from
            `(0, factor)` or from the range `(low, high)` for each batch;
            `(α, α)` fixes it (the paper's α = 1: `factor=(1.0, 1.0)`).
        seed: seed of the random draws.

    Examples:
        >>> cutmix = kzoo.data.CutMix(factor=(1.0, 1.0), seed=0)
        >>> out = cutmix({"images": images, "labels": keras.ops.one_hot(labels, 10)})
        >>> out["labels"].shape  # soft labels, rows summing to 1
        (8, 10)
    """

    def get_random_transformation(self, data, training=True, seed=None):
        transformation = super().get_random_transformation(data, training=training, seed=seed)
        if transformation is None:
            return None
        pasted = self.backend.cast(transformation["batch_masks"], self.compute_dtype)
        transformation["mix_weight"] = 1.0 - self.backend.numpy.mean(pasted, axis=(1, 2, 3))
        return transformation


def check_mixing(mixup=0.0, cutmix=0.0, switch_probability=SWITCH_PROBABILITY):
    """Checks the mixing arguments; a bad one is a `ValueError` naming it.

    `mixup`: α of Mixup's Beta(α, α), a finite number ≥ 0 (0 = off);
    `cutmix`: α of CutMix's, in [0, 1] (Keras's `CutMix` takes α ≤ 1; 0 =
    off); `switch_probability` in [0, 1].
    """
    for name, value, high in (("mixup", mixup, math.inf), ("cutmix", cutmix, 1.0),
                              ("switch_probability", switch_probability, 1.0)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not (
                0 <= value <= high and value < math.inf):
            allowed = "a finite number >= 0" if high == math.inf else f"a number in [0, {high:g}]"
            raise ValueError(f"Argument `{name}` must be {allowed} (0 = off). "
                             f"Received: {name}={value!r}")


def batch_mixer(num_classes, *, mixup=0.0, cutmix=0.0,
                switch_probability=SWITCH_PROBABILITY, seed=None):
    """A function `(images, labels) -> (images, soft labels)` mixing one batch.

    Args:
        num_classes: the number of classes; integer labels (B,) become
            one-hot rows (B, num_classes) before mixing.
        mixup: α of Mixup (`keras.layers.MixUp(alpha=α)`, one λ per image);
            0 = off.
        cutmix: α of CutMix (`kzoo.data.CutMix(factor=(α, α))`, one λ per
            image), in [0, 1]; 0 = off.
        switch_probability: with both on, the probability that a batch gets
            CutMix rather than Mixup.
        seed: seed of every draw (the λs, the pairs, the boxes, the switch).

    Returns:
        A function of a batch, for `tf.data.Dataset.map`; with both off it
        only one-hots the labels.

    Examples:
        >>> mix = kzoo.data.mixing.batch_mixer(10, mixup=0.2, cutmix=1.0, seed=0)
        >>> dataset = dataset.map(mix)  # batches of (images, labels (B,))
    """
    check_mixing(mixup, cutmix, switch_probability)
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f"Argument `num_classes` must be a positive int. "
                         f"Received: num_classes={num_classes!r}")
    mixers = []
    if mixup:
        mixers.append(keras.layers.MixUp(alpha=float(mixup), seed=seed))
    if cutmix:
        mixers.append(CutMix(factor=(float(cutmix), float(cutmix)), seed=seed))
    switch = keras.random.SeedGenerator(seed)

    def mix(images, labels):
        labels = tf.one_hot(tf.cast(labels, tf.int64), num_classes, dtype=tf.float32)
        if not mixers:
            return images, labels

        def apply(layer):
            # A fresh dict: Keras's preprocessing layers write their outputs into it.
            out = layer({"images": images, "labels": labels}, training=True)
            return tf.cast(out["images"], images.dtype), tf.cast(out["labels"], tf.float32)

        if len(mixers) == 1:
            return apply(mixers[0])
        use_cutmix = keras.random.uniform((), seed=switch) < switch_probability
        return tf.cond(use_cutmix, lambda: apply(mixers[1]), lambda: apply(mixers[0]))

    return mix
