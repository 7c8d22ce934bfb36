"""A model server speaking TensorFlow Serving's REST API (`kzoo serve BASE`).

It serves every model folder under BASE (TF Serving's model base path layout,
`BASE/NAME/VERSION/`) with all of its versions: numeric subfolders holding a
complete SavedModel (`saved_model.pb` and `variables/`), loaded with plain
`tf.saved_model.load` (no kzoo code is needed to run them). BASE is polled
about once a second, so a version that appears is served without a restart
and a removed one is dropped; incomplete folders are ignored.

Endpoints (paths matched case-insensitively, as TF Serving does):

- `GET /v1/models/NAME[/versions/V]`: the versions' status;
- `GET /v1/models/NAME[/versions/V]/metadata`: the SignatureDefs;
- `POST /v1/models/NAME[/versions/V]:predict`: `{"signature_name": ...,
  "instances": [...]}` (row format, answered `{"predictions": [...]}`) or
  `{"inputs": ...}` (columnar, answered `{"outputs": ...}`); binary values
  as `{"b64": "..."}`. The latest version when none is named.

Errors are a JSON `{"error": "..."}` with status 400 (malformed request),
404 (unknown model, version or path), 405, 411 (a body with neither a
Content-Length nor chunked transfer coding), 413 (body over the limit) or
500; the server keeps serving after any of them.

The HTTP layer is aiohttp; the blocking TensorFlow calls (and the thread-based
`Batcher`) run in a thread pool so that the event loop keeps serving.
"""

import base64
import binascii
import json
import os
import re
import sys
import threading
import time

import numpy as np

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_SIGNATURE = "serving_default"

# TF Serving's own patterns (http_rest_api_handler.cc), case-insensitive.
_PREDICT = re.compile(
    r"(?i)^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)$")
_STATUS = re.compile(
    r"(?i)^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?$")


class RequestError(Exception):
    """An error answered to the client: an HTTP status and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message):
    return RequestError(400, message)


# --------------------------------------------------------------------------- #
# The models
# --------------------------------------------------------------------------- #


def is_complete_version(path):
    """Whether `path` holds a complete SavedModel (`saved_model.pb` and `variables/`)."""
    return (os.path.isfile(os.path.join(path, "saved_model.pb"))
            and os.path.isdir(os.path.join(path, "variables")))


def _signature_defs(path):
    """The SavedModel's SignatureDefMap as TF Serving prints it (a dict)."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graphs = list(saved_model.meta_graphs)
    graph = next((g for g in graphs if "serve" in g.meta_info_def.tags), graphs[0])

    def as_dict(message):
        try:
            return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                             always_print_fields_with_no_presence=True)
        except TypeError:  # protobuf < 5
            return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                             including_default_value_fields=True)

    return {"signature_def": {key: as_dict(graph.signature_def[key])
                              for key in sorted(graph.signature_def)}}


class Signature:
    """One callable signature: its input specs, output names and the function."""

    def __init__(self, name, function):
        self.name = name
        self.function = function
        _, kwargs = function.structured_input_signature
        self.inputs = dict(sorted(kwargs.items()))
        self.outputs = sorted(function.structured_outputs)


class Servable:
    """One loaded version of one model."""

    def __init__(self, name, version, path):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        self.mtime = os.path.getmtime(os.path.join(path, "saved_model.pb"))
        self._loaded = tf.saved_model.load(path)
        self.signatures = {key: Signature(key, fn)
                           for key, fn in self._loaded.signatures.items()}
        self.signature_defs = _signature_defs(path)


class Registry:
    """The models under `base`, kept up to date by `scan()`; thread-safe."""

    def __init__(self, base, log=None):
        self.base = os.fspath(base)
        self._models = {}   # name -> {version: Servable}
        self._failed = {}   # path -> mtime of a version that failed to load
        self._lock = threading.Lock()
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))

    def _on_disk(self):
        found = {}
        try:
            names = os.listdir(self.base)
        except OSError:
            return found
        for name in names:
            model_dir = os.path.join(self.base, name)
            if name.startswith(".") or not os.path.isdir(model_dir):
                continue
            try:
                entries = os.listdir(model_dir)
            except OSError:
                continue
            for entry in entries:
                path = os.path.join(model_dir, entry)
                if entry.isdigit() and entry.isascii() and is_complete_version(path):
                    found.setdefault(name, {})[int(entry)] = path
        return found

    def scan(self):
        """Loads new versions and drops vanished ones; returns the number of changes."""
        changes = 0
        found = self._on_disk()
        with self._lock:
            current = {name: dict(versions) for name, versions in self._models.items()}
        for name, versions in found.items():
            for version, path in sorted(versions.items()):
                servable = current.get(name, {}).get(version)
                try:
                    mtime = os.path.getmtime(os.path.join(path, "saved_model.pb"))
                except OSError:
                    continue
                if servable is not None and servable.mtime == mtime:
                    continue
                if self._failed.get(path) == mtime:
                    continue
                try:
                    servable = Servable(name, version, path)
                except Exception as e:  # a broken SavedModel must not stop the server
                    self._failed[path] = mtime
                    self._log(f"kzoo serve: could not load {path}: "
                              f"{' '.join(str(e).split())[:500]}")
                    continue
                self._failed.pop(path, None)
                with self._lock:
                    self._models.setdefault(name, {})[version] = servable
                changes += 1
                self._log(f"kzoo serve: serving {name} version {version} ({path})")
        with self._lock:
            for name in list(self._models):
                for version in list(self._models[name]):
                    if version not in found.get(name, {}):
                        del self._models[name][version]
                        changes += 1
                        self._log(f"kzoo serve: dropped {name} version {version}")
                if not self._models[name]:
                    del self._models[name]
        return changes

    def names(self):
        with self._lock:
            return sorted(self._models)

    def versions(self, name):
        """The servables of model `name`, newest first (404 if unknown)."""
        with self._lock:
            versions = dict(self._models.get(name, {}))
        if not versions:
            raise RequestError(404, f"Servable not found for request: Latest({name})")
        return [versions[v] for v in sorted(versions, reverse=True)]

    def get(self, name, version=None):
        """The servable `name` at `version` (default the latest); 404 if unknown."""
        servables = self.versions(name)
        if version is None:
            return servables[0]
        for servable in servables:
            if servable.version == version:
                return servable
        raise RequestError(404, f"Servable not found for request: Specific({name}, {version})")


# --------------------------------------------------------------------------- #
# JSON ↔ tensors
# --------------------------------------------------------------------------- #


def _decode_binary(value, where):
    """Nested lists with `{"b64": ...}` objects and strings → nested lists of bytes."""
    if isinstance(value, list):
        return [_decode_binary(v, where) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise _bad(f"{where}: a binary value must be an object {{\"b64\": \"...\"}} "
                       f"with one string; got keys {sorted(value)}")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(f"{where}: invalid base64 in a \"b64\" value: {e}") from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _bad(f"{where}: expected a string or {{\"b64\": ...}} for a DT_STRING input, got "
               f"{type(value).__name__} {json.dumps(value)[:60]}")


def _to_array(value, spec, where):
    """A JSON value as a numpy array of the input `spec` (a tf.TensorSpec), else 400."""
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.array(_decode_binary(value, where), dtype=object)
        if array.size and not all(isinstance(v, bytes) for v in array.reshape(-1)):
            raise _bad(f"{where}: ragged or mixed nesting in a DT_STRING input")
    else:
        try:
            array = np.array(value)
        except (ValueError, TypeError) as e:
            raise _bad(f"{where}: the value is not a rectangular array of numbers "
                       f"({' '.join(str(e).split())[:200]})") from None
        kind = array.dtype.kind
        if dtype.is_floating:
            allowed = "fiu"
        elif dtype.is_integer:
            allowed = "iu"
        elif dtype.is_bool:
            allowed = "b"
        else:
            allowed = "fiub"
        if array.size and kind not in allowed:
            shown = json.dumps(value)[:80]
            raise _bad(f"{where}: expected {_dt_name(dtype)} values, got "
                       f"{'a ragged array' if kind == 'O' else array.dtype} ({shown})")
        try:
            array = array.astype(dtype.as_numpy_dtype)
        except (ValueError, TypeError, OverflowError) as e:
            raise _bad(f"{where}: cannot convert to {_dt_name(dtype)}: {e}") from None
    shape = spec.shape
    if shape.rank is not None:
        if array.ndim != shape.rank:
            raise _bad(f"{where}: expected a tensor of rank {shape.rank} "
                       f"(shape {_shape_text(shape)}), got shape {list(array.shape)}")
        for got, want in zip(array.shape, shape.as_list()):
            if want is not None and got != want:
                raise _bad(f"{where}: expected shape {_shape_text(shape)}, got "
                           f"{list(array.shape)}")
    return array


def _dt_name(dtype):
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _shape_text(shape):
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def _to_json(array, name):
    """A numpy output as JSON values (strings as text, or `{"b64"}` when not UTF-8)."""
    if array.dtype.kind in ("S", "O"):
        as_b64 = name.endswith("_bytes")

        def convert(v):
            if isinstance(v, list):
                return [convert(x) for x in v]
            if not as_b64:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(v).decode("ascii")}
        return convert(array.tolist())
    return array.tolist()


def _row_inputs(instances, signature):
    """Row format: a list of instances → {input name: array} (400 when malformed)."""
    if not isinstance(instances, list):
        raise _bad("\"instances\" must be a JSON list")
    if not instances:
        raise _bad("\"instances\" must not be empty")
    names = list(signature.inputs)
    single = len(names) == 1
    columns = {name: [] for name in names}
    for i, instance in enumerate(instances):
        named = isinstance(instance, dict) and not (single and set(instance) == {"b64"}
                                                     and "b64" not in names)
        if named:
            if set(instance) != set(names):
                raise _bad(f"instance {i}: expected the named inputs {names}, got "
                           f"{sorted(instance)}")
            for name in names:
                columns[name].append(instance[name])
        elif single:
            columns[names[0]].append(instance)
        else:
            raise _bad(f"instance {i}: signature {signature.name!r} has several inputs "
                       f"{names}; each instance must be an object keyed by them")
    return {name: _to_array(columns[name], signature.inputs[name], f"input {name!r}")
            for name in names}


def _columnar_inputs(inputs, signature):
    names = list(signature.inputs)
    if isinstance(inputs, dict) and not (len(names) == 1 and set(inputs) == {"b64"}):
        if set(inputs) != set(names):
            raise _bad(f"\"inputs\": expected the named inputs {names}, got {sorted(inputs)}")
        values = inputs
    elif len(names) == 1:
        values = {names[0]: inputs}
    else:
        raise _bad(f"\"inputs\": signature {signature.name!r} has several inputs {names}; "
                   f"\"inputs\" must be an object keyed by them")
    return {name: _to_array(values[name], signature.inputs[name], f"input {name!r}")
            for name in names}


def run_signature(signature, arrays):
    """`signature`'s outputs ({name: numpy array}) on `arrays`; 400 on TF's complaints."""
    import tensorflow as tf

    tensors = {key: tf.constant(value, dtype=signature.inputs[key].dtype)
               for key, value in arrays.items()}
    try:
        result = signature.function(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        message = getattr(e, "message", None) or str(e)
        raise _bad(" ".join(message.split())[:1000]) from None
    return {key: result[key].numpy() for key in signature.outputs}


class Batcher:
    """Server-side batching: concurrent requests to one signature run as one call.

    A request waits at most `timeout_ms` for others; a batch holds at most
    `max_batch_size` rows (a bigger request runs alone). If a merged batch
    fails, its requests are run one by one so that each gets its own answer.
    Only signatures whose inputs have a fully known shape after the batch axis
    are batched (their requests can always be concatenated).
    """

    def __init__(self, max_batch_size=32, timeout_ms=5.0):
        if max_batch_size < 1 or timeout_ms < 0:
            raise ValueError(f"Arguments `max_batch_size` (>= 1) and `timeout_ms` (>= 0). "
                             f"Received: max_batch_size={max_batch_size}, "
                             f"timeout_ms={timeout_ms}")
        self.max_batch_size = int(max_batch_size)
        self.timeout = float(timeout_ms) / 1000.0
        self._queues = {}   # (id(servable), signature) -> list of pending items
        self._lock = threading.Condition()
        self.batches = 0     # calls made
        self.largest = 0     # the most rows in one call
        self.last = threading.local()  # .rows: the rows of this thread's last call

    def accepts(self, signature, arrays):
        for key, array in arrays.items():
            shape = signature.inputs[key].shape
            if shape.rank is None or shape.rank < 1 or None in shape.as_list()[1:]:
                return False
            if array.ndim < 1 or array.shape[0] > self.max_batch_size:
                return False
        return True

    def run(self, servable, signature, arrays):
        import concurrent.futures

        future = concurrent.futures.Future()
        rows = next(iter(arrays.values())).shape[0]
        key = (id(servable), signature.name)
        with self._lock:
            queue = self._queues.get(key)
            leader = queue is None
            if leader:
                queue = self._queues[key] = []
            queue.append((arrays, rows, future))
            if sum(item[1] for item in queue) >= self.max_batch_size:
                self._lock.notify_all()
        if leader:
            self._lead(key, signature)
        outputs, self.last.rows = future.result()
        return outputs

    def _lead(self, key, signature):
        """The first request of a batch collects the others, then runs them all."""
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while True:
                queue = self._queues[key]
                left = deadline - time.monotonic()
                if left <= 0 or sum(item[1] for item in queue) >= self.max_batch_size:
                    break
                self._lock.wait(left)
            taken, total = [], 0
            for item in queue:
                if total + item[1] > self.max_batch_size and taken:
                    break
                taken.append(item)
                total += item[1]
            rest = queue[len(taken):]
            if rest:
                # The remainder starts the next batch, led by its first request's thread
                # through a fresh leader: run it from here after this batch.
                self._queues[key] = rest
            else:
                del self._queues[key]
            self.batches += 1
            self.largest = max(self.largest, total)
        self._execute(signature, taken)
        if rest:
            self._lead(key, signature)

    def _execute(self, signature, items):
        if len(items) == 1:
            arrays, _, future = items[0]
            try:
                future.set_result((run_signature(signature, arrays), items[0][1]))
            except Exception as e:
                future.set_exception(e)
            return
        merged = {key: np.concatenate([item[0][key] for item in items])
                  for key in items[0][0]}
        try:
            outputs = run_signature(signature, merged)
            total = sum(item[1] for item in items)
            if any(value.ndim < 1 or value.shape[0] != total for value in outputs.values()):
                raise RequestError(400, "outputs without a batch axis")
        except Exception:
            for item in items:  # each request answers its own error (or result)
                self._execute(signature, [item])
            return
        start = 0
        for _, rows, future in items:
            future.set_result(({key: value[start:start + rows]
                                for key, value in outputs.items()}, total))
            start += rows


def predict(servable, body, batcher=None):
    """The JSON answer of a `:predict` request `body` (a parsed JSON value)."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    name = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise _bad("\"signature_name\" must be a string")
    name = name or DEFAULT_SIGNATURE
    if name not in servable.signatures:
        raise _bad(f"Serving signature name: \"{name}\" not found in signature def")
    signature = servable.signatures[name]
    rows, columns = "instances" in body, "inputs" in body
    if rows == columns:
        raise _bad("JSON Value: exactly one of \"instances\" (row format) or \"inputs\" "
                   "(columnar format) must be given")
    if rows:
        arrays = _row_inputs(body["instances"], signature)
        sizes = {array.shape[0] if array.ndim else None for array in arrays.values()}
        if len(sizes) != 1 or None in sizes:
            raise _bad("the named inputs of the instances must share their 0th dimension")
    else:
        arrays = _columnar_inputs(body["inputs"], signature)
    if batcher is not None and batcher.accepts(signature, arrays):
        outputs = batcher.run(servable, signature, arrays)
    else:
        outputs = run_signature(signature, arrays)
    if rows:
        batch = {array.shape[0] if array.ndim else None for array in outputs.values()}
        if len(batch) != 1 or None in batch:
            raise _bad("the outputs do not share a batch dimension; use the columnar "
                       "format (\"inputs\")")
        as_json = {key: _to_json(value, key) for key, value in outputs.items()}
        if len(outputs) == 1:
            return {"predictions": next(iter(as_json.values()))}
        count = batch.pop()
        return {"predictions": [{key: as_json[key][i] for key in signature.outputs}
                                for i in range(count)]}
    as_json = {key: _to_json(value, key) for key, value in outputs.items()}
    if len(outputs) == 1:
        return {"outputs": next(iter(as_json.values()))}
    return {"outputs": as_json}


def status(servables):
    return {"model_version_status": [
        {"version": str(s.version), "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}} for s in servables]}


def metadata(servable):
    return {"model_spec": {"name": servable.name, "signature_name": "",
                           "version": str(servable.version)},
            "metadata": {"signature_def": servable.signature_defs}}


# --------------------------------------------------------------------------- #
# HTTP
# --------------------------------------------------------------------------- #


def _error_payload(e):
    return {"error": f"{type(e).__name__}: {' '.join(str(e).split())}"[:1000]}


def _json_response(code, payload, close=False, headers=()):
    from aiohttp import web

    response = web.Response(status=code, body=json.dumps(payload).encode("utf-8"),
                            content_type="application/json")
    response.headers["Server"] = "kzoo-serve"
    for key, value in headers:
        response.headers[key] = value
    if close:
        response.force_close()
    return response


def _json_errors_middleware(server):
    """aiohttp's own HTTP errors (e.g. 413 from `client_max_size`) answered as JSON."""
    from aiohttp import web

    @web.middleware
    async def json_errors(request, handler):
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            message = e.text or e.reason or f"HTTP {e.status}"
            if isinstance(e, web.HTTPRequestEntityTooLarge):
                message = (f"Request body exceeds the limit of "
                           f"{server.max_body} bytes")
            return _json_response(e.status, {"error": message},
                                  close=e.status in (411, 413))
        except RequestError as e:
            return _json_response(e.status, {"error": e.message},
                                  close=e.status in (411, 413))
        except Exception as e:  # never let one request stop the server
            return _json_response(500, _error_payload(e))
    return json_errors


class _Handler:
    """Answers TF Serving's REST requests (aiohttp) from `server.registry`; model calls
    run in `server.executor` so that the event loop keeps serving."""

    def __init__(self, server):
        self.server = server

    async def _call(self, function, *args):
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(self.server.executor,
                                                                function, *args)

    async def handle(self, request):
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        if method not in ("GET", "POST"):
            return _json_response(405, {"error": f"Method {request.method} not allowed"},
                                  close=True)
        close = False
        try:
            path = request.raw_path.split("?", 1)[0].split("#", 1)[0]
            if method == "POST":
                return await self._post(request, path)
            match = _STATUS.match(path)
            if match is None:
                if _PREDICT.match(path):
                    raise RequestError(405, f"Method {method} not allowed on {path}; "
                                            f"use POST")
                raise RequestError(404, f"Malformed request: {method} {path}")
            name, version, label, meta = match.groups()
            if not name:
                raise _bad("Missing model name in request.")
            if label is not None:
                raise RequestError(404, f"Unrecognized servable version label: {label}")
            registry = self.server.registry
            if meta:
                servable = registry.get(name, None if version is None else int(version))
                return _json_response(200, metadata(servable))
            if version is None:
                return _json_response(200, status(registry.versions(name)))
            return _json_response(200, status([registry.get(name, int(version))]))
        except RequestError as e:
            return _json_response(e.status, {"error": e.message},
                                  close or e.status in (411, 413))
        except Exception as e:  # never let one request stop the server
            from aiohttp import web
            if isinstance(e, web.HTTPException):
                raise  # answered as JSON by the middleware
            return _json_response(500, _error_payload(e), close)

    async def _post(self, request, path):
        match = _PREDICT.match(path)
        if match is None:
            if _STATUS.match(path):
                raise RequestError(405, f"Method POST not allowed on {path}; use GET")
            raise RequestError(404, f"Malformed request: POST {path}")
        body = await self._read_body(request)
        name, version, label, verb = match.groups()
        if label is not None:
            raise RequestError(404, f"Unrecognized servable version label: {label}")
        if verb.lower() != "predict":
            raise _bad(f"{verb} is not supported by kzoo serve (only :predict)")
        servable = self.server.registry.get(name, None if version is None else int(version))
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _bad(f"JSON Parse error: {e}") from None
        answer, rows = await self._call(self._predict, servable, parsed)
        # With --batching: the rows of the call that answered (this request's and those
        # merged with it).
        return _json_response(200, answer, headers=() if rows is None
                              else (("X-Kzoo-Batch-Rows", str(rows)),))

    def _predict(self, servable, parsed):
        """Runs in an executor thread: `(answer, batch rows or None)`."""
        batcher = self.server.batcher
        if batcher is not None:
            batcher.last.rows = None
        answer = predict(servable, parsed, batcher)
        return answer, (None if batcher is None else batcher.last.rows)

    async def _read_body(self, request):
        """The request body, after the size checks (413 over the limit). A chunked body
        is accepted (aiohttp's `client_max_size` bounds it); a body with neither a
        Content-Length nor chunked transfer coding is refused with 411."""
        from aiohttp import web

        max_body = self.server.max_body
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        length = request.headers.get("Content-Length")
        if length is None and not chunked:
            raise RequestError(411, "A Content-Length header (or a chunked body) is required")
        if length is not None and not chunked:
            try:
                length = int(length)
                if length < 0:
                    raise ValueError
            except ValueError:
                raise _bad(f"Invalid Content-Length: {length!r}") from None
            if length > max_body:
                await self._discard(request, length)
                raise RequestError(413, f"Request body of {length} bytes exceeds the limit "
                                        f"of {max_body} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestError(413, f"Request body exceeds the limit of {max_body} "
                                    f"bytes") from None
        if length is not None and not chunked and len(body) != length:
            raise _bad("The request body ended before its Content-Length")
        return body

    @staticmethod
    async def _discard(request, length, cap=64 * 1024 * 1024):
        """Reads and drops up to `cap` bytes of a refused body, so that the client gets
        the answer instead of a reset connection (the connection is closed after)."""
        import asyncio

        left = min(length, cap)
        try:
            while left > 0:
                # a client that never sends the body: give up after 1 s of silence
                chunk = await asyncio.wait_for(request.content.readany(), 1.0)
                if not chunk:
                    break
                left -= len(chunk)
        except Exception:  # a timeout or a dropped connection
            pass


class ModelServer:
    """An aiohttp server with a `Registry` that a thread rescans every `poll` s.

    The socket is bound on construction (`server_address` is then known, also with
    port 0); `serve_forever()` runs the event loop in the calling thread until
    `shutdown()` (from another thread) or an exception (e.g. SystemExit on SIGTERM);
    `server_close()` stops the poller and closes the socket. Model calls run in a
    thread pool (`executor`).
    """

    def __init__(self, base, host=DEFAULT_HOST, port=DEFAULT_PORT, *,
                 max_body=DEFAULT_MAX_BODY, poll=DEFAULT_POLL_SECONDS, verbose=False,
                 batcher=None, workers=None):
        import concurrent.futures
        import socket

        self.registry = Registry(base)
        self.batcher = batcher
        self.max_body = int(max_body)
        self.poll = float(poll)
        self.verbose = verbose
        if workers is None:  # enough threads for a full batch to gather
            workers = max(32, 2 * (batcher.max_batch_size if batcher is not None else 0))
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=int(workers), thread_name_prefix="kzoo-serve-model")
        self._stop = threading.Event()
        self._loop = None
        self._stopped = None
        self.registry.scan()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=128,
                                           reuse_port=False)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._poller = threading.Thread(target=self._poll_loop, name="kzoo-serve-poll",
                                        daemon=True)
        self._poller.start()

    def _poll_loop(self):
        while not self._stop.wait(self.poll):
            try:
                self.registry.scan()
            except Exception as e:  # keep polling
                print(f"kzoo serve: scan failed: {e}", file=sys.stderr, flush=True)

    def make_app(self):
        """The aiohttp application (every path and method to one handler)."""
        from aiohttp import web

        app = web.Application(client_max_size=self.max_body,
                              middlewares=[_json_errors_middleware(self)])
        app.router.add_route("*", "/{tail:.*}", _Handler(self).handle)
        return app

    async def _main(self):
        import asyncio
        import logging

        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if self._stop.is_set():
            return
        runner = web.AppRunner(self.make_app(), handle_signals=False,
                               access_log=logging.getLogger("aiohttp.access")
                               if self.verbose else None,
                               keepalive_timeout=120, shutdown_timeout=1.0)
        if self.verbose:
            logging.basicConfig(level=logging.INFO)
        await runner.setup()
        try:
            site = web.SockSite(runner, self.socket)
            await site.start()
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def serve_forever(self, poll_interval=None):
        """Serves until `shutdown()`; `poll_interval` is accepted for compatibility."""
        import asyncio
        asyncio.run(self._main())

    def shutdown(self):
        """Stops `serve_forever()` (call from another thread)."""
        self._stop.set()
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:  # the loop is closed already
                pass

    def server_close(self):
        self._stop.set()
        try:
            self.socket.close()
        except OSError:
            pass
        self.executor.shutdown(wait=False, cancel_futures=True)


def serve(base, host=DEFAULT_HOST, port=DEFAULT_PORT, *, max_body=DEFAULT_MAX_BODY,
          poll=DEFAULT_POLL_SECONDS, verbose=False, batching=False, max_batch_size=32,
          batch_timeout_ms=5.0, ready=None):
    """Serves the models under `base` until interrupted (Ctrl-C / SIGTERM).

    Args:
        base: TF Serving's model base folder (`BASE/NAME/VERSION/`).
        host, port: where to listen (loopback by default; port 0 picks one).
        max_body: the largest request body in bytes (413 above it).
        poll: seconds between scans of `base` for new or removed versions.
        batching: merge concurrent requests to one signature into one call
            (`Batcher(max_batch_size, batch_timeout_ms)`).
        ready: called with the server once it listens (e.g. to print its address).
    """
    base = os.fspath(base)
    if not os.path.isdir(base):
        raise ValueError(f"Argument `base`: no folder at {base!r}. Received: base={base!r}")
    if max_body < 1:
        raise ValueError(f"Argument `max_body` must be positive. Received: max_body={max_body}")
    if poll <= 0:
        raise ValueError(f"Argument `poll` must be positive. Received: poll={poll}")
    batcher = Batcher(max_batch_size, batch_timeout_ms) if batching else None
    server = ModelServer(base, host, port, max_body=max_body, poll=poll, verbose=verbose,
                         batcher=batcher)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["Batcher", "ModelServer", "Registry", "RequestError", "serve", "is_complete_version",
           "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_BODY"]
