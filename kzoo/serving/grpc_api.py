"""TF Serving's gRPC API in `kzoo serve` (`--grpc-port`, 8500 by default).

The two services of `tensorflow_serving/apis/*_service.proto`, answered from the
server's `Registry` with the messages of the `tensorflow-serving-api` package
(no generated code of kzoo's own):

- `tensorflow.serving.PredictionService`: `Predict` (inputs as `TensorProto`s,
  in their typed fields or `tensor_content`; outputs in the typed fields,
  `float_val`, `int64_val`, `string_val`, ..., as TF Serving answers them),
  `GetModelMetadata` (the `SignatureDefMap`); `Classify`, `Regress` and
  `MultiInference` are UNIMPLEMENTED (kzoo's exports have predict signatures);
- `tensorflow.serving.ModelService`: `GetModelStatus`,
  `HandleReloadConfigRequest`.

Status codes and messages are TF Serving's (`predict_util.cc`,
`saved_model/util.cc`, `get_model_metadata_impl.cc`, `get_model_status_impl.cc`,
`server_core.cc`, `basic_manager.cc`), messages cut at 1024 characters as its
`ToGRPCStatus` does. Unlike TF Serving, every input is checked against the
signature (dtype exactly, rank and known dimensions) before the model runs: a
tensor of the wrong rank can abort the process inside oneDNN.

The server is grpcio's thread-pool server, beside the REST server's event loop
and on the same registry: a Predict is decoded, run (`run_signature`) and
answered in gRPC's worker thread, with no hop to another thread (measured: 0.3
to 0.4 ms less per request than `grpc.aio` on the event loop with the call in
`server.executor`). Under `--batching` the request joins `server.batcher` on the
event loop (`asyncio.run_coroutine_threadsafe`), so that gRPC and REST requests
batch together. Requests and answers are (de)serialized here, not by gRPC. A
batched answer carries the trailing metadata `x-kzoo-batch-rows` (REST's
`X-Kzoo-Batch-Rows`). Message size limits are TF Serving's (INT32_MAX).
"""

import asyncio
import concurrent.futures
import functools
import socket
import threading
import time

import grpc
import numpy as np

from kzoo.serving.rest import (DEFAULT_SIGNATURE, RequestError, _dt_name, _shape_text,
                               check_inputs, run_signature)

#: TF Serving's gRPC port (`kzoo serve --grpc-port`).
DEFAULT_PORT = 8500
#: TF Serving's message size limit, both ways (gRPC's default receive limit is 4 MiB).
MAX_MESSAGE_BYTES = 2 ** 31 - 1
#: TF Serving's `ToGRPCStatus` cuts messages at this length and appends "...TRUNCATED".
_MESSAGE_LIMIT = 1024
#: gRPC worker threads when the server has no more model threads than this (each
#: RPC in progress holds one, also while it waits for its batch).
MIN_THREADS = 32

_PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
_MODEL_SERVICE = "tensorflow.serving.ModelService"
_UNIMPLEMENTED = ("kzoo serve answers Predict only: kzoo's exports have predict "
                  "signatures (use Predict, or REST :predict)")
_RELOAD_UNSUPPORTED = ("ServerModelConfig type not supported by HandleReloadConfigRequest. "
                       "Only ModelConfigList is currently supported")


def _invalid(message):
    return RequestError(400, message, code="INVALID_ARGUMENT")


# --------------------------------------------------------------------------- #
# Tensors: TensorProto <-> numpy
# --------------------------------------------------------------------------- #


@functools.cache
def _typed():
    """{DataType: (typed field, numpy dtype)} of the dtypes read and written directly."""
    from tensorflow.core.framework import types_pb2 as t

    return {t.DT_FLOAT: ("float_val", np.float32), t.DT_DOUBLE: ("double_val", np.float64),
            t.DT_INT32: ("int_val", np.int32), t.DT_INT16: ("int_val", np.int16),
            t.DT_INT8: ("int_val", np.int8), t.DT_UINT8: ("int_val", np.uint8),
            t.DT_UINT16: ("int_val", np.uint16), t.DT_INT64: ("int64_val", np.int64),
            t.DT_UINT32: ("uint32_val", np.uint32), t.DT_UINT64: ("uint64_val", np.uint64),
            t.DT_BOOL: ("bool_val", np.bool_)}


def _dtype_name(enum):
    from tensorflow.core.framework import types_pb2

    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return str(enum)


def to_array(proto, spec, alias):
    """The input `proto` (a `TensorProto`) as a numpy array of the signature's `spec` (a
    `tf.TensorSpec`): its dtype exactly, its rank and known dimensions; else an
    INVALID_ARGUMENT `RequestError`. Strings become an object array of bytes."""
    want = spec.dtype.as_datatype_enum
    if proto.dtype != want:
        raise _invalid(f"input '{alias}': expected {_dt_name(spec.dtype)}, got "
                       f"{_dtype_name(proto.dtype)}")
    dims = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(d < 0 for d in dims):
        raise _invalid(f"tensor parsing error: {alias}")  # TF's Tensor::FromProto fails
    shape = spec.shape
    if shape.rank is not None:
        if len(dims) != shape.rank:
            raise _invalid(f"input '{alias}': expected a tensor of rank {shape.rank} "
                           f"(shape {_shape_text(shape)}), got shape {dims}")
        if any(w is not None and w != d for w, d in zip(shape.as_list(), dims)):
            raise _invalid(f"input '{alias}': expected shape {_shape_text(shape)}, got {dims}")
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    typed = _typed().get(proto.dtype)
    itemsize = np.dtype(typed[1]).itemsize if typed else 8
    if count * itemsize > MAX_MESSAGE_BYTES:  # padded typed fields could ask for terabytes
        raise _invalid(f"input '{alias}': a tensor of shape {dims} is too large")
    if typed is not None:
        field, dtype = typed
        if proto.tensor_content:
            content = proto.tensor_content
            if len(content) != count * itemsize:
                raise _invalid(f"tensor parsing error: {alias}")
            return np.frombuffer(content, dtype=dtype).reshape(dims)
        values = getattr(proto, field)
        if len(values) == count:
            try:
                return np.array(values, dtype=dtype).reshape(dims)
            except (OverflowError, ValueError):
                raise _invalid(f"tensor parsing error: {alias}") from None
    # Strings, halves, fewer values than elements (TF repeats the last one), ...
    import tensorflow as tf

    try:
        array = tf.make_ndarray(proto)
    except Exception:  # noqa: BLE001 - whatever TF refuses is a parsing error
        raise _invalid(f"tensor parsing error: {alias}") from None
    if list(array.shape) != dims:
        raise _invalid(f"tensor parsing error: {alias}")
    return array


def fill_tensor_proto(proto, array):
    """Writes `array` into `proto` (a `TensorProto`) as TF Serving answers a tensor
    (`Tensor::AsProtoField`): dtype, shape and the typed field (`float_val`,
    `int64_val`, `string_val`, ...), not `tensor_content`."""
    from tensorflow.core.framework import types_pb2 as t

    array = np.asarray(array)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    flat = array.reshape(-1)
    if array.dtype.kind in "OSU":
        proto.dtype = t.DT_STRING
        proto.string_val.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v)
                                for v in flat.tolist())
        return proto
    import tensorflow as tf

    enum = tf.as_dtype(array.dtype).as_datatype_enum
    proto.dtype = enum
    typed = _typed().get(enum)
    if typed is not None:
        getattr(proto, typed[0]).extend(flat.tolist())
    elif enum in (t.DT_HALF, t.DT_BFLOAT16):
        proto.half_val.extend(flat.view(np.uint16).tolist())
    elif enum == t.DT_COMPLEX64:
        proto.scomplex_val.extend(flat.view(np.float32).tolist())
    elif enum == t.DT_COMPLEX128:
        proto.dcomplex_val.extend(flat.view(np.float64).tolist())
    else:  # resources, variants: no typed field to write
        raise RequestError(500, f"cannot answer an output of dtype {_dtype_name(enum)}",
                           code="INTERNAL")
    return proto


# --------------------------------------------------------------------------- #
# Requests
# --------------------------------------------------------------------------- #


def _servable(registry, model_spec):
    """The servable a `ModelSpec` asks for (`ServerCore::ServableRequestFromModelSpec`)."""
    if not model_spec.name:
        raise _invalid("ModelSpec has no name specified.")
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return registry.get(model_spec.name, model_spec.version.value)
    if choice == "version_label":
        return registry.get(model_spec.name, label=model_spec.version_label)
    return registry.get(model_spec.name)


def _joined(names):
    return ",".join(sorted(names))


def _inputs(signature, signature_def, request_inputs):
    """{alias: array} of a PredictRequest's `inputs` (`saved_model::GetInputValues`, after
    `VerifyRequestInputsSize`; kzoo's signatures have no default inputs)."""
    wanted, sent = set(signature.inputs), set(request_inputs)
    if len(sent) != len(wanted):
        raise _invalid(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{_joined(sent)}}}) != len({{{_joined(wanted)}}}). "
            f"Sent extra: {{{_joined(sent - wanted)}}}. "
            f"Missing but required: {{{_joined(wanted - sent)}}}.")
    arrays = {}
    for alias in sorted(wanted):
        if alias not in request_inputs:
            feed = signature_def.inputs[alias].name if signature_def is not None else alias
            raise _invalid(
                f"Signature input alias: {alias}(feed name: {feed}) not found in request and "
                f"no default value provided. Inputs expected to be in the request "
                f"{{{_joined(sent)}}}, or default input alias set: ")
        arrays[alias] = to_array(request_inputs[alias], signature.inputs[alias], alias)
    return arrays


def _output_aliases(signature, output_filter):
    """The outputs a PredictRequest asks for, in its order (all when none is named)."""
    if not output_filter:
        return list(signature.outputs)
    aliases = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise _invalid(f"output tensor alias not found in signature: {alias} Outputs "
                           f"expected to be in the set {{{_joined(signature.outputs)}}}.")
        if alias in aliases:
            raise _invalid(f"duplicate output tensor alias: {alias}")
        aliases.append(alias)
    return aliases


class _Prediction:
    """A decoded PredictRequest: what to run, on what, and what to answer."""

    __slots__ = ("request", "servable", "signature_name", "signature", "arrays", "aliases")

    def __init__(self, registry, raw, call):
        from tensorflow_serving.apis import predict_pb2

        self.request = request = _parse(predict_pb2.PredictRequest, raw)
        call.model = request.model_spec.name
        if not request.HasField("model_spec"):
            raise _invalid("Missing ModelSpec")
        self.servable = _servable(registry, request.model_spec)
        self.signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        self.signature = self.servable.signatures.get(self.signature_name)
        if self.signature is None:
            raise RequestError(400, f'Serving signature key "{self.signature_name}" not '
                                    f'found.', code="FAILED_PRECONDITION")
        defs = self.servable.signature_def_map.signature_def
        signature_def = defs[self.signature_name] if self.signature_name in defs else None
        self.arrays = _inputs(self.signature, signature_def, request.inputs)
        self.aliases = _output_aliases(self.signature, request.output_filter)

    def answer(self, outputs):
        """The serialized PredictResponse of `outputs` ({alias: array})."""
        from tensorflow_serving.apis import predict_pb2

        response = predict_pb2.PredictResponse()
        spec = response.model_spec
        spec.name = self.request.model_spec.name
        spec.signature_name = self.signature_name
        spec.version.value = self.servable.version
        for alias in self.aliases:
            fill_tensor_proto(response.outputs[alias], outputs[alias])
        return response.SerializeToString()


def _parse(message_type, raw):
    from google.protobuf.message import DecodeError

    try:
        return message_type.FromString(raw)
    except DecodeError as e:  # INTERNAL, as gRPC C++'s protobuf deserializer answers it
        raise RequestError(500, f"Failed to parse the {message_type.DESCRIPTOR.name}: {e}",
                           code="INTERNAL") from None


def _model_name(request):
    """The model a request names ("" when none), for the metrics."""
    spec = getattr(request, "model_spec", None)
    if spec is None:  # MultiInferenceRequest: its tasks' specs
        tasks = getattr(request, "tasks", ())
        spec = tasks[0].model_spec if len(tasks) else None
    return spec.name if spec is not None else ""


def _truncated(message):
    message = str(message)
    if len(message) > _MESSAGE_LIMIT:
        return message[:_MESSAGE_LIMIT] + "...TRUNCATED"
    return message


# --------------------------------------------------------------------------- #
# The services
# --------------------------------------------------------------------------- #


class _Call:
    """One RPC in progress: the model it names, for the metrics."""

    __slots__ = ("model",)

    def __init__(self):
        self.model = ""


class _Clients:
    """The gRPC clients (peers) of the last few seconds, for the batcher's early start
    (`ModelServer.idle_connections`; thread-safe).

    A REST connection carries one request at a time, so a connection without a
    request in the server is one that may still send one. A gRPC connection
    multiplexes (channels to one target in one process share it): a peer may
    still send as many requests as its recent peak of requests in the server
    minus those in it now. A peak not reached again for `RECENT` s falls to what
    is in the server then; a peer unseen for `RECENT` s is forgotten (gRPC keeps
    no count of open connections that a handler could read).
    """

    # Waiting for a peer is worth it only if it sends again within the batch timeout
    # (5 ms by default); one silent for 50 timeouts is not waited for (and one that
    # left, which gRPC does not tell, is forgotten that soon).
    RECENT = 0.25

    def __init__(self):
        # peer -> [Predicts in the server, last seen, recent peak, when it was reached]
        self._peers = {}
        self._lock = threading.Lock()

    def enter(self, peer):
        now = time.monotonic()
        with self._lock:
            state = self._peers.setdefault(peer, [0, now, 0, now])
            state[0] += 1
            state[1] = now
            if state[0] >= state[2]:
                state[2], state[3] = state[0], now

    def leave(self, peer):
        with self._lock:
            state = self._peers.get(peer)
            if state is not None:
                state[0] -= 1
                state[1] = time.monotonic()

    def idle(self):
        """How many requests recent peers may still send (0: none is expected)."""
        now = time.monotonic()
        count = 0
        with self._lock:
            for peer, state in list(self._peers.items()):
                inside, seen, peak, reached = state
                if inside <= 0 and now - seen > self.RECENT:
                    del self._peers[peer]
                    continue
                if inside < peak and now - reached > self.RECENT:
                    peak = state[2] = max(inside, 1)
                    state[3] = now
                count += max(0, peak - inside)
        return count


class GrpcServices:
    """TF Serving's `PredictionService` and `ModelService` answered from `server` (a
    `kzoo.serving.server.ModelServer`: its `registry`, `batcher` and, when set,
    `metrics`); `loop` is the event loop of `server.batcher`. `handlers()` gives them
    to a `grpc.Server`; every handler runs in one of gRPC's worker threads."""

    def __init__(self, server, loop=None):
        self.server = server
        self.loop = loop
        self.clients = _Clients()

    def handlers(self):
        """The generic RPC handlers of both services (requests and answers as bytes)."""
        from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

        def method(api, handle):
            def behavior(raw, context):
                return self._answer(api, handle, raw, context)
            return grpc.unary_unary_rpc_method_handler(behavior)

        prediction = {name: method(name, handle) for name, handle in (
            ("Predict", self._predict), ("GetModelMetadata", self._get_model_metadata),
            ("Classify", _unimplemented(classification_pb2.ClassificationRequest)),
            ("Regress", _unimplemented(regression_pb2.RegressionRequest)),
            ("MultiInference", _unimplemented(inference_pb2.MultiInferenceRequest)))}
        model = {"GetModelStatus": method("GetModelStatus", self._get_model_status),
                 "HandleReloadConfigRequest": method(None, self._reload_config)}
        return (grpc.method_handlers_generic_handler(_PREDICTION_SERVICE, prediction),
                grpc.method_handlers_generic_handler(_MODEL_SERVICE, model))

    def _answer(self, api, handle, raw, context):
        """Runs `handle(raw, context, call)`; an error becomes the RPC's status; records
        the RPC in the server's metrics (`api` None: not recorded)."""
        start = time.perf_counter()
        call, code, message = _Call(), "OK", ""
        try:
            return handle(raw, context, call)
        except RequestError as e:
            code, message = e.code, e.message
        except concurrent.futures.CancelledError:  # its batch was cancelled (shutdown)
            code, message = "CANCELLED", "the server is shutting down"
        except Exception as e:  # noqa: BLE001 - never let one request stop the server
            code, message = "INTERNAL", f"{type(e).__name__}: {' '.join(str(e).split())}"
        finally:
            self._record(call.model, api, code, time.perf_counter() - start)
        status = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
        context.abort(status, _truncated(message))

    def _record(self, model, api, code, seconds):
        metrics = getattr(self.server, "metrics", None)
        if metrics is None or api is None:
            return
        try:
            metrics.record_request(model, api, "GRPC", code, seconds)
        except Exception:  # noqa: BLE001 - metrics never break a request
            pass

    def _record_runtime(self, model, seconds):
        metrics = getattr(self.server, "metrics", None)
        if metrics is None:
            return
        try:
            metrics.record_runtime(model, "Predict", seconds)
        except Exception:  # noqa: BLE001 - metrics never break a request
            pass

    def _predict(self, raw, context, call):
        peer = context.peer()
        self.clients.enter(peer)
        try:
            return self._predict_inside(raw, context, call)
        finally:
            self.clients.leave(peer)

    def _predict_inside(self, raw, context, call):
        prediction = _Prediction(self.server.registry, raw, call)
        signature, arrays = prediction.signature, prediction.arrays
        # Encoded images over `kzoo serve --max-image-pixels`: refused before decoding.
        check_inputs(signature, arrays, getattr(self.server, "max_image_pixels", None))
        batcher = self.server.batcher
        start = time.perf_counter()
        if batcher is None or self.loop is None or not batcher.accepts(signature, arrays):
            outputs = run_signature(signature, arrays)
            self._record_runtime(call.model, time.perf_counter() - start)
            return prediction.answer(outputs)
        future = asyncio.run_coroutine_threadsafe(
            batcher.run(signature, arrays, self.server.executor), self.loop)
        try:
            outputs, rows = future.result()
        finally:
            future.cancel()  # the loop stopped: nothing more to wait for
        # With its wait for the batch, as TF Serving's batching session (and REST).
        self._record_runtime(call.model, time.perf_counter() - start)
        context.set_trailing_metadata((("x-kzoo-batch-rows", str(rows)),))
        return prediction.answer(outputs)

    def _get_model_metadata(self, raw, context, call):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = _parse(get_model_metadata_pb2.GetModelMetadataRequest, raw)
        call.model = request.model_spec.name
        if not request.HasField("model_spec"):
            raise _invalid("Missing ModelSpec")
        if not request.metadata_field:
            raise _invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise _invalid(f"Metadata field {field} is not supported")
        servable = _servable(self.server.registry, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(servable.signature_def_map)
        return response.SerializeToString()

    def _get_model_status(self, raw, context, call):
        from tensorflow_serving.apis import get_model_status_pb2

        request = _parse(get_model_status_pb2.GetModelStatusRequest, raw)
        call.model = name = request.model_spec.name
        if not request.HasField("model_spec"):
            raise _invalid("Missing ModelSpec")
        registry = self.server.registry
        if request.model_spec.HasField("version"):
            version = request.model_spec.version.value
            try:
                servables = [registry.get(name, version)]
            except RequestError:
                raise RequestError(404, f"Could not find version {version} of model "
                                        f"{name}") from None
        else:
            try:
                servables = registry.versions(name)
            except RequestError:
                raise RequestError(404, f"Could not find any versions of model "
                                        f"{name}") from None
        response = get_model_status_pb2.GetModelStatusResponse()
        for servable in servables:
            status = response.model_version_status.add()
            status.version = servable.version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.error_code = 0  # OK
        return response.SerializeToString()

    def _reload_config(self, raw, context, call):
        from tensorflow_serving.apis import model_management_pb2

        request = _parse(model_management_pb2.ReloadConfigRequest, raw)
        if request.config.WhichOneof("config") != "model_config_list":
            raise _invalid(_RELOAD_UNSUPPORTED)
        try:
            self.server.set_config(request.config)
        except ValueError as e:
            raise _invalid(str(e)) from None
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = 0  # OK
        return response.SerializeToString()


def _unimplemented(request_type):
    """The handler of a method kzoo serve does not answer (UNIMPLEMENTED)."""
    def handle(raw, context, call):
        try:
            call.model = _model_name(request_type.FromString(raw))
        except Exception:  # noqa: BLE001 - the answer is UNIMPLEMENTED anyway
            pass
        raise RequestError(501, _UNIMPLEMENTED, code="UNIMPLEMENTED")
    return handle


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #


def address(host, port):
    """The gRPC target of `host` and `port` ("[::1]:8500" for an IPv6 host)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def reserve_port(host, port):
    """A socket bound to `(host, port)` (port 0: a free one), to hold the gRPC port
    from a server's construction until `start`; a ValueError naming `--grpc-port`
    when the port is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As the REST socket (socket.create_server): a port left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ValueError(f"Argument `grpc_port` (--grpc-port): cannot listen on "
                         f"{address(host, port)} ({e.strerror or e}; another server may "
                         f"be using it; 0 picks a free port). Received: grpc_port={port}"
                         ) from None
    return sock


def start(server, host, port, loop=None):
    """Starts TF Serving's gRPC services of `server` on `host:port` (port 0: a free one)
    in a thread-pool server of its own; `loop` is the event loop of `server.batcher`
    (batched requests join it there). Returns `(grpc.Server, bound port)`; the
    services are `server.grpc_services` (`GrpcServices`).

    Raises a ValueError naming `--grpc-port` if the port cannot be bound.
    """
    services = server.grpc_services = GrpcServices(server, loop)
    threads = max(MIN_THREADS, getattr(server.executor, "_max_workers", 0))
    batcher = server.batcher
    if batcher is not None:  # every request of a full batch waits in a thread
        threads += batcher.max_batch_size * batcher.num_batch_threads
    grpc_server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=threads,
                                              thread_name_prefix="kzoo-serve-grpc"),
        handlers=services.handlers(),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 # gRPC sets SO_REUSEPORT by default: a second server on the same port
                 # would then share it silently instead of failing.
                 ("grpc.so_reuseport", 0)])
    try:
        bound = grpc_server.add_insecure_port(address(host, port))
    except RuntimeError as e:  # grpcio >= 1.50 raises; older versions return 0
        bound, error = 0, e
    else:
        error = None
    if not bound:
        grpc_server.stop(None)
        raise ValueError(f"Argument `grpc_port` (--grpc-port): cannot listen on "
                         f"{address(host, port)} ({error or 'in use'}). "
                         f"Received: grpc_port={port}")
    grpc_server.start()
    return grpc_server, bound


def stop(grpc_server, grace=1.0):
    """Stops `grpc_server`, letting RPCs in progress finish for up to `grace` s; returns
    when it has stopped (keep the batcher's event loop running meanwhile)."""
    grpc_server.stop(grace).wait()


__all__ = ["DEFAULT_PORT", "GrpcServices", "MAX_MESSAGE_BYTES", "address", "fill_tensor_proto",
           "reserve_port", "start", "stop", "to_array"]
