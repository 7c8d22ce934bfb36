"""LiteRT (TensorFlow Lite) export: conversion, quantization and a run in LiteRT itself.

`convert(saved_model_dir)` converts a SavedModel's `serving_default` (input
`images`, raw pixels 0-255; outputs `probabilities`, `classes`) with builtin ops
only (no Flex ops: `ai-edge-litert`, the standalone runtime, has none):

- `quantize="none"`: float32;
- `quantize="float16"`: float16 weights (computed in float32);
- `quantize="int8"`: full-integer post-training quantization calibrated on
  `representative` images: int8 weights and activations, integer ops only,
  input `images` as `input_type` ("uint8", the default, or "int8"), quantized
  with the scale and zero point `input_quantization()` reads from the file (for
  raw pixels calibrated on 0-255: scale 1, zero point 0 for uint8); outputs
  `probabilities` as float32 and `classes` as int64, as the float file's.

`Runner` runs a flatbuffer through `ai_edge_litert.interpreter.Interpreter` (the
runtime users deploy, not TensorFlow) and `check_runs` compares it with the
Keras model before an export is published.
"""

import os
import re

import numpy as np

QUANTIZATIONS = ("none", "float16", "int8")
"""`kzoo export --quantize`: float32, float16 weights, or full-integer int8."""
INPUT_TYPES = ("uint8", "int8")
"""The input type of a full-integer (int8) LiteRT file."""
SIGNATURE = "serving_default"


def _runtime():
    try:
        from ai_edge_litert import interpreter
    except ImportError:  # pragma: no cover - the export extra installs it
        raise ValueError("Argument `format`: running a LiteRT file needs the `ai-edge-litert` "
                         "package (pip install 'kzoo[export]'). Received: format='tflite'"
                         ) from None
    return interpreter


def runtime_version():
    """`"ai-edge-litert X.Y.Z"`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ai-edge-litert {version('ai-edge-litert')}"
    except PackageNotFoundError:  # pragma: no cover
        return "ai-edge-litert"


def _ops_of(message):
    """The TF op names a converter error names (`tf.Foo`, 'Foo' op)."""
    names = re.findall(r"\btf\.([A-Z][A-Za-z0-9]+)", message)
    names += re.findall(r"'([A-Z][A-Za-z0-9]+)' op", message)
    return sorted(set(names))


def _layers_of(message, layer_names=()):
    """The layers a converter error's locations name: each op's location is its path in
    the traced graph ("model/layer_1/Op@__inference_..."), whose parts are layer names
    (Keras appends "_N" to a name scope it has seen before)."""
    known = set(layer_names)
    found = []
    for path in re.findall(r'"([^"@]+)@__inference', message):
        for part in path.split("/")[:-1]:
            name = part if part in known else re.sub(r"_\d+$", "", part)
            if name in known and name not in found:
                found.append(name)
    return found


def convert(saved_model_dir, *, quantize="none", representative=None, input_type="uint8",
            layer_names=()):
    """The LiteRT flatbuffer (bytes) of the SavedModel's `serving_default`, builtin ops only.

    Args:
        saved_model_dir: a SavedModel with a `serving_default` of one float32 input.
        quantize: "none", "float16" or "int8" (see the module).
        representative: int8 only: calibration images, an array `(N, H, W, C)` of raw
            pixels (a few hundred; the run's training images).
        input_type: int8 only: "uint8" or "int8".
        layer_names: the model's layer names, to name the layer of an op that fails.

    Raises:
        ValueError: the model needs ops LiteRT's builtins lack (the message names the
            ops and, where the converter says, the layers), or a bad argument.
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Argument `quantize` must be one of {list(QUANTIZATIONS)}. "
                         f"Received: quantize={quantize!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        os.fspath(saved_model_dir), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if input_type not in INPUT_TYPES:
            raise ValueError(f"Argument `input_type` (--input-type) must be one of "
                             f"{list(INPUT_TYPES)}. Received: input_type={input_type!r}")
        if representative is None or len(representative) == 0:
            raise ValueError("Argument `calibration_data` (--calibration-data): int8 "
                             "quantization needs calibration images (the run's training "
                             "data, a dataset name or a folder). Received: none")
        samples = np.asarray(representative, dtype=np.float32)

        def dataset():
            for image in samples:
                yield {"images": image[None]}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.inference_input_type = tf.uint8 if input_type == "uint8" else tf.int8
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends: the model needs other ops
        message = " ".join(str(e).split())
        ops, layers = _ops_of(message), _layers_of(message, layer_names)
        raise ValueError(
            "Argument `format`: the model cannot be converted to a LiteRT flatbuffer with "
            "builtin ops only"
            + (f": ops {', '.join(ops)}" if ops else "")
            + (f" in layer(s) {', '.join(layers)}" if layers else "")
            + f" ({message[:600]}). Export it with format='saved_model' or 'onnx' instead. "
              f"Received: format='tflite'") from None


class Runner:
    """A LiteRT flatbuffer (bytes or a path) run through `ai_edge_litert`'s interpreter.

    `runner(images)` answers `{"probabilities": float32 (N, classes), "classes":
    int64 (N,)}` for raw pixels `(N, H, W, C)`, quantizing them first for an int8 file.
    """

    def __init__(self, model, num_threads=None):
        interpreter = _runtime()
        kwargs = {"num_threads": num_threads} if num_threads else {}
        if isinstance(model, (bytes, bytearray)):
            self.interpreter = interpreter.Interpreter(model_content=bytes(model), **kwargs)
        else:
            self.interpreter = interpreter.Interpreter(model_path=os.fspath(model), **kwargs)
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        details = self.runner.get_input_details()["images"]
        self.input_dtype = np.dtype(details["dtype"])
        scale, zero_point = details.get("quantization", (0.0, 0))
        self.input_quantization = (float(scale), int(zero_point))

    def quantize(self, images):
        """`images` (raw pixels, float) as the file's input type."""
        images = np.asarray(images, dtype=np.float32)
        if self.input_dtype == np.float32:
            return images
        scale, zero_point = self.input_quantization
        info = np.iinfo(self.input_dtype)
        q = np.round(images / (scale or 1.0) + zero_point)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def __call__(self, images):
        outputs = self.runner(images=self.quantize(images))
        probabilities = np.asarray(outputs["probabilities"], dtype=np.float32)
        return {"probabilities": probabilities,
                "classes": np.asarray(outputs["classes"]).astype(np.int64)}

    def failing_op(self, error):
        """The op (and its output tensor, which names the layer) of an invoke error
        ("Node number N (OP) failed to invoke"), or None."""
        match = re.search(r"Node number (\d+) \((\w+)\)", str(error))
        if match is None:
            return None
        index, op = int(match.group(1)), match.group(2)
        try:
            details = self.interpreter._get_ops_details()[index]
            tensors = self.interpreter.get_tensor_details()
            names = [tensors[i]["name"] for i in details["outputs"] if 0 <= i < len(tensors)]
        except Exception:  # noqa: BLE001 - the op name alone is still worth saying
            names = []
        return op + (f" (output {names[0]!r})" if names else "")


__all__ = ["INPUT_TYPES", "QUANTIZATIONS", "Runner", "convert", "runtime_version"]
