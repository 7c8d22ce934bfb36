"""Class activation maps: where in an image a classifier finds a class.

Two methods, chosen from the model's head (`cam_method(model)` tells which):

- `"cam"` (Zhou et al. 2016), exact, when the class scores are one affine
  layer (`keras.layers.Dense` or `kzoo.layers.Affine`) on the global average
  of the last feature map `f` (dropout in between is allowed: it is the
  identity at inference). The map of class `c` is
  `M_c(x, y) = Σ_k W[k, c] · f_k(x, y)`, `W` the affine kernel. The bias is
  not part of it (as in the paper); `M_c` averaged over (x, y), plus the
  bias, is the class score.
- `"grad-cam"` (Selvaraju et al. 2017) for every other convolutional model
  (LeNet's flatten + affine layers, VGG, a head with a hidden layer):
  `α_k = mean over (x, y) of ∂y_c/∂A_k(x, y)` and `M_c = ReLU(Σ_k α_k A_k)`,
  `A` the last 4-D feature map before the head (for a top of 1×1
  convolutions on a `keepdims` global average, as MobileNetV3's, the map
  that pooling averages) and `y_c` the class score before the softmax.
  For a global-average + affine head Grad-CAM is `ReLU(CAM) / (h·w)`,
  since there `∂y_c/∂A_k(x, y) = W[k, c] / (h·w)`.

The class score `y_c` is the output of the model's last weighted layer
without its activation (a softmax layer or activation after it is skipped
too); the model itself is never changed.

References:
    - [Zhou et al., Learning Deep Features for Discriminative Localization,
      CVPR 2016](https://arxiv.org/abs/1512.04150)
    - [Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via
      Gradient-based Localization, ICCV 2017](https://arxiv.org/abs/1610.02391)
"""

import collections
import numbers

import keras
import numpy as np
import tensorflow as tf

from kzoo import layers as kl
from kzoo.transfer.heads import pooled_top_input

__all__ = ["cam_method", "class_activation_map", "METHODS"]

#: Values of `class_activation_map(..., method=)`.
METHODS = ("auto", "cam", "grad-cam")

# After the class scores: layers that only turn them into probabilities.
_OUTPUT_ACTIVATIONS = (keras.layers.Activation, keras.layers.Softmax)
# Between the global average and the affine layer: identities at inference.
_INFERENCE_IDENTITIES = (keras.layers.Dropout, keras.layers.AlphaDropout,
                         keras.layers.GaussianDropout, keras.layers.GaussianNoise,
                         keras.layers.Identity)
_AFFINE = (keras.layers.Dense, kl.Affine)

# features: the 4-D feature map (symbolic); scores_input: the tensor the class
# scores are computed from (the last weighted layer's input when its
# activation has to be left out, else the scores themselves); score_layer:
# that layer, or None; cam_layer: the affine layer of a CAM head, or None.
_Head = collections.namedtuple("_Head", "features scores_input score_layer cam_layer")


def _producer(tensor):
    """The layer that made the symbolic `tensor`, and that call's input tensors."""
    layer, node_index, _ = tensor._keras_history
    node = layer._inbound_nodes[node_index]
    return layer, list(node.input_tensors)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError("Argument `model` must be a keras.Model (a kzoo model or a loaded "
                         f".keras file). Received: model={model!r}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError("Argument `model` must be a functional keras.Model (built with "
                         "keras.Input), so that its feature maps can be reached. Received: "
                         f"model={model.name!r} ({type(model).__name__})")
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ValueError("Argument `model` must take one image input (batch, height, width, "
                         f"channels). Received: model={model.name!r} with input shapes "
                         f"{[tuple(x.shape) for x in inputs]}")
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ValueError("Argument `model` must have one output of class scores or "
                         "probabilities (batch, classes). Received: "
                         f"model={model.name!r} with output shapes "
                         f"{[tuple(x.shape) for x in outputs]}")


def _is_linear(activation):
    return activation is None or activation is keras.activations.linear


def _has_convolution(model, tensor):
    """Whether a layer with a 4-D kernel (a convolution) lies between the input and `tensor`."""
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or any(t is x for x in model.inputs):
            continue
        seen.add(id(t))
        layer, inputs = _producer(t)
        if any(len(w.shape) == 4 for w in layer.weights):
            return True
        stack.extend(inputs)
    return False


def _last_feature_map(model, scores):
    """Walking back from the class scores: the first tensor of rank 4."""
    tensor, passed = scores, []
    while len(tensor.shape) != 4:
        layer, inputs = _producer(tensor)
        if len(inputs) != 1:
            raise ValueError(
                f"Argument `model`: cannot find the last feature map of {model.name!r}: "
                f"walking back from its class scores ({passed or 'nothing'}) met layer "
                f"{layer.name!r} ({type(layer).__name__}), which takes {len(inputs)} inputs, "
                f"before any 4-D feature map. Received: model={model.name!r}")
        passed.append(layer.name)
        tensor = inputs[0]
    # MobileNetV3's top (1×1 convolutions on a keepdims global average): its (1, 1)
    # logits are not the last feature map; the pooling's input is.
    tensor = pooled_top_input(tensor)
    if not _has_convolution(model, tensor):
        raise ValueError(
            f"Argument `model` has no convolutional feature map: the last 4-D tensor before "
            f"its head ({passed}) is not computed by any convolution (a class activation map "
            f"needs one). Received: model={model.name!r}")
    return tensor


def _cam_features(layer, inputs):
    """The feature map of a global-average + affine head ending in `layer`, else None."""
    if not isinstance(layer, _AFFINE) or len(inputs) != 1 or len(layer.kernel.shape) != 2:
        return None
    pooled_layer, pooled_inputs = _producer(inputs[0])
    while isinstance(pooled_layer, _INFERENCE_IDENTITIES) and len(pooled_inputs) == 1:
        pooled_layer, pooled_inputs = _producer(pooled_inputs[0])
    if (isinstance(pooled_layer, keras.layers.GlobalAveragePooling2D)
            and pooled_layer.data_format == "channels_last" and not pooled_layer.keepdims
            and len(pooled_inputs) == 1):
        return pooled_inputs[0]
    return None


def _analyse(model):
    _check_model(model)
    scores = model.outputs[0]
    layer, inputs = _producer(scores)
    while isinstance(layer, _OUTPUT_ACTIVATIONS) and len(inputs) == 1:
        scores = inputs[0]
        layer, inputs = _producer(scores)
    strip = (not isinstance(layer, keras.Model) and len(inputs) == 1
             and not _is_linear(getattr(layer, "activation", None)))
    scores_input, score_layer = (inputs[0], layer) if strip else (scores, None)
    features = _cam_features(layer, inputs)
    if features is not None:
        if not _has_convolution(model, features):
            raise ValueError(
                f"Argument `model` has no convolutional feature map: the global average "
                f"pooling of {model.name!r} averages a tensor no convolution computes. "
                f"Received: model={model.name!r}")
        return _Head(features, scores_input, score_layer, layer)
    return _Head(_last_feature_map(model, scores), scores_input, score_layer, None)


def cam_method(model) -> str:
    """The method `class_activation_map(model, ...)` uses: `"cam"` or `"grad-cam"`.

    `"cam"` when the class scores are one `Dense`/`kzoo.layers.Affine` layer
    on a `GlobalAveragePooling2D` of the last feature map (dropout between
    allowed), `"grad-cam"` for any other convolutional model.

    Raises:
        ValueError: `model` is not a functional image classifier, or has no
            convolutional 4-D feature map.

    Examples:
        >>> kzoo.transfer.cam_method(kzoo.create_model("resnet20", input_shape=(32, 32, 3)))
        'cam'
        >>> kzoo.transfer.cam_method(kzoo.create_model("lenet"))
        'grad-cam'
    """
    return "cam" if _analyse(model).cam_layer is not None else "grad-cam"


def _linear_scores(head):
    """A function of `head.scores_input` → class scores without the final activation."""
    layer = head.score_layer
    if layer is None:
        return lambda z: z
    # A copy of the layer without its activation, sharing nothing with the model.
    linear = type(layer).from_config({**layer.get_config(), "activation": None})
    linear.build(tuple(head.scores_input.shape))
    linear.set_weights(layer.get_weights())
    return linear


def _check_images(model, images):
    try:
        images = np.asarray(images, dtype="float32")
    except (TypeError, ValueError):
        raise ValueError("Argument `images` must be a batch of images (N, height, width, "
                         f"channels) of numbers. Received: images={type(images).__name__}"
                         ) from None
    expected = tuple(model.input_shape[1:])
    if (images.ndim != 4 or images.shape[0] == 0
            or any(e is not None and e != s for e, s in zip(expected, images.shape[1:]))):
        hint = " (one image: pass images[None])" if images.ndim == 3 else ""
        raise ValueError(f"Argument `images` must be a non-empty batch (N, *{expected}) of "
                         f"what `model` takes{hint}. Received: images of shape "
                         f"{images.shape}")
    bad = images.size - int(np.count_nonzero(np.isfinite(images)))
    if bad:
        raise ValueError(f"Argument `images` must be finite numbers (a NaN or infinite pixel "
                         f"makes the whole map NaN). Received: {bad:,} NaN or infinite values "
                         f"in images of shape {images.shape}")
    return images


def _check_class_index(class_index, n, classes):
    if class_index is None:
        return None
    if isinstance(class_index, numbers.Integral) and not isinstance(class_index, bool):
        indices = np.full(n, int(class_index))
    else:
        try:
            indices = np.asarray(class_index)
        except (TypeError, ValueError):
            indices = np.asarray(None)
        if (indices.ndim != 1 or len(indices) != n
                or not np.issubdtype(indices.dtype, np.integer)):
            raise ValueError(f"Argument `class_index` must be None (each image's top-1 class), "
                             f"an int or a sequence of {n} ints (one per image). Received: "
                             f"class_index={class_index!r}")
    if indices.min() < 0 or indices.max() >= classes:
        raise ValueError(f"Argument `class_index` must be in [0, {classes}) (the model has "
                         f"{classes} classes). Received: class_index={class_index!r}")
    return indices.astype("int64")


def _maps_cam(features_and_scores, scores_of, kernel, x, index):
    f, z = features_and_scores(x, training=False)
    f = tf.cast(f, "float32")
    if index is None:
        index = np.argmax(keras.ops.convert_to_numpy(scores_of(z)), axis=-1)
    weights = tf.gather(kernel, index, axis=1)  # (K, n)
    return tf.einsum("nhwk,kn->nhw", f, weights)


def _maps_grad_cam(features_and_scores, scores_of, x, index):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)  # records the graph even when every weight is frozen
        f, z = features_and_scores(x, training=False)
        scores = tf.cast(scores_of(z), "float32")
        if index is None:
            index = tf.argmax(scores, axis=-1)
        # Images are independent at inference: one sum gives each image's gradient.
        score = tf.reduce_sum(tf.gather(scores, index, axis=1, batch_dims=1))
    grads = tf.cast(tape.gradient(score, f), "float32")  # (n, h, w, K)
    alpha = tf.reduce_mean(grads, axis=(1, 2))  # (n, K)
    return tf.nn.relu(tf.einsum("nhwk,nk->nhw", tf.cast(f, "float32"), alpha))


def class_activation_map(model, images, class_index=None, *, method="auto", normalize=False,
                         upsample=False, batch_size=32):
    """Class activation maps of `images`: where `model` sees class `class_index`.

    The method is exact CAM for a global-average + affine head, else Grad-CAM
    (see `kzoo.transfer.cam_method` and the module docstring for the
    formulas). The maps are at the resolution of the last convolutional
    feature map (7×7 for ResNet-20 on 28×28 images, 4×4 for LeNet), unless
    `upsample=True`.

    Args:
        model: a functional `keras.Model` with one image input and one
            output of class scores or probabilities (any kzoo classifier, or
            a `.keras` file loaded with `keras.saving.load_model`).
        images: a batch `(N, height, width, channels)` of what `model` takes
            (raw pixels 0–255 for kzoo models and checkpoints).
        class_index: `None` (each image's top-1 predicted class), an int (the
            same class for every image) or a sequence of N ints.
        method: `"auto"` (the default), `"cam"` (only for a global-average +
            affine head) or `"grad-cam"` (any convolutional model).
        normalize: `False` (the default) returns the raw maps: CAM exactly
            `Σ_k W[k, c] · f_k(x, y)` (it can be negative; no bias), Grad-CAM
            `ReLU(Σ_k α_k A_k(x, y))`. `True` clips each map at 0 and divides
            it by its maximum, giving values in [0, 1] (an all-zero map stays
            zero).
        upsample: resize the maps bilinearly to the images' height × width
            (before `normalize`).
        batch_size: images per forward (and backward) pass.

    Returns:
        A float32 NumPy array `(N, h, w)`.

    Raises:
        ValueError: `model` is not a functional image classifier or has no
            convolutional 4-D feature map; `images` is not a batch of the
            model's input shape, or holds NaN or infinite values;
            `class_index` is not a class of the model;
            `method="cam"` for a model whose head is not global average +
            affine.

    Examples:
        >>> model = kzoo.create_model("resnet20", weights="fashion_mnist")
        >>> images, labels, _ = kzoo.data.load_arrays("fashion_mnist", "test")
        >>> heatmaps = kzoo.transfer.class_activation_map(model, images[:8])
        >>> heatmaps.shape
        (8, 7, 7)
    """
    if method not in METHODS:
        raise ValueError(f"Argument `method` must be one of {METHODS}. Received: "
                         f"method={method!r}")
    for name, value in (("normalize", normalize), ("upsample", upsample)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"Argument `{name}` must be True or False. Received: "
                             f"{name}={value!r}")
    if not (isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool)
            and batch_size > 0):
        raise ValueError(f"Argument `batch_size` must be a positive int. Received: "
                         f"batch_size={batch_size!r}")
    head = _analyse(model)
    if method == "cam" and head.cam_layer is None:
        raise ValueError(f"Argument `method`: 'cam' needs a head of global average pooling + "
                         f"one Dense/Affine layer; {model.name!r} has another head (use "
                         f"'grad-cam' or 'auto'). Received: method='cam'")
    use_cam = head.cam_layer is not None and method != "grad-cam"
    images = _check_images(model, images)
    classes = int(model.outputs[0].shape[-1])
    indices = _check_class_index(class_index, len(images), classes)

    features_and_scores = keras.Model(model.inputs[0], [head.features, head.scores_input])
    scores_of = _linear_scores(head)
    kernel = (tf.cast(keras.ops.convert_to_tensor(head.cam_layer.kernel), "float32")
              if use_cam else None)
    maps = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        index = None if indices is None else indices[start:start + batch_size]
        maps.append(_maps_cam(features_and_scores, scores_of, kernel, x, index) if use_cam
                    else _maps_grad_cam(features_and_scores, scores_of, x, index))
    maps = tf.concat(maps, axis=0)
    if upsample:
        maps = tf.image.resize(maps[..., None], images.shape[1:3], method="bilinear")[..., 0]
    if normalize:
        maps = tf.nn.relu(maps)
        peak = tf.reduce_max(maps, axis=(1, 2), keepdims=True)
        maps = tf.math.divide_no_nan(maps, peak)
    return np.asarray(maps, dtype="float32")
