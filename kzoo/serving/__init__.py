"""Serving: exports for TF Serving and LiteRT (`kzoo.serving.export`, `export_version`)."""

from kzoo.serving.export import (
    DEFAULT_BASE,
    FORMATS,
    decode_image,
    export,
    export_saved_model,
    export_version,
    is_export,
    load_source,
    versions,
)

__all__ = ["DEFAULT_BASE", "FORMATS", "decode_image", "export", "export_saved_model",
           "export_version", "is_export", "load_source", "versions"]
