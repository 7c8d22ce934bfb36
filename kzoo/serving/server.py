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
Content-Length nor chunked transfer coding); 413 (body over the limit); 500
only for the server's own faults, never for what a client sent (a JSON nested
too deeply, a broken gzip body, an image over `max_image_pixels` are 400).
Requests that aiohttp's HTTP parser refuses before any handler runs are JSON
errors too (`_JsonErrorsHandler`): 400 (a garbage request line, a bad
Content-Length or chunk size), 414 (a request line over 8190 bytes), 431 (a
header over 8190 bytes, or too many). OPTIONS is TF Serving's CORS preflight,
answered with `Access-Control-Allow-Origin: *`, `Access-Control-Allow-Methods:
POST, GET` and `Access-Control-Allow-Headers: Content-Type`; API answers to a
request with an Origin header carry `Access-Control-Allow-Origin: *`. A body
with `Content-Encoding: gzip` (or deflate) is inflated, as TF Serving does.
The server keeps serving after any of them.

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
import warnings

from kzoo.serving import batching
from kzoo.serving.batching import Batcher
from kzoo.serving.metrics import METRICS_PATH, Metrics
from kzoo.serving.rest import _CODES as _STATUS_CODES
from kzoo.serving.rest import (DEFAULT_MAX_IMAGE_PIXELS, RequestError, _answer_bytes, _bad,
                               _error_payload, _numeric_request, _parse_json, check_inputs,
                               check_number, format_answer, metadata, parse_request,
                               run_signature, status)
from kzoo.serving.servables import (Registry, Servable, Signature, is_complete_version,
                                   read_model_config)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_TIMEOUT_MS = 5.0

#: The range of every numeric option of `serve` and `ModelServer` (and of `kzoo serve`):
#: `(CLI flag, low, high, integer, unit)`, checked before anything starts.
OPTIONS = {
    "port": ("--port", 0, 65535, True, "(0: a free port)"),
    "grpc_port": ("--grpc-port", 0, 65535, True, ""),
    "max_body": ("--max-body-mb", 1024, 2 ** 32, True, "bytes"),
    "max_body_mb": ("--max-body-mb", 0.001, 4096, False, "MiB"),
    "poll": ("--poll-seconds", 0.1, 86400, False, "seconds"),
    "model_config_file_poll_wait_seconds": ("--model-config-file-poll-wait-seconds", 0,
                                            86400, False, "seconds (0: never)"),
    "max_image_pixels": ("--max-image-pixels", 0, 2 ** 32, True, "pixels (0: no limit)"),
    "workers": (None, 1, 1024, True, "threads"),
    "max_batch_size": ("--max-batch-size", *batching.LIMITS["max_batch_size"], True,
                       "rows"),
    "batch_timeout_ms": ("--batch-timeout-ms", *batching.LIMITS["batch_timeout_ms"],
                         False, "ms"),
    "num_batch_threads": ("--num-batch-threads", *batching.LIMITS["num_batch_threads"],
                          True, "threads"),
    "intra_op_parallelism": ("--tensorflow-intra-op-parallelism", 0, 4096, True,
                             "(0: TensorFlow chooses)"),
    "inter_op_parallelism": ("--tensorflow-inter-op-parallelism", 0, 4096, True,
                             "(0: TensorFlow chooses)"),
}


def check_option(name, value, *, argument=None):
    """`value` if it is in the range of option `name` (`OPTIONS`), else a `ValueError`
    naming `argument` (default `name`) and the option's flag."""
    flag, low, high, integer, unit = OPTIONS[name]
    return check_number(argument or name, value, low, high, flag=flag, integer=integer,
                        unit=unit)


#: The batching options, ignored without `batching` (`--batching`).
BATCH_OPTIONS = ("max_batch_size", "batch_timeout_ms", "num_batch_threads")


def unused_batch_options(batching, **options):
    """The batching options given (not None) without `batching`, as a message naming
    them and their flags, else None."""
    given = [name for name in BATCH_OPTIONS if options.get(name) is not None]
    if batching or not given:
        return None
    names = ", ".join(f"`{name}` ({OPTIONS[name][0]})" for name in given)
    return (f"{names} {'is' if len(given) == 1 else 'are'} ignored without `batching` "
            f"(--batching)")

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
            return _json_response(e.status, {"error": e.message}, close=e.close)
        except Exception as e:  # never let one request stop the server
            return _json_response(500, _error_payload(e))
    return json_errors


def _parser_error(status, exc, message):
    """`(status, message)` of a request aiohttp's HTTP parser refused: a line too long is
    414 (the request line) or 431 (a header), as HTTP names them; the rest 400."""
    from aiohttp import http_exceptions

    text = " ".join(str(message or getattr(exc, "message", "") or exc or "").split())
    if isinstance(exc, http_exceptions.LineTooLong):
        line, limit = exc.args[0], exc.args[1]
        raw = bytes(line) if isinstance(line, (bytes, bytearray)) else str(line).encode()
        # aiohttp's C parser passes the request line as a bytearray and header lines as
        # bytes; its pure Python parser passes the request line with its method first.
        if isinstance(line, bytearray) or re.match(rb"[A-Z]+ ", raw):
            return 414, f"The request line is longer than {limit} bytes"
        return 431, f"A request header is longer than {limit} bytes"
    if "too many headers" in text.lower():
        return 431, "The request has too many headers"
    if status == 500:
        return 500, "Internal server error"
    return status, f"Malformed HTTP request: {text}" if text else "Malformed HTTP request"


def _json_errors_handler():
    """aiohttp's `RequestHandler` whose own error answers (the HTTP parser's refusals,
    before any handler of ours runs) are JSON `{"error": ...}`, as the API's."""
    from aiohttp import web

    class _JsonErrorsHandler(web.RequestHandler):
        __slots__ = ()

        def data_received(self, data):
            messages = getattr(self, "_messages", None)
            before = len(messages) if messages is not None else 0
            super().data_received(data)
            # aiohttp's parser forgets the body of the request in progress when the rest
            # of it is malformed (e.g. a bad chunk size) and queues the error as a next
            # request: the handler reading the body would wait for it forever.
            request = getattr(self, "_current_request", None)
            if request is None or messages is None or len(messages) <= before:
                return
            error = messages[-1][0]
            if hasattr(error, "exc") and not request.content.is_eof():
                request.content.set_exception(web.RequestPayloadError(error.message))

        def log_exception(self, *args, **kwargs):
            # A malformed body met again when aiohttp drains it after our answer.
            if isinstance(kwargs.get("exc_info"), web.RequestPayloadError):
                self.logger.debug(*args, **kwargs)
            else:
                super().log_exception(*args, **kwargs)

        def handle_error(self, request, status=500, exc=None, message=None):
            # aiohttp logs these with a traceback; a client's garbage is no server error.
            self.logger.debug("Refused a request from %s: %r", request.remote, exc)
            if request.writer.output_size > 0:  # an answer is half sent: nothing to add
                raise ConnectionError("Response is sent already, cannot send another "
                                      "response with the error message")
            code, text = _parser_error(status, exc, message)
            return _json_response(code, {"error": text}, close=True)

    return _JsonErrorsHandler


def _json_errors_runner(app, **kwargs):
    """A `web.AppRunner` of `app` whose connections are `_json_errors_handler()`s."""
    from aiohttp import web

    handler_class = _json_errors_handler()

    class _Server(web.Server):
        def __call__(self):
            return handler_class(self, loop=self._loop, **self._kwargs)

    class _Runner(web.AppRunner):
        async def _make_server(self):
            server = await super()._make_server()
            server.__class__ = _Server  # aiohttp's Server, with our connection handler
            return server

    return _Runner(app, **kwargs)


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


# TF Serving's answer to a CORS preflight (OPTIONS with an Origin header).
_CORS_HEADERS = (("Access-Control-Allow-Origin", "*"),
                 ("Access-Control-Allow-Methods", "POST, GET"),
                 ("Access-Control-Allow-Headers", "Content-Type"))


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
            if "Origin" in request.headers:  # a browser's cross-origin request (CORS)
                response.headers.setdefault("Access-Control-Allow-Origin", "*")
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
                    return _json_response(200, None, headers=_CORS_HEADERS)
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
            response = _json_response(e.status, {"error": e.message}, close or e.close)
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
        # Non-finite pixels, bytes that are no image and images over the pixel limit
        # are refused before anything decodes or runs them.
        if signature.kzoo_export or (signature.string_inputs
                                     and self.server.max_image_pixels):
            if small:
                check_inputs(signature, arrays, self.server.max_image_pixels)
            else:
                await self._call(check_inputs, signature, arrays,
                                 self.server.max_image_pixels)
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
        except web.RequestPayloadError as e:  # e.g. not the gzip it claims, a bad chunk
            cause = e.__cause__ or e
            text = " ".join(str(getattr(cause, "message", None) or cause).split())
            raise RequestError(400, f"Malformed request body: {text}", close=True) from None
        # Content-Length counts the bytes sent: an encoded (gzip) body inflates to more.
        encoded = request.headers.get("Content-Encoding", "identity").lower() != "identity"
        if length is not None and not chunked and not encoded and len(body) != length:
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
                 config_poll=DEFAULT_POLL_SECONDS, grpc_port=None,
                 max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS):
        import concurrent.futures
        import socket

        _check_server_options(port=port, grpc_port=grpc_port, max_body=max_body,
                              poll=poll, config_poll=config_poll,
                              max_image_pixels=max_image_pixels, workers=workers)
        # The most pixels of one encoded image in a request (`rest.check_inputs`; 0: any).
        self.max_image_pixels = int(max_image_pixels)
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
        self.registry.explain_empty()  # e.g. BASE is a model folder: say so
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
        runner = _json_errors_runner(self.make_app(), handle_signals=False,
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


def _check_server_options(*, port, grpc_port, max_body, poll, config_poll,
                          max_image_pixels, workers, config_poll_argument="config_poll"):
    """`ModelServer`'s numeric arguments in their ranges (`OPTIONS`), else a ValueError."""
    check_option("port", port)
    if grpc_port is not None:
        check_option("grpc_port", grpc_port)
    check_option("max_body", max_body)
    check_option("poll", poll)
    check_option("model_config_file_poll_wait_seconds", config_poll,
                 argument=config_poll_argument)
    check_option("max_image_pixels", max_image_pixels)
    if workers is not None:
        check_option("workers", workers)


def set_threading(intra_op_parallelism=0, inter_op_parallelism=0):
    """Sets TensorFlow's intra- and inter-op thread pool sizes (0 leaves one as it is).

    Raises a `ValueError` for a size out of `OPTIONS`' range, or once TensorFlow has
    run an op in this process (its pools are then fixed).
    """
    sizes = {"intra_op_parallelism": intra_op_parallelism,
             "inter_op_parallelism": inter_op_parallelism}
    for key, value in sizes.items():
        check_option(key, value)
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
          poll=DEFAULT_POLL_SECONDS, verbose=False, batching=False, max_batch_size=None,
          batch_timeout_ms=None, num_batch_threads=None, intra_op_parallelism=0,
          inter_op_parallelism=0, grpc_port=None, max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
          ready=None):
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
        max_batch_size, batch_timeout_ms: with `batching`, the most rows in one
            call (default 32) and how long a request waits for others (default
            5 ms). Given without `batching`, the batch options are ignored with
            a warning.
        num_batch_threads: with `batching`, how many batches run at once
            (default one per CPU).
        max_image_pixels: the most pixels (width × height × frames) of an encoded
            image in a request, read from its header before the signature decodes
            it (400 above it; 0: no limit).
        intra_op_parallelism, inter_op_parallelism: TensorFlow's thread pool
            sizes, as TF Serving's `--tensorflow_intra_op_parallelism` and
            `--tensorflow_inter_op_parallelism` (0: TensorFlow chooses). They
            must be set before the process runs any TensorFlow op.
        grpc_port: also serve TF Serving's gRPC API (`kzoo.serving.grpc_api`) on
            this port of `host` (0 picks one; None: no gRPC); a port in use is a
            ValueError. The bound address is `server.grpc_address`.
        ready: called with the server once it listens (e.g. to print its address).

    Every numeric argument is checked against its range (`OPTIONS`) before
    anything starts: a `ValueError` names the argument and its `kzoo serve` flag.
    """
    if (base is None) == (model_config_file is None):
        raise ValueError(f"Pass exactly one of `base` and `model_config_file`. Received: "
                         f"base={base!r}, model_config_file={model_config_file!r}")
    _check_server_options(port=port, grpc_port=grpc_port, max_body=max_body, poll=poll,
                          config_poll=model_config_file_poll_wait_seconds,
                          config_poll_argument="model_config_file_poll_wait_seconds",
                          max_image_pixels=max_image_pixels, workers=None)
    batch = {"max_batch_size": max_batch_size, "batch_timeout_ms": batch_timeout_ms,
             "num_batch_threads": num_batch_threads}
    for name, value in batch.items():
        if value is not None:
            check_option(name, value)
    check_option("intra_op_parallelism", intra_op_parallelism)
    check_option("inter_op_parallelism", inter_op_parallelism)
    if base is not None:
        base = os.fspath(base)
        if not os.path.isdir(base):
            raise ValueError(f"Argument `base`: no folder at {base!r}. Received: "
                             f"base={base!r}")
    else:
        model_config_file = os.fspath(model_config_file)
        read_model_config(model_config_file)  # a clear error before anything loads
    unused = unused_batch_options(batching, **batch)
    if unused:
        warnings.warn(unused, stacklevel=2)
    set_threading(intra_op_parallelism, inter_op_parallelism)
    batcher = None
    if batching:
        batcher = Batcher(DEFAULT_MAX_BATCH_SIZE if max_batch_size is None else max_batch_size,
                          DEFAULT_BATCH_TIMEOUT_MS if batch_timeout_ms is None
                          else batch_timeout_ms, num_batch_threads)
    server = ModelServer(base, host, port, max_body=max_body, poll=poll, verbose=verbose,
                         batcher=batcher, model_config_file=model_config_file,
                         config_poll=model_config_file_poll_wait_seconds,
                         grpc_port=grpc_port, max_image_pixels=max_image_pixels)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["Batcher", "ModelServer", "Registry", "RequestError", "Servable", "Signature",
           "serve", "set_threading",
           "check_option", "freeze_heap", "unused_batch_options",
           "is_complete_version",
           "BATCH_OPTIONS", "OPTIONS",
           "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_BODY", "DEFAULT_MAX_IMAGE_PIXELS"]
