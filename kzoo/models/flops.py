"""FLOPs of a model's forward pass, counted from its layers' types and shapes.

Convention (the one ResNet and VGG papers' tables follow, doubled): FLOPs =
2 × multiply-accumulates of the convolution and affine layers, for one input
example. Bias additions, activations, normalization, pooling and the
element-wise adds of residual blocks are not counted; they are a small
fraction and papers leave them out too. By this count ResNet-50 at
224×224×3 is about 7.7 GFLOPs (3.86 G multiply-accumulates) and VGG-16
about 31 GFLOPs.
"""

import math

import keras

__all__ = ["count_flops"]


def _conv_macs(layer, output_shape, input_shape):
    kh, kw = layer.kernel_size
    groups = getattr(layer, "groups", 1) or 1
    cin = input_shape[-1]
    out_positions = math.prod(d for d in output_shape[1:-1])
    return out_positions * output_shape[-1] * kh * kw * cin // groups


def _depthwise_macs(layer, output_shape, input_shape):
    # Each output channel sees one input channel; a separable layer adds its 1×1 pointwise step.
    kh, kw = layer.kernel_size
    out_positions = math.prod(d for d in output_shape[1:-1])
    depthwise_channels = input_shape[-1] * layer.depth_multiplier
    macs = out_positions * depthwise_channels * kh * kw
    if hasattr(layer, "filters"):
        macs += out_positions * depthwise_channels * output_shape[-1]
    return macs


def _dense_macs(layer, output_shape, input_shape):
    leading = math.prod(d for d in output_shape[1:-1]) if len(output_shape) > 2 else 1
    return leading * input_shape[-1] * output_shape[-1]


def count_flops(model) -> int:
    """FLOPs (2 × multiply-accumulates) of one forward pass of `model` on one example.

    Counts `Conv2D`, `DepthwiseConv2D`, `SeparableConv2D` and `Affine`/`Dense`
    layers, kzoo's and Keras's, from their input and output shapes in the
    functional graph; nested models are walked. Spatial sizes must be known
    (build the model with a fixed input shape). MobileNet (V1) at 224×224 has
    569 M multiply-accumulates, MobileNetV2 301 M, as their papers count.

    Args:
        model: a built functional `keras.Model`.

    Returns:
        int, the FLOP count.

    Examples:
        >>> model = kzoo.create_model("lenet")
        >>> kzoo.models.count_flops(model)
        4586000
    """
    from kzoo import layers as kl

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            macs += count_flops(layer) // 2
            continue
        is_conv = isinstance(layer, (kl.Conv2D, keras.layers.Conv2D))
        is_depthwise = isinstance(layer, (kl.DepthwiseConv2D, kl.SeparableConv2D,
                                          keras.layers.DepthwiseConv2D,
                                          keras.layers.SeparableConv2D))
        is_dense = isinstance(layer, (kl.Affine, keras.layers.Dense))
        if not (is_conv or is_depthwise or is_dense):
            continue
        # Node 0 is the call that built `model` (later nodes belong to models
        # made from it, such as feature extractors).
        input_shape = tuple(layer.input.shape)
        output_shape = tuple(layer.output.shape)
        if any(d is None for d in output_shape[1:]):
            raise ValueError(
                f"count_flops needs known spatial sizes; layer {layer.name!r} has output "
                f"shape {output_shape}. Received: model {model.name!r}"
            )
        fn = _conv_macs if is_conv else _depthwise_macs if is_depthwise else _dense_macs
        macs += fn(layer, output_shape, input_shape)
    return 2 * macs
