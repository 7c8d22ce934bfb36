"""NASNet-A: the normal and reduction cells found by neural architecture search.

As keras.applications builds NASNetMobile and NASNetLarge: a strided 3×3
stem, two reduction cells, then three groups of `num_blocks` normal cells
separated by reduction cells (the filters doubling at each), a final ReLU
and the classifier. Each cell combines the current input and the previous
cell's output (adjusted to its size and width) through separable
convolutions, poolings and additions (Zoph et al. 2018, Fig. 4). Every
weighted layer carries keras.applications' name (`stem_conv1`,
`separable_conv_1_normal_left1_0`, `adjust_conv_projection_1`,
`normal_bn_1_3`, ..., `predictions`), so its weight files load by name. The
model takes inputs scaled to [-1, 1] (keras.applications'
`nasnet.preprocess_input`).
"""

import collections

import keras

from kzoo import layers as kl
from kzoo.models import common
from kzoo.models import weights as weight_files
from kzoo.models.nasnet.presets import PRESETS
from kzoo.models.registry import register_model

REFERENCE = ("Zoph et al., Learning Transferable Architectures for Scalable Image "
             "Recognition, CVPR 2018")
PAPER_URL = "https://arxiv.org/abs/1707.07012"
BN = dict(momentum=0.9997, epsilon=1e-3)
FILTER_MULTIPLIER = 2

#: variant -> (penultimate filters, normal cells per group, stem filters, skip_reduction,
#: default size, keras.applications name, parameters with 1000 classes, published top-1 %)
VARIANTS = {
    "nasnet_mobile": (1056, 4, 32, False, 224, "NASNetMobile", 5_326_716, 74.4),
    "nasnet_large": (4032, 6, 96, True, 331, "NASNetLarge", 88_949_818, 82.5),
}


class _Builder:
    """Builds the cells, naming keras.applications' unnamed layers deterministically."""

    def __init__(self, conv_impl):
        self.conv_impl = conv_impl
        self.counts = collections.Counter()

    def auto(self, prefix):
        self.counts[prefix] += 1
        return f"{prefix}_{self.counts[prefix]}"

    def relu(self, x, name=None):
        return keras.layers.Activation("relu", name=name or self.auto("activation"))(x)

    def conv_bn(self, x, filters, *, conv_name, bn_name):
        """1×1 convolution without bias → BatchNorm."""
        x = kl.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer="he_normal",
                      implementation=self.conv_impl, name=conv_name)(x)
        return kl.BatchNorm(**BN, name=bn_name)(x)

    def pool(self, kind, x, *, strides, padding, name, size=3):
        layer = kl.AvgPool2D if kind == "avg" else kl.MaxPool2D
        return layer(size, strides=strides, padding=padding, implementation=self.conv_impl,
                     name=name)(x)

    def separable_block(self, x, filters, kernel_size=3, strides=1, *, block_id):
        """Two [ReLU → separable convolution → BatchNorm]; the first may be strided."""
        x = self.relu(x)
        padding = "same"
        if strides == 2:
            x = keras.layers.ZeroPadding2D(common.correct_pad(x, kernel_size),
                                           name=f"separable_conv_1_pad_{block_id}")(x)
            padding = "valid"
        x = kl.SeparableConv2D(filters, kernel_size, strides=strides, padding=padding,
                               use_bias=False, implementation=self.conv_impl,
                               name=f"separable_conv_1_{block_id}")(x)
        x = kl.BatchNorm(**BN, name=f"separable_conv_1_bn_{block_id}")(x)
        x = self.relu(x)
        x = kl.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False,
                               implementation=self.conv_impl,
                               name=f"separable_conv_2_{block_id}")(x)
        return kl.BatchNorm(**BN, name=f"separable_conv_2_bn_{block_id}")(x)

    def adjust(self, p, ip, filters, block_id):
        """The previous cell's output `p` brought to the size and width of `ip`."""
        if p is None:
            return ip
        if p.shape[-2] != ip.shape[-2]:
            # Halve the size along two paths offset by one pixel, each to filters // 2.
            p = self.relu(p, name=f"adjust_relu_1_{block_id}")
            p1 = self.pool("avg", p, size=1, strides=2, padding="valid",
                           name=f"adjust_avg_pool_1_{block_id}")
            p1 = kl.Conv2D(filters // 2, 1, padding="same", use_bias=False,
                           kernel_initializer="he_normal", implementation=self.conv_impl,
                           name=f"adjust_conv_1_{block_id}")(p1)
            p2 = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=self.auto("zero_padding2d"))(p)
            p2 = keras.layers.Cropping2D(((1, 0), (1, 0)), name=self.auto("cropping2d"))(p2)
            p2 = self.pool("avg", p2, size=1, strides=2, padding="valid",
                           name=f"adjust_avg_pool_2_{block_id}")
            p2 = kl.Conv2D(filters // 2, 1, padding="same", use_bias=False,
                           kernel_initializer="he_normal", implementation=self.conv_impl,
                           name=f"adjust_conv_2_{block_id}")(p2)
            p = keras.layers.Concatenate(name=self.auto("concatenate"))([p1, p2])
            return kl.BatchNorm(**BN, name=f"adjust_bn_{block_id}")(p)
        if p.shape[-1] != filters:
            p = self.relu(p)
            return self.conv_bn(p, filters, conv_name=f"adjust_conv_projection_{block_id}",
                                bn_name=f"adjust_bn_{block_id}")
        return p

    def normal_cell(self, ip, p, filters, block_id):
        """NASNet-A's normal cell: five additions of the two inputs' transforms, concatenated
        with the adjusted previous output."""
        p = self.adjust(p, ip, filters, block_id)
        h = self.conv_bn(self.relu(ip), filters, conv_name=f"normal_conv_1_{block_id}",
                         bn_name=f"normal_bn_1_{block_id}")
        add = keras.layers.Add
        x1 = add(name=f"normal_add_1_{block_id}")([
            self.separable_block(h, filters, 5, block_id=f"normal_left1_{block_id}"),
            self.separable_block(p, filters, block_id=f"normal_right1_{block_id}")])
        x2 = add(name=f"normal_add_2_{block_id}")([
            self.separable_block(p, filters, 5, block_id=f"normal_left2_{block_id}"),
            self.separable_block(p, filters, 3, block_id=f"normal_right2_{block_id}")])
        x3 = self.pool("avg", h, strides=1, padding="same", name=f"normal_left3_{block_id}")
        x3 = add(name=f"normal_add_3_{block_id}")([x3, p])
        x4_1 = self.pool("avg", p, strides=1, padding="same", name=f"normal_left4_{block_id}")
        x4_2 = self.pool("avg", p, strides=1, padding="same", name=f"normal_right4_{block_id}")
        x4 = add(name=f"normal_add_4_{block_id}")([x4_1, x4_2])
        x5 = self.separable_block(h, filters, block_id=f"normal_left5_{block_id}")
        x5 = add(name=f"normal_add_5_{block_id}")([x5, h])
        x = keras.layers.Concatenate(name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
        return x, ip

    def reduction_cell(self, ip, p, filters, block_id):
        """NASNet-A's reduction cell: strided separable convolutions and poolings."""
        p = self.adjust(p, ip, filters, block_id)
        h = self.conv_bn(self.relu(ip), filters, conv_name=f"reduction_conv_1_{block_id}",
                         bn_name=f"reduction_bn_1_{block_id}")
        h3 = keras.layers.ZeroPadding2D(common.correct_pad(h, 3),
                                        name=f"reduction_pad_1_{block_id}")(h)
        add = keras.layers.Add
        x1 = add(name=f"reduction_add_1_{block_id}")([
            self.separable_block(h, filters, 5, 2, block_id=f"reduction_left1_{block_id}"),
            self.separable_block(p, filters, 7, 2, block_id=f"reduction_right1_{block_id}")])
        x2_1 = self.pool("max", h3, strides=2, padding="valid",
                         name=f"reduction_left2_{block_id}")
        x2_2 = self.separable_block(p, filters, 7, 2, block_id=f"reduction_right2_{block_id}")
        x2 = add(name=f"reduction_add_2_{block_id}")([x2_1, x2_2])
        x3_1 = self.pool("avg", h3, strides=2, padding="valid",
                         name=f"reduction_left3_{block_id}")
        x3_2 = self.separable_block(p, filters, 5, 2, block_id=f"reduction_right3_{block_id}")
        x3 = add(name=f"reduction_add3_{block_id}")([x3_1, x3_2])
        x4 = self.pool("avg", x1, strides=1, padding="same", name=f"reduction_left4_{block_id}")
        x4 = add(name=self.auto("add"))([x2, x4])
        # keras.applications names this block `reduction_left4_*` too (its separable layers).
        x5_1 = self.separable_block(x1, filters, 3, block_id=f"reduction_left4_{block_id}")
        x5_2 = self.pool("max", h3, strides=2, padding="valid",
                         name=f"reduction_right5_{block_id}")
        x5 = add(name=f"reduction_add4_{block_id}")([x5_1, x5_2])
        x = keras.layers.Concatenate(name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
        return x, ip


def nasnet_features(image, *, penultimate_filters, num_blocks, stem_filters, skip_reduction,
                    conv_impl):
    """The stem and the cells, up to the final ReLU."""
    build = _Builder(conv_impl)
    filters = penultimate_filters // 24
    m = FILTER_MULTIPLIER
    x = kl.Conv2D(stem_filters, 3, strides=2, padding="valid", use_bias=False,
                  kernel_initializer="he_normal", implementation=conv_impl,
                  name="stem_conv1")(image)
    x = kl.BatchNorm(**BN, name="stem_bn1")(x)
    x, p = build.reduction_cell(x, None, filters // m**2, "stem_1")
    x, p = build.reduction_cell(x, p, filters // m, "stem_2")
    for group in range(3):
        width = filters * m**group
        if group:
            x, p0 = build.reduction_cell(x, p, width, f"reduce_{group * num_blocks}")
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            # keras.applications numbers the cells 0.. in the first group, then on after
            # each reduction's number.
            block_id = i if group == 0 else group * num_blocks + i + 1
            x, p = build.normal_cell(x, p, width, f"{block_id}")
    return build.relu(x)


def _nasnet(variant, *, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name, conv_impl):
    penultimate, num_blocks, stem, skip, size, keras_name, _, _ = VARIANTS[variant]
    presets = PRESETS[variant]
    weights, input_shape, image, inputs = common.builder_inputs(
        variant, conv_impl=conv_impl, pooling=pooling, include_top=include_top,
        classes=classes, weights=weights, presets=presets, input_shape=input_shape,
        input_tensor=input_tensor, default_shape=(size, size, 3), min_size=32,
        require_flatten=include_top,
    )
    x = nasnet_features(image, penultimate_filters=penultimate, num_blocks=num_blocks,
                        stem_filters=stem, skip_reduction=skip, conv_impl=conv_impl)
    x = common.pooled_classifier(x, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation)
    model = keras.Model(inputs, x, name=name or variant)
    return weight_files.load_weights(model, weights, presets=presets, include_top=include_top)


def _make(variant):
    penultimate, num_blocks, stem, skip, size, keras_name, params, top1 = VARIANTS[variant]

    def builder(*, include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None,
                conv_impl="native"):
        return _nasnet(variant, include_top=include_top, weights=weights,
                       input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                       classes=classes, classifier_activation=classifier_activation,
                       name=name, conv_impl=conv_impl)

    builder.__name__ = builder.__qualname__ = variant
    builder.__module__ = __name__
    builder.__doc__ = common.builder_docstring(
        title=(f"Instantiates NASNet-A {variant[7:].capitalize()} ({num_blocks} normal cells "
               f"per group, {penultimate} penultimate filters)."),
        summary=(f"The architecture and layer names of `keras.applications.{keras_name}`\n"
                 f"({params:,} parameters with 1000 classes), built from kzoo layers. It\n"
                 "takes inputs scaled to [-1, 1]."),
        model_name=variant, params=params, size=size, min_size=32, default_name=variant,
        reference=REFERENCE, url=PAPER_URL,
        weights_note=f"; with the top the input must be {size}×{size}")
    return register_model(builder, family="nasnet", default_input_shape=(size, size, 3),
                          min_input_size=32, reference=REFERENCE,
                          weights=tuple(PRESETS[variant]), top1=top1)


nasnet_mobile = _make("nasnet_mobile")
nasnet_large = _make("nasnet_large")
