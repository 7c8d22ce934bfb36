"""`kzoo serve` against what clients and disks do wrong (issue 30's serving items).

One real server process for the module (`test_server._serving`, REST and gRPC),
on a base folder that also holds what must never be served: a version folder
named beyond int64 and the `.tmp-export-*` folders of killed exports. Every
bad request must get a clear JSON error (never a 500 for what the client sent),
after which the server keeps serving; bad options are refused before anything
starts (`tests/test_bad_inputs.py` has the CLI and API rows).
"""

import base64
import gzip
import json
import os
import shutil
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from kzoo.serving import Client, ServingError, export_version
from kzoo.serving import server as server_module
from kzoo.serving.client import ServingConnectionError

# The REST tests' helpers: the LeNet path, a request, a free port, a PNG, a server.
from test_server import LENET, _call, _free_port, _png, _serving

PREDICT = "/v1/models/lenet:predict"
BEYOND_INT64 = "99999999999999999999"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """LeNet as version 1 of `lenet`, beside complete copies of it that are no versions:
    a folder named beyond int64 and two `.tmp-export-*` folders of killed exports."""
    base = tmp_path_factory.mktemp("serving")
    export_version(LENET, "lenet", version=1, base=str(base))
    version = os.path.join(base, "lenet", "1")
    for copy in (os.path.join(base, "lenet", BEYOND_INT64),
                 os.path.join(base, "lenet", ".tmp-export-k1", "version"),
                 os.path.join(base, ".tmp-export-k2", "1")):
        shutil.copytree(version, copy)
    return str(base)


@pytest.fixture(scope="module")
def server(base, tmp_path_factory):
    grpc_port = _free_port()
    # --max-batch-size without --batching: ignored, with a warning.
    with _serving(base, tmp_path_factory.mktemp("log") / "serve.log", "--grpc-port",
                  str(grpc_port), "--poll-seconds", "0.3", "--max-batch-size", "4") as running:
        running["grpc_port"] = grpc_port
        yield running


@pytest.fixture(scope="module")
def good():
    return {"instances": np.zeros((1, 28, 28, 1)).tolist()}


def _raw(port, data, timeout=30):
    """`(status, {lower-case header: value}, body)` of the answer to the raw bytes
    `data`, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data[0] if isinstance(data, tuple) else data)
        if isinstance(data, tuple):  # the rest of the request, a moment later
            time.sleep(0.2)
            s.sendall(data[1])
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {key.lower(): value for key, value in
               (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    return int(lines[0].split()[1]), headers, body


def _post(body, headers=b""):
    return (b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n" % len(body) + headers + b"\r\n" + body)


def _json_error(status, headers, body):
    """The message of a JSON `{"error": ...}` answer (fails on anything else)."""
    assert headers.get("content-type", "").startswith("application/json"), (status, body)
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message, body
    return message


def _still_serving(server, good):
    assert server["process"].poll() is None
    code, answer, raw = _call(server["port"], "POST", PREDICT, good)
    assert code == 200 and len(answer["predictions"]) == 1, raw[:300]


# --------------------------------------------------------------------------- #
# Options (item 1; the refusals are rows of tests/test_bad_inputs.py)
# --------------------------------------------------------------------------- #


def test_batch_options_without_batching_warn(server):
    assert ("warning: `max_batch_size` (--max-batch-size) is ignored without `batching` "
            "(--batching)") in server["log"].read_text()
    message = server_module.unused_batch_options(False, batch_timeout_ms=1.0,
                                                 num_batch_threads=2)
    assert "--batch-timeout-ms" in message and "--num-batch-threads" in message \
        and "--batching" in message
    assert server_module.unused_batch_options(True, max_batch_size=4) is None
    assert server_module.unused_batch_options(False) is None


# --------------------------------------------------------------------------- #
# Decompression bombs (item 2)
# --------------------------------------------------------------------------- #


def _zeros_png(width, height):
    """A valid all-black 8-bit grayscale PNG of `width` x `height`, compressed row by row
    (12,000 x 12,000: 140 KB that decode to 144 MB)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    deflate = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte 0, then the row's pixels
    idat = b"".join([deflate.compress(row) for _ in range(height)] + [deflate.flush()])
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_image_over_the_pixel_limit_is_refused_before_decoding(server, good):
    bomb = _zeros_png(12_000, 12_000)
    assert len(bomb) < 200_000
    small = _png(np.zeros((28, 28, 1)))
    # REST: b64 in JSON, alone and behind a good image.
    for images in ([bomb], [small, bomb]):
        body = {"signature_name": "predict_images",
                "instances": [{"b64": base64.b64encode(p).decode()} for p in images]}
        code, answer, raw = _call(server["port"], "POST", PREDICT, body)
        assert code == 400, raw[:300]
        assert answer["error"] == (
            f"input 'image_bytes', value {len(images) - 1}: a 12000x12000 PNG image has "
            f"144000000 pixels, more than the server's limit of 67108864 (kzoo serve "
            f"--max-image-pixels)")
    # gRPC: a string tensor.
    with Client(f"127.0.0.1:{server['grpc_port']}", protocol="grpc") as client:
        with pytest.raises(ServingError) as error:
            client.predict("lenet", [bomb], signature_name="predict_images")
        assert error.value.code == "INVALID_ARGUMENT"
        assert "12000x12000 PNG" in error.value.message
        assert "--max-image-pixels" in error.value.message
        # A PNG whose header is cut short: refused by name, not decoded.
        with pytest.raises(ServingError) as error:
            client.predict("lenet", [bomb[:20]], signature_name="predict_images")
        assert error.value.code == "INVALID_ARGUMENT" and "PNG" in error.value.message
        # Small images still pass, over both protocols.
        result = client.predict("lenet", [small], signature_name="predict_images")
        assert result["probabilities"].shape == (1, 10)
    body = {"signature_name": "predict_images",
            "instances": [{"b64": base64.b64encode(small).decode()}]}
    assert _call(server["port"], "POST", PREDICT, body)[0] == 200
    _still_serving(server, good)


# --------------------------------------------------------------------------- #
# Bodies and HTTP (item 6), CORS (item 7)
# --------------------------------------------------------------------------- #


def test_bodies_that_fail_to_parse_are_400(server, good):
    port = server["port"]
    deep = 1000
    cases = {
        "a list nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
        "instances nested 5000 deep": b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        # orjson refuses NaN: the standard parser (recursive) decodes it.
        "NaN nested 990 deep": b'{"instances": ' + b"[" * 990 + b"NaN" + b"]" * 990 + b"}",
        "a list nested 1000 deep": b"[" * deep + b"]" * deep,
        "strings nested 1000 deep": b'{"signature_name": "predict_images", "instances": '
                                    + b"[" * deep + b'"x"' + b"]" * deep + b"}",
        "not the gzip it claims": (b"this is not gzip", b"Content-Encoding: gzip\r\n"),
    }
    for name, body in cases.items():
        body, headers = body if isinstance(body, tuple) else (body, b"")
        status, answer_headers, answer = _raw(port, _post(body, headers))
        assert status == 400, (name, status, answer[:300])
        _json_error(status, answer_headers, answer)
    # A valid gzip (and deflate) body is inflated, as TF Serving does.
    plain = _call(port, "POST", PREDICT, good)[1]
    raw = json.dumps(good).encode()
    for encoding, packed in (("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw))):
        status, _, answer = _raw(port, _post(packed, b"Content-Encoding: %s\r\n"
                                             % encoding.encode()))
        assert status == 200, (encoding, answer[:300])
        assert json.loads(answer) == plain
    _still_serving(server, good)


def test_http_level_errors_are_json(server, good):
    """What aiohttp's HTTP parser refuses before any handler runs: TF Serving's JSON
    errors with HTTP's status for each, not aiohttp's plain text."""
    port = server["port"]
    start = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    cases = [
        ("a URL of 100000 bytes", b"GET /v1/models/" + b"a" * 100_000
         + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("a header of 100000 bytes", b"GET /v1/models/lenet HTTP/1.1\r\nHost: x\r\nX-A: "
         + b"a" * 100_000 + b"\r\n\r\n", 431),
        ("200 headers", b"GET /v1/models/lenet HTTP/1.1\r\nHost: x\r\n"
         + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431),
        ("a bad Content-Length", start + b"Content-Length: abc\r\n\r\n{}", 400),
        ("a bad chunk size", start + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
         400),
        # The handler is already reading the body when the bad chunk comes: not a hang.
        ("a bad chunk size mid-body", (start + b"Transfer-Encoding: chunked\r\n\r\n"
                                       b"5\r\n{\"ins\r\n", b"zz\r\nabc\r\n0\r\n\r\n"), 400),
        ("a garbage request line", b"\x16\x03\x01 garbage\r\n\r\n", 400),
        ("no HTTP at all", b"hello\r\n\r\n", 400),
    ]
    for name, data, want in cases:
        status, headers, body = _raw(port, data)
        assert status == want, (name, status, body[:300])
        _json_error(status, headers, body)
    # aiohttp no longer logs each with a traceback.
    assert "Traceback" not in server["log"].read_text()
    _still_serving(server, good)


def test_cors(server):
    port = server["port"]
    status, headers, body = _raw(port, b"OPTIONS " + PREDICT.encode() + b" HTTP/1.1\r\n"
                                 b"Host: x\r\nOrigin: http://example.com\r\n"
                                 b"Access-Control-Request-Method: POST\r\n"
                                 b"Connection: close\r\n\r\n")
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "POST, GET"
    assert headers["access-control-allow-headers"] == "Content-Type"
    code, _, _, answer_headers = _call(port, "GET", "/v1/models/lenet", with_headers=True,
                                       headers={"Origin": "http://example.com"})
    assert code == 200 and answer_headers["Access-Control-Allow-Origin"] == "*"


# --------------------------------------------------------------------------- #
# The version folders on disk (items 3, 4, 5)
# --------------------------------------------------------------------------- #


def test_only_int64_numbered_folders_are_versions(server, base, good):
    port = server["port"]
    code, answer, _ = _call(port, "GET", "/v1/models/lenet")
    assert code == 200
    assert [s["version"] for s in answer["model_version_status"]] == ["1"]
    code, answer, _ = _call(port, "GET", "/v1/models/lenet/metadata")
    assert answer["model_spec"]["version"] == "1"  # the latest is 1, not the big one
    log = server["log"].read_text()
    assert (f"ignored {os.path.join(base, 'lenet', BEYOND_INT64)}: version {BEYOND_INT64} "
            f"does not fit TF Serving's int64 versions") in log, log
    # Folders of killed exports are never models nor versions, nor reported.
    assert _call(port, "GET", "/v1/models/.tmp-export-k2")[0] == 404
    assert ".tmp-export" not in log, log
    _still_serving(server, good)


def _wait(condition, what, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_version_copied_in_is_retried_until_complete(server, base, good):
    """`cp -r` writing `variables.index` before the data file: the first load fails, and
    the version is loaded once the copy completes (only saved_model.pb's time was
    watched before); it is never served half-written."""
    port, log = server["port"], server["log"]
    source = os.path.join(base, "lenet", "1")
    target = os.path.join(base, "copied", "3")
    os.makedirs(os.path.join(target, "variables"))
    for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
        shutil.copy2(os.path.join(source, name), os.path.join(target, name))
    _wait(lambda: f"could not load {target}" in log.read_text(),
          f"no failed load of {target} logged:\n{log.read_text()[-2000:]}")
    assert _call(port, "GET", "/v1/models/copied/versions/3")[0] == 404
    for name in os.listdir(source):  # the rest of the copy
        path = os.path.join(source, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(target, name), dirs_exist_ok=True)
        elif name != "saved_model.pb":
            shutil.copy2(path, os.path.join(target, name))
    _wait(lambda: _call(port, "GET", "/v1/models/copied/versions/3")[0] == 200,
          f"version 3 not served after its copy completed:\n{log.read_text()[-2000:]}")
    code, answer, _ = _call(port, "POST", "/v1/models/copied:predict", good)
    assert code == 200
    assert answer == _call(port, "POST", PREDICT, good)[1]


@pytest.mark.parametrize("where, words", [
    ("model", "looks like a model folder (it holds version 1/ with saved_model.pb): "
              "serve its parent {base}, where it is model lenet"),
    ("version", "looks like a version folder (it holds saved_model.pb): serve {base}, "
                "where it is version 1 of model lenet"),
    ("empty", "holds no model folder"),
])
def test_a_base_that_serves_nothing_says_why(base, tmp_path, capsys, where, words):
    """`kzoo serve BASE` with BASE a model or version folder (or empty) says what BASE
    should hold and which folder to serve (in-process: nothing is loaded)."""
    folder = {"model": os.path.join(base, "lenet"),
              "version": os.path.join(base, "lenet", "1"), "empty": str(tmp_path)}[where]
    server = server_module.ModelServer(folder, "127.0.0.1", 0)
    try:
        assert server.registry.names() == []
    finally:
        server.server_close()
    err = capsys.readouterr().err
    hint = f"kzoo serve: no model to serve: BASE {folder} {words.format(base=base)}"
    assert hint in err, err
    assert "BASE/NAME/VERSION/saved_model.pb" in err


# --------------------------------------------------------------------------- #
# The client without an answer (item 8)
# --------------------------------------------------------------------------- #


@pytest.fixture
def dropping_port():
    """A port whose server reads a little of each connection, then drops it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.recv(1024)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_client_without_an_answer_raises_a_connection_error(dropping_port):
    refused = _free_port()
    for port, what in ((refused, "refused"), (dropping_port, "dropped")):
        for url, protocol in ((f"http://127.0.0.1:{port}", "rest"),
                              (f"127.0.0.1:{port}", "grpc")):
            with Client(url, protocol=protocol, timeout=10) as client:
                for call in (lambda: client.status("lenet"),
                             lambda: client.predict("lenet", np.zeros((1, 28, 28, 1)))):
                    with pytest.raises(ServingConnectionError) as error:
                        call()
                    assert isinstance(error.value, ConnectionError)
                    assert not isinstance(error.value, ServingError)
                    assert url in str(error.value), (what, protocol, str(error.value))
                    assert error.value.url == url
