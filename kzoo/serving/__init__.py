"""Serving: exports for TF Serving, LiteRT and ONNX (`kzoo.serving.export`,
`export_version`; LiteRT conversion and quantization in `kzoo.serving.litert`, ONNX in
`kzoo.serving.onnx`),
a TF Serving REST and gRPC server (`kzoo serve`, `kzoo.serving.server`, with its REST
formats in `kzoo.serving.rest`, its gRPC services in `kzoo.serving.grpc_api`, its
served models and model config files in `kzoo.serving.servables`, its Prometheus
metrics in `kzoo.serving.metrics` and its batching in `kzoo.serving.batching`) and its
`Client` (REST or gRPC)."""

from kzoo.serving.export import (
    DEFAULT_BASE,
    FORMATS,
    QUANTIZATIONS,
    decode_image,
    export,
    export_saved_model,
    export_version,
    is_export,
    load_source,
    versions,
)
from kzoo.serving.client import Client, ServingConnectionError, ServingError

__all__ = ["DEFAULT_BASE", "FORMATS", "QUANTIZATIONS", "decode_image", "export",
           "export_saved_model", "export_version", "is_export", "load_source", "versions",
           "Client", "ServingConnectionError", "ServingError"]
