"""`kzoo export`: a model as a version of a served model, in TF Serving's layout."""

import click

from kzoo.serving import DEFAULT_BASE, FORMATS, export_version
from kzoo.serving.export import MAX_VERSION
from kzoo.serving.litert import INPUT_TYPES, QUANTIZATIONS


def _version(value):
    if value is None:
        return None
    digits = value.strip()
    # ASCII digits only ("²".isdigit() is true), within TF Serving's int64 versions.
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= MAX_VERSION:
        raise ValueError(f"Argument `version` (--version) must be a positive int of at most "
                         f"{MAX_VERSION}. Received: version={value!r}")
    return int(digits)


@click.command("export")
@click.argument("source")
@click.option("--name", required=True, help="The served model's name (BASE/NAME/VERSION).")
@click.option("--version", "version", default=None, metavar="N",
              help="Version number [default: the highest existing version + 1, from 1].")
@click.option("--base", default=DEFAULT_BASE, show_default=True,
              help="TF Serving's model base folder.")
@click.option("--format", "format_", default="saved_model", show_default=True,
              metavar="|".join(FORMATS),
              help="A SavedModel (signatures serving_default and predict_images), a LiteRT "
                   "flatbuffer (model.tflite, builtin ops only), an ONNX model (model.onnx) "
                   "or all three side by side (the SavedModel with model.tflite and "
                   "model.onnx beside it). Each is run through its runtime and compared "
                   "with the Keras model before it is written.")
@click.option("--quantize", default="none", show_default=True,
              metavar="|".join(QUANTIZATIONS),
              help="The LiteRT file: float32, float16 weights, or full-integer int8 "
                   "(calibrated on --calibration-data; its test accuracy is measured and "
                   "written into kzoo.json).")
@click.option("--calibration-data", default=None, metavar="DATASET|FOLDER",
              help="int8: calibration images, a dataset name or a folder of images "
                   "[default: the source's training dataset].")
@click.option("--input-type", default="uint8", show_default=True,
              metavar="|".join(INPUT_TYPES),
              help="int8: the LiteRT file's input type (kzoo.json gives its scale and zero "
                   "point).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing version (only a kzoo export, never another folder).")
def export_cmd(source, name, version, base, format_, quantize, calibration_data, input_type,
               overwrite):
    """Export SOURCE for serving into BASE/NAME/VERSION/, atomically.

    SOURCE is a run directory (its model.keras), a .keras file or a zoo
    checkpoint name (lenet_fashion_mnist).
    """
    path, info = export_version(source, name, version=_version(version), base=base,
                                format=format_, quantize=quantize,
                                calibration_data=calibration_data, input_type=input_type,
                                overwrite=overwrite)
    signatures = ", ".join(info.get("signatures") or {}) or "serving_default"
    click.echo(f"exported {source} ({info['params']:,} parameters, "
               f"{len(info['class_names'] or []) or 'unnamed'} classes) as {format_} to {path}"
               + (f"; signatures {signatures}" if format_ in ("saved_model", "all") else ""))
    for runtime, entry in (info.get("formats") or {}).items():
        line = f"  {runtime}: {entry.get('runtime')}"
        if "file" in entry:
            line += f", {entry['file']} {entry['bytes'] / 1e6:.2f} MB"
        if entry.get("quantize", "none") != "none":
            line += f", {entry['quantize']}"
        line += (f", {entry['check_images']} check images: max |Δp| "
                 f"{entry['max_abs_diff']:.1e}, top-1 agreement {entry['top1_agreement']:.0%}")
        if entry.get("test_accuracy") is not None:
            line += (f"; test accuracy {entry['test_accuracy']:.4f} on "
                     f"{entry['test_images']:,} {entry['dataset']} images")
            line += f" (the Keras model on them: {entry['keras_test_accuracy']:.4f})"
        click.echo(line)


COMMANDS = (export_cmd,)
