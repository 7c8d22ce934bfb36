"""Lowering a model for export: kzoo's Im2Col layers to their native twins, mixed
precision to float32.

Every kzoo layer with an `implementation` argument computes the same function
with the same weights either way (the layer tests prove it against Keras's own
layers). A runtime such as LiteRT takes the native graph (one convolution op)
but not every op of the Im2Col graph, so an export traces the model with the
native implementation: `with native_implementation(model): ...`.
"""

import contextlib

import keras


def _kzoo_layers(model):
    """Every kzoo layer of `model` (nested models and layers too), `model` itself included."""
    layers = [model]
    if hasattr(model, "_flatten_layers"):
        layers = list(model._flatten_layers(include_self=True, recursive=True))
    return [layer for layer in layers
            if type(layer).__module__.startswith("kzoo.")
            and getattr(layer, "implementation", None) in ("native", "im2col")]


def _native_possible(layer):
    """Whether the framework's kernels take the layer's options (strides and dilation
    above 1 together have no native kernel)."""
    strides = getattr(layer, "strides", None) or (1,)
    dilation = getattr(layer, "dilation_rate", None) or (1,)
    return not (max(strides) > 1 and max(dilation) > 1)


def im2col_layers(model):
    """The kzoo layers of `model` that run as Im2Col (`implementation="im2col"`)."""
    return [layer for layer in _kzoo_layers(model) if layer.implementation == "im2col"]


@contextlib.contextmanager
def native_implementation(model):
    """Within the block, every kzoo layer of `model` that runs as Im2Col runs natively
    (same weights, same results up to float round-off); restored on exit.

    Functions traced inside the block (an export's signatures) keep the native ops.
    Layers without a native kernel for their options (strides and dilation above 1
    together) stay Im2Col.

    Yields:
        The layers switched.

    Examples:
        >>> model = kzoo.create_model("lenet", conv_impl="im2col")
        >>> with kzoo.layers.native_implementation(model) as switched:
        ...     fn = tf.function(model).get_concrete_function(spec)
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(f"Argument `model` must be a Keras model or layer. "
                         f"Received: model={model!r}")
    switched = [layer for layer in im2col_layers(model) if _native_possible(layer)]
    for layer in switched:
        layer.implementation = "native"
    try:
        yield switched
    finally:
        for layer in switched:
            layer.implementation = "im2col"


def _mixed_layers(model):
    layers = [model]
    if hasattr(model, "_flatten_layers"):
        layers = list(model._flatten_layers(include_self=True, recursive=True))
    return [layer for layer in layers
            if getattr(layer, "dtype_policy", None) is not None
            and layer.dtype_policy.quantization_mode is None
            and layer.dtype_policy.compute_dtype != "float32"
            and layer.dtype_policy.variable_dtype == "float32"]


@contextlib.contextmanager
def float32_compute(model):
    """Within the block, every layer of `model` under a mixed precision policy
    (`mixed_float16`, `mixed_bfloat16`: float32 variables, half compute) computes in
    float32; restored on exit.

    Runtimes such as LiteRT's builtins and most ONNX runtimes on CPU take float32
    graphs: an export of a model trained with mixed precision traces it in float32
    (the same weights, float32 round-off instead of float16's).

    Yields:
        The layers switched.
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(f"Argument `model` must be a Keras model or layer. "
                         f"Received: model={model!r}")
    switched = [(layer, layer.dtype_policy) for layer in _mixed_layers(model)]
    for layer, _ in switched:
        layer.dtype_policy = "float32"
    try:
        yield [layer for layer, _ in switched]
    finally:
        for layer, policy in switched:
            layer.dtype_policy = policy


__all__ = ["float32_compute", "im2col_layers", "native_implementation"]
