"""GoogLeNet (Inception v1): naive or dimension-reduction modules, optional auxiliary heads."""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.layers import LocalResponseNorm
from kzoo.models.registry import register_model

REFERENCE = "Szegedy et al., Going Deeper with Convolutions, CVPR 2015"

#: module name -> (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj), the paper's
#: Table 1;
#: None marks a 3×3 / 2 max pooling between stages.
MODULES = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    None,
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    None,
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
AUX_AFTER = ("4a", "4d")
AUX_MIN_INPUT = 65  # the 5×5 / 3 auxiliary pooling needs a 5×5 map after 4a (input / 16)


def conv(x, filters, kernel_size, *, strides=1, conv_impl="native", name):
    """Conv2D with bias and ReLU, "same" padding (GoogLeNet has no BatchNorm)."""
    return kl.Conv2D(filters, kernel_size, strides=strides, padding="same", activation="relu",
                     implementation=conv_impl, name=name)(x)


def max_pool(x, *, conv_impl, name, strides=2):
    return kl.MaxPool2D(3, strides=strides, padding="same", implementation=conv_impl,
                        name=name)(x)


def inception_module(x, filters, *, reduction=True, conv_impl="native", name):
    """Four parallel branches concatenated on channels (`{name}_output`).

    With `reduction`, 1×1 convolutions shrink the channels before the 3×3 and
    5×5 convolutions and after the pooling (Figure 2b); without it, the naive
    module (Figure 2a) convolves the full input and passes the pooled input on.
    """
    f1, f3r, f3, f5r, f5, fpool = filters
    kw = dict(conv_impl=conv_impl)
    branch1 = conv(x, f1, 1, name=f"{name}_1x1", **kw)
    branch3 = conv(x, f3r, 1, name=f"{name}_3x3_reduce", **kw) if reduction else x
    branch3 = conv(branch3, f3, 3, name=f"{name}_3x3", **kw)
    branch5 = conv(x, f5r, 1, name=f"{name}_5x5_reduce", **kw) if reduction else x
    branch5 = conv(branch5, f5, 5, name=f"{name}_5x5", **kw)
    pool = max_pool(x, strides=1, conv_impl=conv_impl, name=f"{name}_pool")
    if reduction:
        pool = conv(pool, fpool, 1, name=f"{name}_pool_proj", **kw)
    return keras.layers.Concatenate(name=f"{name}_output")([branch1, branch3, branch5, pool])


def auxiliary_head(x, classes, *, classifier_activation, conv_impl, name):
    """5×5 / 3 avg pool → 1×1 conv 128 → affine 1024 → dropout 0.7 → `{name}_predictions`."""
    x = kl.AvgPool2D(5, strides=3, implementation=conv_impl, name=f"{name}_pool")(x)
    x = conv(x, 128, 1, conv_impl=conv_impl, name=f"{name}_conv")
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = kl.Affine(1024, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return kl.Affine(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


@register_model(family="inception", default_input_shape=(224, 224, 3), min_input_size=32,
                reference=REFERENCE)
def googlenet(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="googlenet",
              conv_impl="native", reduction=True, aux_logits=False,
              local_response_norm=False):
    """Instantiates GoogLeNet (Inception v1).

    A stem (7×7 / 2 conv, max pool, 1×1 and 3×3 convs, max pool), the nine
    inception modules of the paper's Table 1 (`MODULES`) with max pooling
    between stages, global average pooling, dropout 0.4 and `predictions`.

    Args:
        include_top: whether to include the classifier. Defaults to `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 32×32
            (65×65 with `aux_logits`). Defaults to `(224, 224, 3)`.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of the classifiers.
        name: model name. Defaults to `"googlenet"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.
        reduction: `True` for the dimension-reduction modules (the network of
            the paper), `False` for the naive modules. Defaults to `True`.
        aux_logits: add the two auxiliary classifiers (after 4a and 4d) as
            extra outputs: the model returns `[main, aux1, aux2]`. Needs
            `include_top`. Defaults to `False`.
        local_response_norm: add the stem's two local response
            normalizations. Defaults to `False`.

    Returns:
        A `keras.Model`.

    Reference:
        - [Szegedy et al., Going Deeper with Convolutions, CVPR 2015](
          https://arxiv.org/abs/1409.4842)

    Examples:
        >>> model = kzoo.create_model("googlenet", aux_logits=True, classes=10)
        >>> [tuple(o.shape) for o in model.outputs]
        [(None, 10), (None, 10), (None, 10)]
    """
    if aux_logits and not include_top:
        raise ValueError(
            "Argument `aux_logits=True` needs `include_top=True` (the auxiliary heads are "
            f"classifiers). Received: aux_logits={aux_logits}, include_top={include_top}"
        )
    weights, input_shape, image, inputs = common.builder_inputs(
        "googlenet", conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=aux_logits,
    )
    if aux_logits and min(input_shape[:2]) < AUX_MIN_INPUT:
        raise ValueError(
            f"With `aux_logits=True` the input size of 'googlenet' must be at least "
            f"{AUX_MIN_INPUT}x{AUX_MIN_INPUT}. Received: input_shape={input_shape}"
        )
    kw = dict(conv_impl=conv_impl)

    x = conv(image, 64, 7, strides=2, name="conv1_7x7", **kw)
    x = max_pool(x, name="pool1", **kw)
    if local_response_norm:
        x = LocalResponseNorm(name="pool1_norm")(x)
    x = conv(x, 64, 1, name="conv2_3x3_reduce", **kw)
    x = conv(x, 192, 3, name="conv2_3x3", **kw)
    if local_response_norm:
        x = LocalResponseNorm(name="conv2_norm")(x)
    x = max_pool(x, name="pool2", **kw)
    aux_outputs = []
    stage = 3
    for module in MODULES:
        if module is None:
            x = max_pool(x, name=f"pool{stage}", **kw)
            stage += 1
            continue
        module_name, filters = module
        x = inception_module(x, filters, reduction=reduction, name=f"inception_{module_name}",
                             **kw)
        if aux_logits and module_name in AUX_AFTER:
            aux_outputs.append(auxiliary_head(
                x, classes, classifier_activation=classifier_activation,
                name=f"aux{len(aux_outputs) + 1}", **kw))
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling, classes=classes,
                                 classifier_activation=classifier_activation, dropout=0.4)
    model = keras.Model(inputs, [x, *aux_outputs] if aux_outputs else x, name=name)
    return weight_files.load_weights(model, weights)
