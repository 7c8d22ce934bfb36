"""VGG-11/13/16/19 (configurations A, B, D, E) and their batch-normalized variants.

Layer names are keras.applications' (`block1_conv1`, `block1_pool`, `fc1`,
`fc2`, `predictions`), so its VGG16/VGG19 weight files load by name.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model
from kzoo.models.vgg.presets import PRESETS

REFERENCE = (
    "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image "
    "Recognition, ICLR 2015"
)

#: variant -> convolutions per block (the paper's configurations A, B, D, E)
VARIANTS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
BLOCK_FILTERS = (64, 128, 256, 512, 512)


def vgg_block(x, filters, convs, *, batch_norm=False, conv_impl="native", name):
    """`convs` 3×3 convolutions (`{name}_conv{i}`), optional BN, ReLU, then 2×2 max pool."""
    for i in range(1, convs + 1):
        conv_name = f"{name}_conv{i}"
        if batch_norm:
            x = kl.Conv2D(filters, 3, padding="same", implementation=conv_impl,
                          name=conv_name)(x)
            x = kl.BatchNorm(name=f"{conv_name}_bn")(x)
            x = keras.layers.Activation("relu", name=f"{conv_name}_relu")(x)
        else:
            x = kl.Conv2D(filters, 3, padding="same", activation="relu",
                          implementation=conv_impl, name=conv_name)(x)
    return kl.MaxPool2D(2, strides=2, implementation=conv_impl, name=f"{name}_pool")(x)


def vgg(variant, *, batch_norm, include_top, weights, input_tensor, input_shape, pooling,
        classes, classifier_activation, name, conv_impl):
    """Builds `variant` (a key of `VARIANTS`), with BatchNorm after each conv if asked."""
    model_name = variant + ("_bn" if batch_norm else "")
    presets = {} if batch_norm else PRESETS.get(variant, {})
    weights, input_shape, x, inputs = common.builder_inputs(
        model_name, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(224, 224, 3), min_size=32,
        require_flatten=include_top,
    )
    for i, (filters, convs) in enumerate(zip(BLOCK_FILTERS, VARIANTS[variant])):
        x = vgg_block(x, filters, convs, batch_norm=batch_norm, conv_impl=conv_impl,
                      name=f"block{i + 1}")
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        x = kl.Affine(4096, activation="relu", name="fc1")(x)
        x = kl.Affine(4096, activation="relu", name="fc2")(x)
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name or model_name)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


_DOC = """Instantiates VGG-{depth}{bn_title} (configuration {config}).

    {n_blocks} blocks of 3×3 convolutions ({convs} per block){bn_text} and 2×2
    max pooling, then `fc1` and `fc2` (4096, ReLU) and `predictions`. Layer
    names follow keras.applications{keras_note}.{count}

    Args:
        include_top: whether to include the three affine layers. Defaults to
            `True`.
        weights: `None`{weights_doc}, or the path to a weights file (the
            legacy HDF5 layout or a Keras `.weights.h5` file).
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least 32×32.
            Defaults to `(224, 224, 3)`; `fc1` is sized to the input.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 1000.
        classifier_activation: activation of `predictions`.
        name: model name. Defaults to `"{name}"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.

    Returns:
        A `keras.Model`.

    Reference:
        - [Simonyan & Zisserman, Very Deep Convolutional Networks for
          Large-Scale Image Recognition, ICLR 2015](https://arxiv.org/abs/1409.1556)

    Examples:
        >>> model = kzoo.create_model("{name}", weights=None, include_top=False, pooling="avg")
        >>> model.output.shape
        (None, 512)
    """

_CONFIGS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
_COUNTS = {"vgg16": "138,357,544", "vgg19": "143,667,240"}


#: Published ImageNet top-1 (%) of the models with keras.applications' "imagenet" weights
#: (keras.applications' table).
TOP1 = {"vgg16": 71.3, "vgg19": 71.3}


def _make(variant, batch_norm):
    model_name = variant + ("_bn" if batch_norm else "")

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=model_name,
                conv_impl="native"):
        return vgg(variant, batch_norm=batch_norm, include_top=include_top, weights=weights,
                   input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                   classes=classes, classifier_activation=classifier_activation, name=name,
                   conv_impl=conv_impl)

    builder.__name__ = builder.__qualname__ = model_name
    builder.__module__ = __name__
    has_weights = not batch_norm and variant in PRESETS
    builder.__doc__ = _DOC.format(
        depth=variant[3:],
        bn_title=" with batch normalization" if batch_norm else "",
        config=_CONFIGS[variant],
        n_blocks=len(VARIANTS[variant]),
        convs=", ".join(map(str, VARIANTS[variant])),
        bn_text=", each followed by BatchNorm (`{conv}_bn`) and ReLU" if batch_norm else
        " with ReLU",
        keras_note=f" (`keras.applications.VGG{variant[3:]}`)" if has_weights else "",
        count=(f" {_COUNTS[variant]} parameters at 224×224×3 with 1000 classes."
               if variant in _COUNTS and not batch_norm else ""),
        weights_doc=", `\"imagenet\"` (keras.applications' file, hash-checked)"
        if has_weights else "",
        name=model_name,
    )
    return register_model(
        builder, family="vgg", default_input_shape=(224, 224, 3), min_input_size=32,
        reference=REFERENCE, weights=tuple(PRESETS.get(variant, {})) if not batch_norm else (),
        top1=None if batch_norm else TOP1.get(variant),
    )


vgg11 = _make("vgg11", batch_norm=False)
vgg13 = _make("vgg13", batch_norm=False)
vgg16 = _make("vgg16", batch_norm=False)
vgg19 = _make("vgg19", batch_norm=False)
vgg11_bn = _make("vgg11", batch_norm=True)
vgg13_bn = _make("vgg13", batch_norm=True)
vgg16_bn = _make("vgg16", batch_norm=True)
vgg19_bn = _make("vgg19", batch_norm=True)
