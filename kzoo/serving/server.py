"""A model server speaking TensorFlow Serving's REST API (`kzoo serve BASE`).

It serves every model folder under BASE (TF Serving's model base path layout,
`BASE/NAME/VERSION/`) with all of its versions: numeric subfolders holding a
complete SavedModel (`saved_model.pb` and `variables/`), loaded with plain
`tf.saved_model.load` (no kzoo code is needed to run them). BASE is polled
about once a second, so a version that appears is served without a restart
and a removed one is dropped; incomplete folders are ignored.

Endpoints (paths matched case-insensitively, as TF Serving does):

- `GET /v1/models/NAME[/versions/V|/labels/L]`: the versions' status;
- `GET /v1/models/NAME[/versions/V|/labels/L]/metadata`: the SignatureDefs;
- `POST /v1/models/NAME[/versions/V|/labels/L]:predict`: `{"signature_name": ...,
  "instances": [...]}` (row format, answered `{"predictions": [...]}`) or
  `{"inputs": ...}` (columnar, answered `{"outputs": ...}`); binary values
  as `{"b64": "..."}`. The latest version when none is named.

`GET /monitoring/prometheus/metrics` (that exact path, as TF Serving's) answers
the server's Prometheus metrics (`kzoo.serving.metrics`); every request under
/v1/ is counted there.

With `grpc_port` (`kzoo serve --grpc-port`, 8500 by default), TF Serving's gRPC
API is served too (`kzoo.serving.grpc_api`) from the same process, registry
and batcher, in gRPC's own thread pool.

Errors are a JSON `{"error": "..."}` with TF Serving's status codes and, where
it has them, its messages (`http_server.cc`, `http_rest_api_handler.cc`,
`json_tensor.cc`): 400 for a malformed request, including a method or path
under /v1/ that matches none of the API's patterns ("Malformed request: GET
/v1/x") and an unknown version label; 404 for an unknown model or
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
import time
import urllib.parse

from kzoo.serving.batching import Batcher
from kzoo.serving.metrics import METRICS_PATH, Metrics
from kzoo.serving.rest import _CODES as _STATUS_CODES
from kzoo.serving.rest import (RequestError, _answer_bytes, _bad, _error_payload,
                               _numeric_request, _parse_json, format_answer, metadata,
                               parse_request, run_signature, status)
from kzoo.serving.servables import (Registry, Servable, Signature, is_complete_version,
                                   read_model_config)

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
    """`(JSON text of the answer, seconds of the model call)` of `signature` run on
    `arrays` (in a thread)."""
    start = time.perf_counter()
    outputs = run_signature(signature, arrays)
    runtime = time.perf_counter() - start
    return _answer_of(signature, outputs, row_format), runtime


def _answer_of(signature, outputs, row_format):
    """The JSON text of the `:predict` answer of `outputs` in the request's format."""
    return _answer_bytes(format_answer(signature, outputs, row_format), outputs)


# --------------------------------------------------------------------------- #
# Metrics (kzoo.serving.metrics)
# --------------------------------------------------------------------------- #

_API_NAMES = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}


def _status_code(status):
    """The canonical status name of an HTTP status kzoo serve answered."""
    return "OK" if status < 400 else _STATUS_CODES.get(status, "UNKNOWN")


def _error_code(error):
    """The canonical status name of an exception that left the handler."""
    import asyncio

    if isinstance(error, asyncio.CancelledError):  # the client went away
        return "CANCELLED"
    return getattr(error, "code", None) or _status_code(getattr(error, "status", 500))


def _metric_labels(method, path):
    """`(model name, API)` of a REST request under /v1/ ("" where its path has none),
    with the gRPC method names as API (TF Serving's REST server uses the verb)."""
    if method == "POST":
        match = _PREDICT.match(path)
        if match is not None:
            return urllib.parse.unquote(match.group(1)), _API_NAMES[match.group(4).lower()]
    elif method == "GET":
        match = _STATUS.match(path)
        if match is not None:
            return (urllib.parse.unquote(match.group(1) or ""),
                    "GetModelMetadata" if match.group(4) else "GetModelStatus")
    return "", ""


def _metrics_response(metrics, method):
    """The answer to `/monitoring/prometheus/metrics` (GET or HEAD).

    The connection is closed after it: a scraper's idle keep-alive connection
    would make the batcher wait for its timeout (it starts a batch early only
    when no open connection is idle).
    """
    from aiohttp import web

    if method not in ("GET", "HEAD"):
        return _json_response(405, {"error": f"Method {method} is not allowed on "
                                             f"{METRICS_PATH} (use GET)"},
                              close=True, headers=(("Allow", "GET, HEAD"),))
    body, content_type = metrics.exposition()
    response = web.Response(status=200, body=body)
    response.headers["Content-Type"] = content_type
    response.headers["Server"] = "kzoo-serve"
    response.force_close()
    return response


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
        path = request.raw_path.split("?", 1)[0].split("#", 1)[0]
        if path == METRICS_PATH:  # TF Serving's exact path, outside the REST API
            return _metrics_response(self.server.metrics, request.method)
        self.server.active_requests += 1
        start = time.perf_counter()
        code = "UNKNOWN"
        try:
            response = await self._handle(request)
            # The canonical code of a RequestError answered (e.g. FAILED_PRECONDITION).
            code = getattr(response, "kzoo_code", None) or _status_code(response.status)
            return response
        except BaseException as e:
            code = _error_code(e)
            raise
        finally:
            self.server.active_requests -= 1
            # As TF Serving's http_server.cc: every request under /v1/ is counted.
            if _API.match(path):
                model, api = _metric_labels(request.method, path)
                self.server.metrics.record_request(model, api, "REST", code,
                                                   time.perf_counter() - start)

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
            registry = self.server.registry
            if label is not None:
                version = registry.label_version(name, label)
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
            response = _json_response(e.status, {"error": e.message},
                                      close or e.status in (411, 413))
            response.kzoo_code = e.code  # for the metrics
            return response
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
            version = self.server.registry.label_version(name, label)
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
        metrics = self.server.metrics
        if batcher is None or not batcher.accepts(signature, arrays):
            answer, runtime = await self._call(_predict_bytes, signature, arrays, row_format)
            metrics.record_runtime(name, "Predict", runtime)
            return _json_response(200, None, body=answer)
        start = time.perf_counter()
        outputs, rows = await batcher.run(signature, arrays, self.server.executor)
        # With its wait for the batch, as TF Serving's batching session.
        metrics.record_runtime(name, "Predict", time.perf_counter() - start)
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
    thread pool (`executor`). With `grpc_port` (0: a free one), TF Serving's gRPC
    API (`kzoo.serving.grpc_api`) runs beside it, in gRPC's thread pool; its port is
    held from construction (`grpc_address`, None without gRPC).
    """

    def __init__(self, base=None, host=DEFAULT_HOST, port=DEFAULT_PORT, *,
                 max_body=DEFAULT_MAX_BODY, poll=DEFAULT_POLL_SECONDS, verbose=False,
                 batcher=None, workers=None, model_config_file=None,
                 config_poll=DEFAULT_POLL_SECONDS, grpc_port=None):
        import concurrent.futures
        import socket

        # Either every model under `base`, or the models of TF Serving's model config
        # file, re-read every `config_poll` s when it changed (0: never).
        self.model_config_file = model_config_file
        self.config_poll = float(config_poll)
        if model_config_file is not None:
            self._config_stamp = _file_stamp(model_config_file)
            self._config_checked = time.monotonic()
            self.registry = Registry(config=read_model_config(model_config_file))
        else:
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
        # GET /monitoring/prometheus/metrics; the REST and gRPC handlers record into it.
        self.metrics = Metrics(self.registry)
        if batcher is not None:
            batcher.idle_connections = self.idle_connections
            batcher.on_batch = self.metrics.record_batch
        # TF Serving's gRPC API (kzoo.serving.grpc_api) on `grpc_port` (0: a free one;
        # None: off), on the same host. The port is held from here, so
        # that one in use fails before any model loads; `grpc_address` is then known.
        self._grpc_socket = self._grpc_server = self.grpc_address = None
        self.grpc_services = None  # set when gRPC starts (grpc_api.start)
        # Both ports are bound before any model loads, so that one in use is a clear
        # error at once (a client that connects meanwhile waits in the backlog).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.socket = socket.create_server((host, port), family=family, backlog=128,
                                               reuse_port=False)
        except OSError as e:
            self.executor.shutdown(wait=False)
            raise ValueError(f"Argument `port` (--port): cannot listen on {host}:{port} "
                             f"({e.strerror or e}; another server may be using it; 0 "
                             f"picks a free port). Received: port={port}") from None
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        if grpc_port is not None:
            from kzoo.serving import grpc_api
            try:
                self._grpc_socket = grpc_api.reserve_port(host, grpc_port)
            except ValueError:
                self.socket.close()
                self.executor.shutdown(wait=False)
                raise
            self.grpc_address = self._grpc_socket.getsockname()[:2]
        self.registry.scan()
        freeze_heap()
        self._poller = threading.Thread(target=self._poll_loop, name="kzoo-serve-poll",
                                        daemon=True)
        self._poller.start()

    def idle_connections(self):
        """Open connections without a request in the server, and gRPC clients that may
        send one (`grpc_api._Clients`); event loop only."""
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return None
        idle = len(server.connections) - self.active_requests
        if self.grpc_services is not None:
            idle += self.grpc_services.clients.idle()
        return idle

    def set_config(self, config):
        """Serves a new model config (`Registry.set_config`: a `ModelServerConfig`
        proto, its text or `{name: ModelSource}`; ValueError if refused); returns the
        number of changes."""
        changes = self.registry.set_config(config)
        if changes:
            freeze_heap()
        return changes

    def _poll_loop(self):
        while not self._stop.wait(self.poll):
            try:
                self._reload_config()
                if self.registry.scan():
                    freeze_heap()
            except Exception as e:  # keep polling
                print(f"kzoo serve: scan failed: {e}", file=sys.stderr, flush=True)

    def _reload_config(self):
        """Serves the model config file anew when it changed (TF Serving's
        `--model_config_file_poll_wait_seconds`); a broken file is logged and the
        old config kept."""
        if self.model_config_file is None or self.config_poll <= 0:
            return
        now = time.monotonic()
        if now - self._config_checked < self.config_poll:
            return
        self._config_checked = now
        stamp = _file_stamp(self.model_config_file)
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            config = read_model_config(self.model_config_file)
        except ValueError as e:
            print(f"kzoo serve: kept the previous model config: {e}", file=sys.stderr,
                  flush=True)
            return
        print(f"kzoo serve: reloading the model config {self.model_config_file} "
              f"({len(config)} model(s))", file=sys.stderr, flush=True)
        self.set_config(config)

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
            if self._grpc_socket is not None:
                from kzoo.serving import grpc_api
                self._grpc_socket.close()  # held until gRPC binds the port itself
                self._grpc_server, _ = grpc_api.start(self, *self.grpc_address,
                                                      loop=self._loop)
            await self._stopped.wait()
        finally:
            if self._grpc_server is not None:
                from kzoo.serving import grpc_api
                # In a thread: its batched requests finish on this loop meanwhile.
                await self._loop.run_in_executor(None, grpc_api.stop, self._grpc_server)
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
        if self._grpc_socket is not None:
            self._grpc_socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _file_stamp(path):
    """What tells a changed file: its mtime, size and inode (None if it is gone)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


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


def serve(base=None, host=DEFAULT_HOST, port=DEFAULT_PORT, *, model_config_file=None,
          model_config_file_poll_wait_seconds=DEFAULT_POLL_SECONDS, max_body=DEFAULT_MAX_BODY,
          poll=DEFAULT_POLL_SECONDS, verbose=False, batching=False, max_batch_size=32,
          batch_timeout_ms=5.0, num_batch_threads=None, intra_op_parallelism=0,
          inter_op_parallelism=0, grpc_port=None, ready=None):
    """Serves the models under `base` (or of a model config file) until interrupted
    (Ctrl-C / SIGTERM).

    Args:
        base: TF Serving's model base folder (`BASE/NAME/VERSION/`): every model in
            it, with all of its versions.
        model_config_file: instead of `base`, TF Serving's model config file (a
            `ModelServerConfig` in text format): its models, each from its own
            base path, per its version policy (default: the latest version) and
            with its version labels.
        model_config_file_poll_wait_seconds: how often the model config file is
            checked for changes and reloaded (0: never), as TF Serving's flag of
            that name; a file that no longer parses is logged and the previous
            config kept.
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
        grpc_port: also serve TF Serving's gRPC API (`kzoo.serving.grpc_api`) on
            this port of `host` (0 picks one; None: no gRPC); a port in use is a
            ValueError. The bound address is `server.grpc_address`.
        ready: called with the server once it listens (e.g. to print its address).
    """
    if (base is None) == (model_config_file is None):
        raise ValueError(f"Pass exactly one of `base` and `model_config_file`. Received: "
                         f"base={base!r}, model_config_file={model_config_file!r}")
    if base is not None:
        base = os.fspath(base)
        if not os.path.isdir(base):
            raise ValueError(f"Argument `base`: no folder at {base!r}. Received: "
                             f"base={base!r}")
    else:
        model_config_file = os.fspath(model_config_file)
        read_model_config(model_config_file)  # a clear error before anything loads
    if model_config_file_poll_wait_seconds < 0:
        raise ValueError(f"Argument `model_config_file_poll_wait_seconds` must be >= 0. "
                         f"Received: {model_config_file_poll_wait_seconds}")
    if max_body < 1:
        raise ValueError(f"Argument `max_body` must be positive. Received: max_body={max_body}")
    if poll <= 0:
        raise ValueError(f"Argument `poll` must be positive. Received: poll={poll}")
    set_threading(intra_op_parallelism, inter_op_parallelism)
    batcher = Batcher(max_batch_size, batch_timeout_ms, num_batch_threads) if batching else None
    server = ModelServer(base, host, port, max_body=max_body, poll=poll, verbose=verbose,
                         batcher=batcher, model_config_file=model_config_file,
                         config_poll=model_config_file_poll_wait_seconds,
                         grpc_port=grpc_port)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["Batcher", "ModelServer", "Registry", "RequestError", "Servable", "Signature",
           "serve", "set_threading",
           "freeze_heap",
           "is_complete_version",
           "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_BODY"]
