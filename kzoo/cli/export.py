"""`kzoo export`: a model as a version of a served model, in TF Serving's layout."""

import click

from kzoo.serving import DEFAULT_BASE, export_version


def _version(value):
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"Argument `version` (--version) must be a positive int. "
                         f"Received: version={value!r}")
    return int(value)


@click.command("export")
@click.argument("source")
@click.option("--name", required=True, help="The served model's name (BASE/NAME/VERSION).")
@click.option("--version", "version", default=None, metavar="N",
              help="Version number [default: the highest existing version + 1, from 1].")
@click.option("--base", default=DEFAULT_BASE, show_default=True,
              help="TF Serving's model base folder.")
@click.option("--format", "format_", default="saved_model", show_default=True,
              metavar="saved_model|tflite",
              help="A SavedModel (signatures serving_default and predict_images) or a LiteRT "
                   "flatbuffer (model.tflite, builtin ops only).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing version (only a kzoo export, never another folder).")
def export_cmd(source, name, version, base, format_, overwrite):
    """Export SOURCE for serving into BASE/NAME/VERSION/, atomically.

    SOURCE is a run directory (its model.keras), a .keras file or a zoo
    checkpoint name (lenet_fashion_mnist).
    """
    path, info = export_version(source, name, version=_version(version), base=base,
                                format=format_, overwrite=overwrite)
    signatures = ", ".join(info.get("signatures") or {}) or "serving_default"
    click.echo(f"exported {source} ({info['params']:,} parameters, "
               f"{len(info['class_names'] or []) or 'unnamed'} classes) as {format_} to {path}"
               + (f"; signatures {signatures}" if format_ == "saved_model" else ""))


COMMANDS = (export_cmd,)
