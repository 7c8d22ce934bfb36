"""Helpers every kzoo builder shares: argument checks, input handling, the head.

The conventions are keras.applications': an `input_shape` checked against a
default and a minimum size (`obtain_input_shape`), an optional
`input_tensor`, and `include_top` / `pooling` for the head. Weight files are
`kzoo.models.weights`' job; the zoo's own checkpoints `kzoo.models.pretrained`'s.
"""

import math
import numbers
import textwrap

import keras
import numpy as np

from kzoo import layers as kl
from kzoo.models import weights as weight_files
from kzoo.models.weights import WEIGHT_SUFFIXES

POOLINGS = (None, "avg", "max")
CONV_IMPLEMENTATIONS = ("native", "im2col")


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def check_conv_impl(conv_impl):
    if conv_impl not in CONV_IMPLEMENTATIONS:
        raise ValueError(
            f"Argument `conv_impl` must be one of {list(CONV_IMPLEMENTATIONS)}. "
            f"Received: conv_impl={conv_impl!r}"
        )
    return conv_impl


def check_positive_number(value, name):
    """A positive int or float (a width multiplier such as MobileNet's `alpha`), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (
        value > 0 and math.isfinite(value)
    ):
        raise ValueError(
            f"Argument `{name}` must be a positive number. Received: {name}={value!r}"
        )
    return float(value)


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(
            f"Argument `pooling` must be one of {list(POOLINGS)}. Received: pooling={pooling!r}"
        )
    return pooling


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


def check_bool(value, name):
    """True or False (the argument `name`, for the message)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"Argument `{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_rate(value, name):
    """A dropout-style rate in [0, 1) (the argument `name`, for the message)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return value


def correct_pad(x, kernel_size):
    """((top, bottom), (left, right)) zero padding before a stride-2 "valid" convolution.

    keras.applications' `imagenet_utils.correct_pad`: one pixel less at the
    top and left of an even (or unknown) size, which is TensorFlow's "same"
    padding for stride 2.
    """
    height, width = x.shape[1], x.shape[2]
    adjust = (1, 1) if height is None else (1 - height % 2, 1 - width % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def grey_to_rgb(x):
    """[g] -> [g, g, g]: a 1-channel model with pretrained weights is the RGB model on grey."""
    return keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])


def as_shape_tuple(input_shape, model_name, rank=None):
    """`input_shape` as a tuple; anything but a list or tuple is a `ValueError`."""
    if not isinstance(input_shape, (tuple, list)):
        what = f"a tuple of {rank} positive ints" if rank else "a tuple of positive ints"
        raise ValueError(
            f"Argument `input_shape` of {model_name!r} must be {what}. "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


def resolve_input_shape(input_shape, *, default_shape, min_size, model_name,
                        require_flatten=False, weights=None, input_tensor=None):
    """The image input shape, checked as keras.applications' `obtain_input_shape` does.

    `None` gives `default_shape` (keeping a channel count taken from
    `input_tensor`). Spatial sizes below `min_size` raise; `None` spatial sizes
    are allowed unless the head flattens (`require_flatten`).
    """
    if input_tensor is not None and not hasattr(input_tensor, "shape"):
        raise ValueError(f"Argument `input_tensor` must be a tensor (e.g. keras.Input) or "
                         f"None. Received: input_tensor={input_tensor!r}")
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        return tuple(default_shape)
    input_shape = as_shape_tuple(input_shape, model_name, len(default_shape))
    if len(input_shape) != len(default_shape) or any(
        d is not None and (not isinstance(d, (int, np.integer)) or d <= 0) for d in input_shape
    ):
        raise ValueError(
            f"Argument `input_shape` of {model_name!r} must be a tuple of "
            f"{len(default_shape)} positive ints (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"The channel count of {model_name!r} must be known. "
            f"Received: input_shape={input_shape}"
        )
    spatial = input_shape[:-1]
    if require_flatten and any(d is None for d in spatial):
        raise ValueError(
            f"{model_name!r} with `include_top=True` flattens its features, so the input "
            f"height and width must be known. Received: input_shape={input_shape}"
        )
    if any(d is not None and d < min_size for d in spatial):
        raise ValueError(
            f"Argument `input_shape`: the input size of {model_name!r} must be at least "
            f"{min_size}x{min_size}. Received: input_shape={input_shape}"
        )
    if (
        weights is not None
        and require_flatten
        and not str(weights).endswith(WEIGHT_SUFFIXES)  # a named file set, not a path
        and spatial != tuple(default_shape[:-1])
    ):
        raise ValueError(
            f"Argument `input_shape`: when setting `include_top=True` and loading "
            f"{weights!r} weights, the input "
            f"height and width of {model_name!r} must be {tuple(default_shape[:-1])}. "
            f"Received: input_shape={input_shape}"
        )
    return tuple(int(d) if d is not None else None for d in input_shape)


def model_inputs(input_shape, input_tensor):
    """Returns `(image_input, model_inputs)` as keras.applications does.

    `image_input` is the tensor the network starts from; `model_inputs` are
    the source inputs of `input_tensor` when one is given.
    """
    if input_tensor is None:
        image = keras.Input(shape=input_shape)
        return image, image
    if keras.backend.is_keras_tensor(input_tensor):
        image = input_tensor
    else:
        image = keras.Input(tensor=input_tensor, shape=input_shape)
    return image, keras.utils.get_source_inputs(input_tensor)


def builder_inputs(model_name, *, conv_impl, pooling, include_top, classes, weights, presets,
                   input_shape, input_tensor, default_shape, min_size, require_flatten):
    """Checks the arguments every image builder shares and makes its input.

    The preamble of a keras.applications builder in one call: `conv_impl`,
    `pooling`, `include_top` / `classes` and `weights` (against `presets`,
    with `kzoo.models.weights.check_weights`) are checked, the input shape is
    resolved (`resolve_input_shape`; with presets, a flattening top must keep
    the presets' input size) and the input made (`model_inputs`).

    Args:
        model_name: the registry name, for messages.
        conv_impl, pooling, include_top, classes, weights, input_shape,
            input_tensor: the builder's arguments of those names.
        presets: dict of preset name -> `PretrainedWeights` (`{}` for none).
        default_shape: the input shape when `input_shape` is `None`.
        min_size: the smallest height and width the network takes.
        require_flatten: whether the spatial size must be known (a
            flattening head).

    Returns:
        `(weights, input_shape, image, inputs)`: the checked weights, the
        resolved shape, the tensor the network starts from and the model's
        inputs.

    Examples:
        >>> weights, shape, image, inputs = builder_inputs(
        ...     "demo", conv_impl="native", pooling=None, include_top=True, classes=10,
        ...     weights=None, presets={}, input_shape=None, input_tensor=None,
        ...     default_shape=(32, 32, 3), min_size=8, require_flatten=False)
        >>> shape, tuple(image.shape)
        ((32, 32, 3), (None, 32, 32, 3))
    """
    check_conv_impl(conv_impl)
    check_pooling(pooling)
    check_classes(classes, include_top)
    weights = weight_files.check_weights(weights, model_name=model_name, presets=presets,
                                         include_top=include_top, classes=classes)
    input_shape = resolve_input_shape(
        input_shape, default_shape=default_shape, min_size=min_size, model_name=model_name,
        require_flatten=require_flatten, weights=weights if presets else None,
        input_tensor=input_tensor,
    )
    image, inputs = model_inputs(input_shape, input_tensor)
    return weights, input_shape, image, inputs


# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


def global_pool(x, pooling, *, name=None):
    """`"avg"` / `"max"` global pooling or `None` (keep the feature map)."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name=name or "avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name=name or "max_pool")(x)
    return x


def pooled_classifier(x, *, include_top, pooling, classes, classifier_activation,
                      dropout=0.0):
    """Global average pooling + `predictions` (the ResNet/Inception head), or `pooling`.

    Args:
        x: the last feature map.
        include_top: add the classifier.
        pooling: used only without the top: `None`, `"avg"` or `"max"`.
        classes: classifier width.
        classifier_activation: activation of `predictions`.
        dropout: dropout rate before the classifier (GoogLeNet uses 0.4).
    """
    if not include_top:
        return global_pool(x, pooling)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return kl.Affine(classes, activation=classifier_activation, name="predictions")(x)


def check_classes(classes, include_top):
    """Checks the head arguments: `include_top` a bool, `classes` a positive int with a top."""
    if not isinstance(include_top, (bool, np.bool_)):
        raise ValueError(
            f"Argument `include_top` must be True or False. Received: include_top={include_top!r}"
        )
    if include_top and (isinstance(classes, bool) or not isinstance(classes, (int, np.integer))
                        or classes < 1):
        raise ValueError(
            f"Argument `classes` must be a positive int. Received: classes={classes!r}"
        )
    return classes


# --------------------------------------------------------------------------- #
# Docstrings
# --------------------------------------------------------------------------- #


def builder_docstring(*, title, summary, model_name, params, size, min_size, default_name,
                      reference, url, weights_note="", input_note="", extra_args=()):
    """The docstring of a keras.applications-style builder: the summary, the arguments every
    such builder takes (plus `extra_args`, `(name, description)` pairs placed before `name`),
    the paper and an example that checks the parameter count.

    Args:
        title: the first line, e.g. `"Instantiates DenseNet-121."`.
        summary: the paragraph after it.
        model_name: the registry name, for the example.
        params: the parameter count with 1000 classes, for the example.
        size: the default input size (height = width).
        min_size: the minimum input size.
        default_name: keras.applications' model name.
        reference: the paper, as the registry holds it.
        url: the paper's address.
        weights_note: added to `weights="imagenet"`'s description.
        input_note: added to `input_shape`'s description.
        extra_args: the family's own arguments.
    """
    def wrap(name, text):
        return textwrap.fill(f"{name}: {text}", width=78, initial_indent=" " * 8,
                             subsequent_indent=" " * 12)

    args = [
        ("include_top", "whether to include the classifier. Defaults to `True`."),
        ("weights", "`None` (random initialization), `\"imagenet\"` (keras.applications' "
                    f"file, its URL and hash{weights_note}), or the path to a weights file "
                    "(keras.applications' legacy HDF5 layout, a Keras `.weights.h5` or a "
                    "`.keras` file). A first convolution trained on RGB is adapted to "
                    "another channel count."),
        ("input_tensor", "optional Keras tensor to use as the image input."),
        ("input_shape", f"optional `(height, width, channels)`; height and width at least "
                        f"{min_size}. Defaults to `({size}, {size}, 3)`.{input_note}"),
        ("pooling", "without the top, `None` (4D feature map), `\"avg\"` or `\"max\"`."),
        ("classes", "number of classes. Defaults to 1000."),
        ("classifier_activation", "activation of `predictions`. Defaults to `\"softmax\"`."),
        *extra_args,
        ("name", f"model name. Defaults to keras.applications' `\"{default_name}\"`."),
        ("conv_impl", "`\"native\"` or `\"im2col\"`, passed to every convolution and "
                      "pooling layer."),
    ]
    lines = [title, "", *(f"    {line}" if line else "" for line in summary.splitlines()), "",
             "    Args:", *(wrap(name, text) for name, text in args), "",
             "    Returns:", "        A `keras.Model`.", "",
             "    Reference:", f"        - [{reference}]({url})", "",
             "    Examples:",
             f"        >>> model = kzoo.create_model(\"{model_name}\", weights=None)",
             "        >>> model.count_params()", f"        {params}", ""]
    return "\n".join(lines)

