"""ResNet-9 (Page, "How to train your ResNet", 2018): the DAWNBench CIFAR-10 network.

Eight 3×3 conv-BN-ReLU layers and a classifier, built from kzoo layers:

    prep      conv(w)                          full resolution
    layer1    conv(2w) → max pool 2 → + res(conv(2w), conv(2w))
    layer2    conv(4w) → max pool 2
    layer3    conv(8w) → max pool 2 → + res(conv(8w), conv(8w))
    head      global max pool → affine (no bias) → × 0.125 → softmax

with w = `width` (64 in the paper: 6,573,120 trainable parameters at
32×32×3 with 10 classes). Convolutions have no bias (BatchNorm follows each);
the residual branches are added without a ReLU after the sum, as in Page's
code. It trains to 94% on CIFAR-10 in 24 epochs; narrowed (`width=16`) it is
the zoo's compute-efficient Fashion-MNIST network.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model

REFERENCE = ("Page, How to train your ResNet (Myrtle.ai, 2018), the DAWNBench ResNet-9; "
             "https://myrtle.ai/learn/how-to-train-your-resnet-4-architecture/")
#: The output of the classifier is multiplied by this before the softmax (Page's Mul(0.125)).
LOGIT_SCALE = 0.125


def conv_bn(x, filters, *, conv_impl, name):
    """3×3 conv (no bias, `{name}_conv`) → BatchNorm (`{name}_bn`) → ReLU."""
    x = kl.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                  implementation=conv_impl, name=f"{name}_conv")(x)
    x = kl.BatchNorm(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def residual(x, filters, *, conv_impl, name):
    """x + conv_bn(conv_bn(x)): the two-layer residual branch, no activation after the sum."""
    y = conv_bn(x, filters, conv_impl=conv_impl, name=f"{name}_1")
    y = conv_bn(y, filters, conv_impl=conv_impl, name=f"{name}_2")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _check_width(width):
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"Argument `width` must be an int >= 1 (the filters of the first "
                         f"convolution). Received: width={width!r}")
    return width


@register_model(family="resnet9", default_input_shape=(32, 32, 3), min_input_size=8,
                reference=REFERENCE)
def resnet9(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
            pooling=None, classes=10, classifier_activation="softmax", name="resnet9",
            conv_impl="native", width=64):
    """Instantiates ResNet-9, the DAWNBench CIFAR-10 network of Page (2018).

    prep conv(w); conv(2w), 2×2 max pool and a two-conv residual; conv(4w)
    and pool; conv(8w), pool and a residual; global max pooling and an affine
    classifier without bias, scaled by 0.125. With the paper's `width=64`:
    6,573,120 trainable parameters at 32×32×3 with 10 classes (6,577,600 with
    BatchNorm's moving statistics, which Keras counts).

    Args:
        include_top: whether to include the pooling + `predictions`
            classifier. Defaults to `True`.
        weights: `None`, the path to a weights file, or a zoo checkpoint
            tag (`"fashion_mnist"`: width 16, 28×28×1).
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 8×8.
            Defaults to `(32, 32, 3)`.
        pooling: without the top, `None` (the last feature map), `"avg"` or
            `"max"`.
        classes: number of classes. Defaults to 10.
        classifier_activation: activation of the scaled classifier output
            (`None` for logits).
        name: model name. Defaults to `"resnet9"`.
        conv_impl: `"native"` or `"im2col"` for every convolution.
        width: int >= 1, the filters of the first convolution; the stages
            have 2, 4 and 8 times as many. Defaults to 64, the paper's.

    Returns:
        A `keras.Model`.

    Reference:
        - [Page, How to train your ResNet 4: Architecture, Myrtle.ai 2018](
          https://myrtle.ai/learn/how-to-train-your-resnet-4-architecture/)

    Examples:
        >>> model = kzoo.create_model("resnet9")
        >>> model.count_params()
        6577600
        >>> kzoo.create_model("resnet9", input_shape=(28, 28, 1), width=16).count_params()
        413776
    """
    _check_width(width)
    weights, input_shape, image, inputs = common.builder_inputs(
        name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(32, 32, 3), min_size=8,
        require_flatten=False,
    )
    kwargs = dict(conv_impl=conv_impl)
    x = conv_bn(image, width, name="prep", **kwargs)
    x = conv_bn(x, 2 * width, name="layer1", **kwargs)
    x = keras.layers.MaxPooling2D(2, name="layer1_pool")(x)
    x = residual(x, 2 * width, name="layer1_res", **kwargs)
    x = conv_bn(x, 4 * width, name="layer2", **kwargs)
    x = keras.layers.MaxPooling2D(2, name="layer2_pool")(x)
    x = conv_bn(x, 8 * width, name="layer3", **kwargs)
    x = keras.layers.MaxPooling2D(2, name="layer3_pool")(x)
    x = residual(x, 8 * width, name="layer3_res", **kwargs)
    if include_top:
        # Page's MaxPool2d(4) at 32×32 is a global max pool; the global form takes any size.
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        x = kl.Affine(classes, use_bias=False, kernel_initializer="glorot_uniform",
                      name="predictions")(x)
        x = keras.layers.Rescaling(LOGIT_SCALE, name="logit_scale")(x)
        if classifier_activation is not None:
            x = keras.layers.Activation(classifier_activation, name="probabilities")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights)
