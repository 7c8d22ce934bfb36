"""LeNet: the classic LeNet-5 (LeCun et al. 1998) and Caffe's MNIST LeNet.

Both are a stack of convolution + subsampling stages followed by affine
layers, so one block function and per-variant data serve both.
"""

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.registry import register_model

REFERENCE = "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998"
CAFFE_REFERENCE = (
    "Jia et al., Caffe: Convolutional Architecture for Fast Feature Embedding, 2014 "
    "(examples/mnist/lenet.prototxt); after LeCun et al. 1998"
)

#: variant -> conv stages (filters, kernel), hidden affine widths, pooling, defaults
VARIANTS = {
    "lenet5": {
        "conv": ((6, 5), (16, 5)),
        "hidden": (120, 84),
        "pool": "avg",  # LeNet-5's subsampling layers average 2×2 windows
        "activation": "tanh",
        "conv_activation": True,
        "input_shape": (32, 32, 1),
    },
    "lenet": {
        "conv": ((20, 5), (50, 5)),
        "hidden": (500,),
        "pool": "max",
        "activation": "relu",
        "conv_activation": False,  # Caffe's LeNet has no nonlinearity after its convolutions
        "input_shape": (28, 28, 1),
    },
}


def conv_pool_block(x, filters, kernel_size, *, pool="max", activation=None,
                    conv_impl="native", name):
    """Conv2D (`{name}_conv`) with optional activation → 2×2 pooling (`{name}_pool`)."""
    x = kl.Conv2D(filters, kernel_size, activation=activation, implementation=conv_impl,
                  name=f"{name}_conv")(x)
    pool_layer = kl.MaxPool2D if pool == "max" else kl.AvgPool2D
    return pool_layer(2, implementation=conv_impl, name=f"{name}_pool")(x)


def _min_size(convs):
    # Each stage: valid conv (k − 1 lost) then 2× pooling; work backwards from 1.
    size = 1
    for _, kernel in reversed(convs):
        size = size * 2 + kernel - 1
    return size


def lenet_builder(variant, *, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, name, conv_impl, activation):
    spec = VARIANTS[variant]
    weights, input_shape, x, inputs = common.builder_inputs(
        variant, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets={}, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=spec["input_shape"],
        min_size=_min_size(spec["conv"]), require_flatten=include_top,
    )
    activation = activation or spec["activation"]
    for i, (filters, kernel) in enumerate(spec["conv"]):
        x = conv_pool_block(x, filters, kernel, pool=spec["pool"],
                            activation=activation if spec["conv_activation"] else None,
                            conv_impl=conv_impl, name=f"block{i + 1}")
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(spec["hidden"]):
            x = kl.Affine(units, activation=activation, name=f"fc{i + 1}")(x)
        x = kl.Affine(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.global_pool(x, pooling)
    model = keras.Model(inputs, x, name=name)
    return weight_files.load_weights(model, weights)


_ARGS_DOC = """
    Args:
        include_top: whether to include the affine layers. Defaults to `True`.
        weights: `None` or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional `(height, width, channels)`, at least
            {min_size}×{min_size}. Defaults to `{input_shape}`.
        pooling: without the top, `None`, `"avg"` or `"max"`.
        classes: number of classes. Defaults to 10.
        classifier_activation: activation of `predictions`. Defaults to
            `"softmax"`.
        name: model name. Defaults to `"{name}"`.
        conv_impl: `"native"` or `"im2col"` for every convolution and pooling.
        activation: hidden activation. Defaults to `"{activation}"`.

    Returns:
        A `keras.Model`.
"""


@register_model(family="lenet", default_input_shape=(32, 32, 1),
                min_input_size=_min_size(VARIANTS["lenet5"]["conv"]), reference=REFERENCE)
def lenet5(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
           classes=10, classifier_activation="softmax", name="lenet5", conv_impl="native",
           activation=None):
    return lenet_builder("lenet5", include_top=include_top, weights=weights,
                         input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                         classes=classes, classifier_activation=classifier_activation,
                         name=name, conv_impl=conv_impl, activation=activation)


lenet5.__doc__ = """Instantiates the classic LeNet-5.

    conv 6@5×5 → 2×2 subsampling → conv 16@5×5 → 2×2 subsampling → affine 120
    → affine 84 → affine `classes`, tanh throughout and average pooling as
    the paper's subsampling layers (full C3 connectivity, Euclidean RBF
    output replaced by an affine softmax layer, as is usual today):
    61,706 parameters at 32×32×1 with 10 classes.
""" + _ARGS_DOC.format(min_size=_min_size(VARIANTS["lenet5"]["conv"]), input_shape=(32, 32, 1),
                       name="lenet5", activation="tanh") + """
    Reference:
        - [LeCun et al., Gradient-Based Learning Applied to Document
          Recognition, Proc. IEEE 1998](http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf)

    Examples:
        >>> model = kzoo.create_model("lenet5")
        >>> model.count_params()
        61706
    """


@register_model(family="lenet", default_input_shape=(28, 28, 1),
                min_input_size=_min_size(VARIANTS["lenet"]["conv"]), reference=CAFFE_REFERENCE)
def lenet(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=10, classifier_activation="softmax", name="lenet", conv_impl="native",
          activation=None):
    return lenet_builder("lenet", include_top=include_top, weights=weights,
                         input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                         classes=classes, classifier_activation=classifier_activation,
                         name=name, conv_impl=conv_impl, activation=activation)


lenet.__doc__ = """Instantiates Caffe's LeNet for MNIST.

    conv 20@5×5 → 2×2 max pool → conv 50@5×5 → 2×2 max pool → affine 500 →
    ReLU → affine `classes` (Caffe's `examples/mnist/lenet.prototxt`):
    431,080 parameters at 28×28×1 with 10 classes.
""" + _ARGS_DOC.format(min_size=_min_size(VARIANTS["lenet"]["conv"]), input_shape=(28, 28, 1),
                       name="lenet", activation="relu") + """
    Reference:
        - [Caffe LeNet tutorial](https://caffe.berkeleyvision.org/gathered/examples/mnist.html),
          after LeCun et al. 1998.

    Examples:
        >>> model = kzoo.create_model("lenet")
        >>> model.count_params()
        431080
    """
