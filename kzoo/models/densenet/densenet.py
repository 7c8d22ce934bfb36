"""DenseNet: dense blocks that concatenate every layer's output to its input, and transitions.

As keras.applications builds DenseNet121/169/201: a 7×7 stem, four dense
blocks of BN-ReLU-1×1-BN-ReLU-3×3 layers (growth rate 32) whose outputs are
concatenated to their inputs, transitions that halve the channels (1×1) and
the size (2×2 average pooling), a final BN + ReLU and the classifier. Layer
names are keras.applications' (`conv1_conv`, `conv2_block1_0_bn`, ...,
`pool2_conv`, `bn`, `predictions`), so its weight files load by name. The
model takes ImageNet-normalized inputs (keras.applications'
`densenet.preprocess_input`: [0, 1], minus the mean, over the standard
deviation).
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.densenet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = "Huang et al., Densely Connected Convolutional Networks, CVPR 2017"
PAPER_URL = "https://arxiv.org/abs/1608.06993"
BN_EPSILON = 1.001e-5  # keras.applications' value, needed for its weights
GROWTH_RATE = 32
REDUCTION = 0.5

#: variant -> (layers per dense block, parameters with 1000 classes, published ImageNet top-1 %)
VARIANTS = {
    "densenet121": ((6, 12, 24, 16), 8_062_504, 75.0),
    "densenet169": ((6, 12, 32, 32), 14_307_880, 76.2),
    "densenet201": ((6, 12, 48, 32), 20_242_984, 77.3),
}


def bn_relu(x, name):
    """BatchNorm (`{name}_bn`) → ReLU (`{name}_relu`)."""
    x = kl.BatchNorm(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def dense_layer(x, *, growth_rate=GROWTH_RATE, conv_impl="native", name):
    """BN-ReLU-1×1 (4 × growth) - BN-ReLU-3×3 (growth), concatenated to the input."""
    y = bn_relu(x, f"{name}_0")
    y = kl.Conv2D(4 * growth_rate, 1, use_bias=False, implementation=conv_impl,
                  name=f"{name}_1_conv")(y)
    y = bn_relu(y, f"{name}_1")
    y = kl.Conv2D(growth_rate, 3, padding="same", use_bias=False, implementation=conv_impl,
                  name=f"{name}_2_conv")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, layers, *, conv_impl="native", name):
    """`layers` dense layers named `{name}_block{i}`."""
    for i in range(layers):
        x = dense_layer(x, conv_impl=conv_impl, name=f"{name}_block{i + 1}")
    return x


def transition(x, *, reduction=REDUCTION, conv_impl="native", name):
    """BN-ReLU, a 1×1 convolution to `reduction` of the channels, 2×2 average pooling."""
    x = bn_relu(x, name)
    x = kl.Conv2D(int(x.shape[-1] * reduction), 1, use_bias=False, implementation=conv_impl,
                  name=f"{name}_conv")(x)
    return kl.AvgPool2D(2, strides=2, implementation=conv_impl, name=f"{name}_pool")(x)


def densenet(variant, *, include_top, weights, input_tensor, input_shape, pooling, classes,
             classifier_activation, name, conv_impl):
    """Builds the DenseNet `variant` (a key of `VARIANTS`)."""
    blocks = VARIANTS[variant][0]
    presets = PRESETS[variant]
    weights, input_shape, image, inputs = common.builder_inputs(
        variant, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=include_top,
    )
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(image)
    x = kl.Conv2D(64, 7, strides=2, use_bias=False, implementation=conv_impl,
                  name="conv1_conv")(x)
    x = bn_relu(x, "conv1")
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = kl.MaxPool2D(3, strides=2, implementation=conv_impl, name="pool1")(x)
    for i, layers in enumerate(blocks):
        x = dense_block(x, layers, conv_impl=conv_impl, name=f"conv{i + 2}")
        if i < len(blocks) - 1:
            x = transition(x, conv_impl=conv_impl, name=f"pool{i + 2}")
    x = kl.BatchNorm(epsilon=BN_EPSILON, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or variant)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


def _make(variant):
    blocks, params, top1 = VARIANTS[variant]
    depth = variant[8:]

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None,
                conv_impl="native"):
        return densenet(variant, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation,
                        name=name, conv_impl=conv_impl)

    builder.__name__ = builder.__qualname__ = variant
    builder.__module__ = __name__
    builder.__doc__ = common.builder_docstring(
        title=f"Instantiates DenseNet-{depth} (dense blocks of {list(blocks)} layers).",
        summary=(f"The architecture and layer names of `keras.applications.DenseNet{depth}`\n"
                 f"({params:,} parameters with 1000 classes), built from kzoo layers. It\n"
                 "takes ImageNet-normalized inputs."),
        model_name=variant, params=params, size=224, min_size=32, default_name=variant,
        reference=REFERENCE, url=PAPER_URL,
        weights_note="; with the top the input must be 224×224")
    return register_model(builder, family="densenet", default_input_shape=(224, 224, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[variant]), top1=top1)


densenet121 = _make("densenet121")
densenet169 = _make("densenet169")
densenet201 = _make("densenet201")
