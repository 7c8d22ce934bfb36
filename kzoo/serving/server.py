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

Errors are a JSON `{"error": "..."}` with TF Serving's status codes and, where
it has them, its messages (`http_server.cc`, `http_rest_api_handler.cc`,
`json_tensor.cc`): 400 for a malformed request, including a method or path
under /v1/ that matches none of the API's patterns ("Malformed request: GET
/v1/x") and a version label (kzoo serves none); 404 for an unknown model or
version, and for paths outside /v1/; 411 (a body with neither a
Content-Length nor chunked transfer coding); 413 (body over the limit); 500.
OPTIONS is TF Serving's CORS preflight. The server keeps serving after any
of them.

The HTTP layer is aiohttp. Small requests are decoded on the event loop; the
blocking TensorFlow calls (and the decoding of large requests) run in a thread
pool so that the loop keeps serving. With `--batching`, requests wait for
their batch on the loop (`kzoo.serving.batching.Batcher`), and a batch is one
call in the pool. The request and answer formats are `kzoo.serving.rest`'s;
this module holds the models (`Registry`), the HTTP handler and `serve`.
"""

import json
import os
import re
import sys
import threading
import urllib.parse

from kzoo.serving.batching import Batcher
from kzoo.serving.rest import (RequestError, _answer_bytes, _bad, _error_payload,
                               _numeric_input, _numeric_request, _parse_json,
                               format_answer, metadata, parse_request, run_signature, status)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_POLL_SECONDS = 1.0

# TF Serving's own patterns (http_server.cc, http_rest_api_util.cc), case-insensitive.
_API = re.compile(r"(?i)^/v1/")
_PREDICT = re.compile(
    r"(?i)^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)$")
_STATUS = re.compile(
    r"(?i)^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?$")


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
        # Whether every input has a fully known shape after the batch axis (what
        # `Batcher` can concatenate), worked out once rather than per request.
        self.batchable = all(
            spec.shape.rank is not None and spec.shape.rank >= 1
            and None not in spec.shape.as_list()[1:] for spec in self.inputs.values())
        self.numeric_input = _numeric_input(self.inputs)


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
# HTTP
# --------------------------------------------------------------------------- #


def _json_response(code, payload, close=False, headers=(), body=None):
    """An aiohttp response of `payload` as JSON (or of the JSON text `body`)."""
    from aiohttp import web

    if body is None:
        body = b"" if payload is None else json.dumps(payload).encode("utf-8")
    response = web.Response(status=code, body=body, content_type="application/json")
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


# Requests up to this size are decoded on the event loop, answers of up to this many
# values formatted there; bigger ones in the thread pool.
_INLINE_BYTES = 64 * 1024
_INLINE_VALUES = 16 * 1024


def _model_info(match):
    """`(name, version, label, last group)` of a path match, percent-decoded as TF
    Serving decodes them; a version beyond int64 is 400."""
    name, version, label, last = match.groups()
    if name is not None:
        name = urllib.parse.unquote(name)
    if label is not None:
        label = urllib.parse.unquote(label)
    if version is not None:
        if int(version) >= 2 ** 63:
            raise _bad(f"Failed to convert version: {version} to numeric.")
        version = int(version)
    return name, version, label, last


def _predict_bytes(signature, arrays, row_format):
    """The JSON text of the answer of `signature` run on `arrays` (in a thread)."""
    return _answer_of(signature, run_signature(signature, arrays), row_format)


def _answer_of(signature, outputs, row_format):
    """The JSON text of the `:predict` answer of `outputs` in the request's format."""
    return _answer_bytes(format_answer(signature, outputs, row_format), outputs)


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
        self.server.active_requests += 1
        try:
            return await self._handle(request)
        finally:
            self.server.active_requests -= 1

    async def _handle(self, request):
        # As TF Serving's http_server.cc: only paths under /v1/ are the API's (others
        # 404); there, GET and POST requests that match its path patterns are
        # answered, OPTIONS is a CORS preflight, and anything else is InvalidArgument
        # "Malformed request: METHOD PATH" (400).
        close = False
        try:
            path = request.raw_path.split("?", 1)[0].split("#", 1)[0]
            if not _API.match(path):
                raise RequestError(404, f"Not found: {request.method} {path} (the REST "
                                        f"API is under /v1/)")
            if request.method == "OPTIONS":
                if re.search(r"https?://", request.headers.get("Origin", "")):
                    return _json_response(200, None)
                raise _bad("Origin header is missing in CORS preflight")
            if request.method == "POST" and _PREDICT.match(path):
                return await self._post(request, path)
            match = _STATUS.match(path) if request.method == "GET" else None
            if match is None:
                raise _bad(f"Malformed request: {request.method} {path}")
            name, version, label, meta = _model_info(match)
            if not name:
                raise _bad("Missing model name in request.")
            if label is not None:
                raise _bad(f"Unrecognized servable version label: {label}")
            registry = self.server.registry
            if meta:
                return _json_response(200, metadata(registry.get(name, version)))
            if version is None:
                try:
                    return _json_response(200, status(registry.versions(name)))
                except RequestError:
                    raise RequestError(404, f"Could not find any versions of model "
                                            f"{name}") from None
            try:
                return _json_response(200, status([registry.get(name, version)]))
            except RequestError:
                raise RequestError(404, f"Could not find version {version} of model "
                                        f"{name}") from None
        except RequestError as e:
            return _json_response(e.status, {"error": e.message},
                                  close or e.status in (411, 413))
        except Exception as e:  # never let one request stop the server
            from aiohttp import web
            if isinstance(e, web.HTTPException):
                raise  # answered as JSON by the middleware
            return _json_response(500, _error_payload(e), close)

    async def _post(self, request, path):
        body = await self._read_body(request)
        name, version, label, verb = _model_info(_PREDICT.match(path))
        # TF Serving's order: the version label, the JSON, the signature name, then
        # the servable (404), then the inputs.
        if label is not None:
            raise _bad(f"Unrecognized servable version label: {label}")
        if verb.lower() != "predict":
            raise _bad(f"{verb} is not supported by kzoo serve (only :predict)")
        # A small request is decoded on the event loop (cheaper than a thread hop); a
        # large one in the pool, so that the loop keeps serving.
        small = len(body) <= _INLINE_BYTES
        request = servable = None
        if small:
            try:
                servable = self.server.registry.get(name, version)
            except RequestError:  # the general path answers (a JSON error comes first)
                pass
            if servable is not None:
                request = _numeric_request(servable, body)
        if request is not None:
            signature, arrays, row_format = request
        else:
            parsed = _parse_json(body) if small else await self._call(_parse_json, body)
            if servable is None:  # after the JSON: a malformed body is 400 before a 404
                servable = self.server.registry.get(name, version)
            if small:
                signature, arrays, row_format = parse_request(servable, parsed)
            else:
                signature, arrays, row_format = await self._call(parse_request, servable,
                                                                 parsed)
        batcher = self.server.batcher
        if batcher is None or not batcher.accepts(signature, arrays):
            answer = await self._call(_predict_bytes, signature, arrays, row_format)
            return _json_response(200, None, body=answer)
        outputs, rows = await batcher.run(signature, arrays, self.server.executor)
        if sum(value.size for value in outputs.values()) <= _INLINE_VALUES:
            answer = _answer_of(signature, outputs, row_format)
        else:
            answer = await self._call(_answer_of, signature, outputs, row_format)
        # The rows of the model call that answered (this request's and those merged
        # with it).
        return _json_response(200, None, body=answer,
                              headers=(("X-Kzoo-Batch-Rows", str(rows)),))

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


def freeze_heap():
    """Collects garbage once, then hides every object alive from the collector (`gc.freeze`).

    A loaded TensorFlow model is millions of long-lived Python objects, and every
    request allocates hundreds of containers (the lists of its JSON), so the
    collector's full passes over the model's objects ran every few hundred
    requests and took about a third of the server's event loop (measured: 3.6 s
    of collection in 10 s of serving ResNet-9; 371 → 603 requests/s with
    batching at 8 clients once frozen). `ModelServer` calls it after each scan
    that changed the served versions: objects of a dropped version are first
    unfrozen and collected, so they are freed, not leaked.
    """
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
        if workers is None:
            workers = 32
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=int(workers), thread_name_prefix="kzoo-serve-model")
        self._stop = threading.Event()
        self._loop = None
        self._stopped = None
        self._runner = None
        self.active_requests = 0  # requests inside the handler (event loop only)
        if batcher is not None:
            batcher.idle_connections = self.idle_connections
        self.registry.scan()
        freeze_heap()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=128,
                                           reuse_port=False)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._poller = threading.Thread(target=self._poll_loop, name="kzoo-serve-poll",
                                        daemon=True)
        self._poller.start()

    def idle_connections(self):
        """Open connections without a request in the server (event loop only)."""
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return None
        return len(server.connections) - self.active_requests

    def _poll_loop(self):
        while not self._stop.wait(self.poll):
            try:
                if self.registry.scan():
                    freeze_heap()
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
        self._runner = runner
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


def set_threading(intra_op_parallelism=0, inter_op_parallelism=0):
    """Sets TensorFlow's intra- and inter-op thread pool sizes (0 leaves one as it is).

    Raises a `ValueError` for a negative size, or once TensorFlow has run an op
    in this process (its pools are then fixed).
    """
    sizes = {"intra_op_parallelism": intra_op_parallelism,
             "inter_op_parallelism": inter_op_parallelism}
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"Argument `{key}` must be an int >= 0 (0: TensorFlow "
                             f"chooses). Received: {key}={value!r}")
    if not any(sizes.values()):
        return
    import tensorflow as tf

    setters = {"intra_op_parallelism": tf.config.threading.set_intra_op_parallelism_threads,
               "inter_op_parallelism": tf.config.threading.set_inter_op_parallelism_threads}
    for key, value in sizes.items():
        if value:
            try:
                setters[key](value)
            except RuntimeError as e:
                raise ValueError(f"Argument `{key}`: TensorFlow's thread pools are already "
                                 f"in use in this process ({e}). Received: {key}={value}"
                                 ) from None


def serve(base, host=DEFAULT_HOST, port=DEFAULT_PORT, *, max_body=DEFAULT_MAX_BODY,
          poll=DEFAULT_POLL_SECONDS, verbose=False, batching=False, max_batch_size=32,
          batch_timeout_ms=5.0, num_batch_threads=None, intra_op_parallelism=0,
          inter_op_parallelism=0, ready=None):
    """Serves the models under `base` until interrupted (Ctrl-C / SIGTERM).

    Args:
        base: TF Serving's model base folder (`BASE/NAME/VERSION/`).
        host, port: where to listen (loopback by default; port 0 picks one).
        max_body: the largest request body in bytes (413 above it).
        poll: seconds between scans of `base` for new or removed versions.
        batching: merge concurrent requests to one signature into one call
            (`Batcher(max_batch_size, batch_timeout_ms, num_batch_threads)`).
        num_batch_threads: with `batching`, how many batches run at once
            (default one per CPU).
        intra_op_parallelism, inter_op_parallelism: TensorFlow's thread pool
            sizes, as TF Serving's `--tensorflow_intra_op_parallelism` and
            `--tensorflow_inter_op_parallelism` (0: TensorFlow chooses). They
            must be set before the process runs any TensorFlow op.
        ready: called with the server once it listens (e.g. to print its address).
    """
    base = os.fspath(base)
    if not os.path.isdir(base):
        raise ValueError(f"Argument `base`: no folder at {base!r}. Received: base={base!r}")
    if max_body < 1:
        raise ValueError(f"Argument `max_body` must be positive. Received: max_body={max_body}")
    if poll <= 0:
        raise ValueError(f"Argument `poll` must be positive. Received: poll={poll}")
    set_threading(intra_op_parallelism, inter_op_parallelism)
    batcher = Batcher(max_batch_size, batch_timeout_ms, num_batch_threads) if batching else None
    server = ModelServer(base, host, port, max_body=max_body, poll=poll, verbose=verbose,
                         batcher=batcher)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["Batcher", "ModelServer", "Registry", "RequestError", "serve", "set_threading",
           "freeze_heap",
           "is_complete_version",
           "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_BODY"]
