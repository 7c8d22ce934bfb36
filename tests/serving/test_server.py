"""`kzoo serve`: TF Serving's REST API from a real server process on localhost.

The shipped LeNet checkpoint is exported as version 1 of `lenet` into a
temporary base folder; `python -m kzoo serve BASE --port P` runs as a
subprocess for the whole module (stopped in the fixture's `finally`), and the
answers are compared with the Keras model run in this process.
"""

import base64
import contextlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kzoo.serving import Client, ServingError, export_version, load_source
from kzoo.utils import processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET = os.path.join(REPO, "saved_models", "lenet_fashion_mnist.keras")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port, method, path, body=None, headers=None, timeout=60, with_headers=False):
    """`(status, parsed JSON or None, raw bytes[, headers])` of one request over a new
    connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        raw = answer.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if with_headers:
            return answer.status, parsed, raw, answer.headers
        return answer.status, parsed, raw
    finally:
        conn.close()


@pytest.fixture(scope="module")
def lenet():
    return load_source(LENET)[0]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="module")
def expected(lenet, images):
    return lenet.predict(images, verbose=0)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    export_version(LENET, "lenet", version=1, base=str(base))
    return str(base)


@contextlib.contextmanager
def _serving(base, log_path, *args):
    """A `kzoo serve BASE --port P *args` subprocess, once it answers; stopped after.
    gRPC is off (`--grpc-port 0`) unless `args` set a port: two servers would both
    want the default 8500."""
    port = _free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "kzoo", "serve", base,
                                    "--port", str(port), "--grpc-port", "0", *args],
                                   stdout=log, stderr=log, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"server exited:\n{log_path.read_text()}"
            try:
                if _call(port, "GET", "/v1/models/lenet", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server never answered:\n{log_path.read_text()}"
            time.sleep(0.3)
        yield {"port": port, "process": process, "log": log_path}
    finally:
        processes.stop(process)


@pytest.fixture(scope="module")
def server(base, tmp_path_factory):
    with _serving(base, tmp_path_factory.mktemp("log") / "serve.log") as running:
        yield running


def _png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype("uint8")[..., 0], mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_binds_to_loopback_and_status(server):
    port = server["port"]
    assert f"http://127.0.0.1:{port}" in server["log"].read_text()
    want = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}
    for path in ("/v1/models/lenet", "/v1/models/lenet/versions/1", "/V1/MODELS/lenet",
                 "/v1/models/lenet?x=1"):
        code, answer, _ = _call(port, "GET", path)
        assert (code, answer) == (200, want), path


def test_metadata(server):
    for path in ("/v1/models/lenet/metadata", "/v1/models/lenet/versions/1/metadata"):
        code, answer, _ = _call(server["port"], "GET", path)
        assert code == 200
        assert answer["model_spec"] == {"name": "lenet", "signature_name": "", "version": "1"}
        defs = answer["metadata"]["signature_def"]["signature_def"]
        assert {"serving_default", "predict_images"} <= set(defs)
        default = defs["serving_default"]
        assert default["method_name"] == "tensorflow/serving/predict"
        images = default["inputs"]["images"]
        assert images["dtype"] == "DT_FLOAT"
        assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
        assert images["tensor_shape"]["unknown_rank"] is False
        assert set(default["outputs"]) == {"probabilities", "classes", "class_names"}
        assert default["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
        assert default["outputs"]["classes"]["dtype"] == "DT_INT64"
        assert default["outputs"]["class_names"]["dtype"] == "DT_STRING"
        assert [d["size"] for d in default["outputs"]["probabilities"]["tensor_shape"]["dim"]] \
            == ["-1", "10"]
        image_bytes = defs["predict_images"]["inputs"]["image_bytes"]
        assert image_bytes["dtype"] == "DT_STRING"
        assert [d["size"] for d in image_bytes["tensor_shape"]["dim"]] == ["-1"]


def test_predict_row_and_columnar(server, images, expected, lenet):
    port = server["port"]
    x = images[:5]
    code, answer, _ = _call(port, "POST", "/v1/models/lenet:predict",
                            {"instances": x.tolist()})
    assert code == 200, answer
    rows = answer["predictions"]
    assert len(rows) == 5 and set(rows[0]) == {"probabilities", "classes", "class_names"}
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected[:5], atol=1e-5)
    assert [r["classes"] for r in rows] == expected[:5].argmax(-1).tolist()
    names = load_source(LENET)[1]["class_names"]
    assert [r["class_names"] for r in rows] == [names[i] for i in expected[:5].argmax(-1)]

    # Columnar, named and bare; a version named; the signature named.
    for body, path in [({"inputs": {"images": x.tolist()}}, "/v1/models/lenet:predict"),
                       ({"inputs": x.tolist(), "signature_name": "serving_default"},
                        "/v1/models/lenet/versions/1:predict")]:
        code, answer, _ = _call(port, "POST", path, body)
        assert code == 200, answer
        outputs = answer["outputs"]
        np.testing.assert_allclose(outputs["probabilities"], expected[:5], atol=1e-5)
        assert outputs["classes"] == expected[:5].argmax(-1).tolist()
    # Row format with instances as objects keyed by the input name.
    code, answer, _ = _call(port, "POST", "/v1/models/lenet:predict",
                            {"instances": [{"images": x[0].tolist()}]})
    assert code == 200
    np.testing.assert_allclose(answer["predictions"][0]["probabilities"], expected[0],
                               atol=1e-5)


def test_predict_images_b64_png(server, images, expected, base):
    pngs = [_png(image) for image in images[:4]]
    body = {"signature_name": "predict_images",
            "instances": [{"b64": base64.b64encode(p).decode()} for p in pngs]}
    code, answer, _ = _call(server["port"], "POST", "/v1/models/lenet:predict", body)
    assert code == 200, answer
    got = np.array([r["probabilities"] for r in answer["predictions"]])
    # 28×28 grayscale PNGs: decoding is lossless and resizing to the same size is exact.
    np.testing.assert_allclose(got, expected[:4], atol=1e-5)
    loaded = tf.saved_model.load(os.path.join(base, "lenet", "1"))
    local = loaded.signatures["predict_images"](image_bytes=tf.constant(pngs))
    np.testing.assert_allclose(got, local["probabilities"].numpy(), atol=1e-5)
    # Columnar, with the input named.
    body = {"signature_name": "predict_images", "inputs": {"image_bytes": body["instances"]}}
    code, answer, _ = _call(server["port"], "POST", "/v1/models/lenet:predict", body)
    assert code == 200
    np.testing.assert_allclose(answer["outputs"]["probabilities"], expected[:4], atol=1e-5)


def test_client(server, images, expected):
    client = Client(f"http://127.0.0.1:{server['port']}")
    result = client.predict("lenet", images[:3])
    assert set(result) == {"probabilities", "classes", "class_names"}
    assert result["probabilities"].shape == (3, 10)
    np.testing.assert_allclose(result["probabilities"], expected[:3], atol=1e-5)
    np.testing.assert_array_equal(result["classes"], expected[:3].argmax(-1))
    result = client.predict("lenet", np.array([_png(images[5])], dtype=object),
                            signature_name="predict_images", version=1)
    np.testing.assert_allclose(result["probabilities"], expected[5:6], atol=1e-5)
    assert client.status("lenet")["model_version_status"][0]["state"] == "AVAILABLE"
    assert client.metadata("lenet")["model_spec"]["name"] == "lenet"
    with pytest.raises(ServingError) as error:
        client.predict("nope", images[:1])
    assert error.value.status == 404 and "nope" in error.value.message


def _malformed(port):
    """`(name, status, answer)` of malformed requests, each on its own connection."""
    good = np.zeros((1, 28, 28, 1)).tolist()
    predict = "/v1/models/lenet:predict"
    cases = [
        ("not json", "POST", predict, "this is not json", 400),
        ("truncated json", "POST", predict, '{"instances": [', 400),
        ("invalid utf-8", "POST", predict, b"\xff\xfe{}", 400),
        ("body a list", "POST", predict, [], 400),
        ("body a number", "POST", predict, "3", 400),
        ("neither", "POST", predict, {}, 400),
        ("both", "POST", predict, {"instances": good, "inputs": good}, 400),
        ("instances not a list", "POST", predict, {"instances": "x"}, 400),
        ("instances empty", "POST", predict, {"instances": []}, 400),
        ("wrong rank", "POST", predict, {"instances": [1, 2, 3]}, 400),
        ("wrong shape", "POST", predict,
         {"instances": np.zeros((1, 28, 27, 1)).tolist()}, 400),
        ("wrong channels", "POST", predict,
         {"inputs": np.zeros((2, 28, 28, 3)).tolist()}, 400),
        ("strings for floats", "POST", predict, {"instances": [["a"]]}, 400),
        ("booleans for floats", "POST", predict,
         {"instances": np.zeros((1, 28, 28, 1), bool).tolist()}, 400),
        ("ragged", "POST", predict, {"instances": [[[[0.0]] * 28] * 28, [[[0.0]] * 27] * 28]},
         400),
        ("null instance", "POST", predict, {"instances": [None]}, 400),
        ("unknown signature", "POST", predict, {"signature_name": "nope", "instances": good},
         400),
        ("signature not a string", "POST", predict, {"signature_name": 5, "instances": good},
         400),
        ("unknown input name", "POST", predict, {"inputs": {"pixels": good}}, 400),
        ("extra input name", "POST", predict, {"inputs": {"images": good, "x": good}}, 400),
        ("wrong instance key", "POST", predict, {"instances": [{"imagez": good[0]}]}, 400),
        ("floats for image bytes", "POST", predict,
         {"signature_name": "predict_images", "instances": [1.0]}, 400),
        ("bad base64", "POST", predict,
         {"signature_name": "predict_images", "instances": [{"b64": "!!not base64!!"}]}, 400),
        ("b64 not a string", "POST", predict,
         {"signature_name": "predict_images", "instances": [{"b64": 5}]}, 400),
        ("not an image", "POST", predict,
         {"signature_name": "predict_images",
          "instances": [{"b64": base64.b64encode(b"hello world").decode()}]}, 400),
        ("unknown model", "POST", "/v1/models/nope:predict", {"instances": good}, 404),
        ("unknown version", "POST", "/v1/models/lenet/versions/99:predict",
         {"instances": good}, 404),
        ("label", "POST", "/v1/models/lenet/labels/stable:predict", {"instances": good}, 400),
        ("status of a label", "GET", "/v1/models/lenet/labels/stable", None, 400),
        ("version beyond int64", "GET", "/v1/models/lenet/versions/99999999999999999999",
         None, 400),
        ("bad JSON for an unknown model", "POST", "/v1/models/nope:predict", "{", 400),
        ("empty body", "POST", predict, b"", 400),
        ("classify", "POST", "/v1/models/lenet:classify", {"examples": []}, 400),
        ("status of unknown model", "GET", "/v1/models/nope", None, 404),
        ("status of unknown version", "GET", "/v1/models/lenet/versions/7", None, 404),
        ("metadata of unknown version", "GET", "/v1/models/lenet/versions/7/metadata",
         None, 404),
        ("no model name", "GET", "/v1/models", None, 400),
        ("unknown path", "GET", "/v2/whatever", None, 404),
        ("unknown path under /v1", "GET", "/v1/whatever", None, 400),
        ("GET on predict", "GET", predict, None, 400),
        ("POST on status", "POST", "/v1/models/lenet", {"instances": good}, 400),
        ("DELETE", "DELETE", "/v1/models/lenet", None, 400),
        ("PUT on predict", "PUT", predict, {"instances": good}, 400),
        ("OPTIONS without Origin", "OPTIONS", "/v1/models/lenet", None, 400),
        ("over the body limit", "POST", predict, b" " * (32 * 2**20 + 1), 413),
    ]
    results = []
    for name, method, path, body, want in cases:
        code, answer, raw = _call(port, method, path, body)
        results.append((name, want, code, answer, raw))
    # A lying Content-Length far over the limit, never sent: 413, not a hang.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", predict)
    conn.putheader("Content-Length", str(10 * 2**30))
    conn.endheaders()
    answer = conn.getresponse()
    raw = answer.read()
    results.append(("huge Content-Length", 413, answer.status, json.loads(raw), raw))
    conn.close()
    # No Content-Length at all (and no chunked transfer coding).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", predict)
    conn.endheaders()
    answer = conn.getresponse()
    raw = answer.read()
    results.append(("no Content-Length", 411, answer.status, json.loads(raw), raw))
    conn.close()
    return results


def test_malformed_requests(server, images, expected):
    port = server["port"]
    results = _malformed(port)
    assert len(results) >= 25
    for name, want, code, answer, raw in results:
        assert code == want, (name, code, raw[:300])
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str) \
            and answer["error"], (name, raw[:300])
        # The server still answers correctly after each of them.
    assert server["process"].poll() is None
    code, answer, _ = _call(port, "POST", "/v1/models/lenet:predict",
                            {"instances": images[:2].tolist()})
    assert code == 200
    np.testing.assert_allclose([r["probabilities"] for r in answer["predictions"]],
                               expected[:2], atol=1e-5)
    assert _call(port, "GET", "/v1/models/lenet")[0] == 200


def test_errors_as_tf_serving_words_them(server):
    """Messages and codes of tensorflow/serving (http_rest_api_handler.cc,
    get_model_status_impl.cc, basic_manager.cc, server_core.cc, json_tensor.cc)."""
    port = server["port"]
    good = {"instances": np.zeros((1, 28, 28, 1)).tolist()}
    cases = [
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("GET", "/v1/models/lenet/versions/7", None, 404,
         "Could not find version 7 of model lenet"),
        ("GET", "/v1/models/nope/metadata", None, 404,
         "Servable not found for request: Latest(nope)"),
        ("POST", "/v1/models/nope:predict", good, 404,
         "Servable not found for request: Latest(nope)"),
        ("POST", "/v1/models/lenet/versions/9:predict", good, 404,
         "Servable not found for request: Specific(lenet, 9)"),
        ("POST", "/v1/models/lenet/labels/canary:predict", good, 400,
         "Unrecognized servable version label: canary"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        ("GET", "/v1/models/lenet:predict", None, 400,
         "Malformed request: GET /v1/models/lenet:predict"),
        ("POST", "/v1/models/lenet", good, 400, "Malformed request: POST /v1/models/lenet"),
        ("POST", "/v1/models/lenet:predict", {"signature_name": "x", **good}, 400,
         'Serving signature name: "x" not found in signature def'),
        ("POST", "/v1/models/lenet:predict", {}, 400, "Missing 'inputs' or 'instances' key"),
        ("POST", "/v1/models/lenet:predict", b"", 400, "JSON Parse error: The document is empty"),
    ]
    for method, path, body, want, message in cases:
        code, answer, raw = _call(port, method, path, body)
        assert (code, answer) == (want, {"error": message}), (method, path, raw[:300])
    # A CORS preflight with an Origin is answered 200 with an empty body.
    code, _, raw = _call(port, "OPTIONS", "/v1/models/lenet:predict",
                         headers={"Origin": "http://example.com"})
    assert (code, raw) == (200, b"")
    # The model name is percent-decoded, as TF Serving does.
    assert _call(port, "GET", "/v1/models/len%65t")[0] == 200
    code, answer, _ = _call(port, "POST", "/v1/models/len%65t/versions/1:predict", good)
    assert code == 200 and len(answer["predictions"]) == 1


def _chunked(port, path, body, chunk=4096):
    """`(status, parsed JSON)` of a POST whose body is sent with chunked transfer coding."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for i in range(0, len(body), chunk):
                part = body[i:i + chunk]
                conn.send(b"%x\r\n" % len(part) + part + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except OSError:  # the server may answer (413) and close before the end
            pass
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_chunked_body(server, images, expected):
    """aiohttp accepts chunked request bodies: answered like a Content-Length one; over
    the body limit, 413 with a JSON error."""
    port = server["port"]
    body = json.dumps({"instances": images[:3].tolist()}).encode("utf-8")
    code, answer = _chunked(port, "/v1/models/lenet:predict", body)
    assert code == 200, answer
    np.testing.assert_allclose([r["probabilities"] for r in answer["predictions"]],
                               expected[:3], atol=1e-5)
    code, answer = _chunked(port, "/v1/models/lenet:predict", b" " * (32 * 2**20 + 1),
                            chunk=1 << 20)
    assert code == 413 and isinstance(answer.get("error"), str) and answer["error"]
    assert _call(port, "GET", "/v1/models/lenet")[0] == 200


def _concurrent_clients(port, images, expected, clients, requests):
    """`clients` threads × `requests` `Client.predict` calls of 1-4 images each; every
    answer compared with the Keras model's in this process."""
    url = f"http://127.0.0.1:{port}"
    errors, mismatches, done = [], [], []

    def worker(seed):
        client = Client(url)
        rng = np.random.default_rng(seed)
        for _ in range(requests):
            start = int(rng.integers(0, 28))
            count = int(rng.integers(1, 5))
            try:
                result = client.predict("lenet", images[start:start + count])
            except Exception as e:  # noqa: BLE001 - counted, then asserted zero
                errors.append(repr(e))
                continue
            if not (np.allclose(result["probabilities"], expected[start:start + count],
                                atol=1e-5, rtol=0)
                    and np.array_equal(result["classes"],
                                       expected[start:start + count].argmax(-1))):
                mismatches.append((start, count))
            done.append(1)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:5]
    assert not mismatches, mismatches[:5]
    assert len(done) == clients * requests


def test_concurrent_clients(server, images, expected):
    _concurrent_clients(server["port"], images, expected, clients=8, requests=50)


@pytest.mark.heavy
def test_concurrent_clients_full(server, images, expected):
    """Issue 11's count, 8 clients × 500 requests: 151 s on the 2 shared cores here, so
    kept out of the default run; `benchmarks/serving.py` runs the same check against
    the unbatched and the batching server."""
    _concurrent_clients(server["port"], images, expected, clients=8, requests=500)


def test_new_version_is_served_without_restart(server, base, images, expected):
    port = server["port"]
    # An incomplete version folder (no saved_model.pb) is ignored.
    os.makedirs(os.path.join(base, "lenet", "5", "variables"))
    export_version(LENET, "lenet", version=2, base=base)
    written = time.monotonic()
    while _call(port, "GET", "/v1/models/lenet/versions/2")[0] != 200:
        assert time.monotonic() - written < 5, "version 2 not served within 5 s"
        time.sleep(0.1)
    code, answer, _ = _call(port, "GET", "/v1/models/lenet")
    assert code == 200
    assert [s["version"] for s in answer["model_version_status"]] == ["2", "1"]
    assert _call(port, "GET", "/v1/models/lenet/metadata")[1]["model_spec"]["version"] == "2"
    for path in ("/v1/models/lenet/versions/1:predict", "/v1/models/lenet:predict"):
        code, answer, _ = _call(port, "POST", path, {"instances": images[:2].tolist()})
        assert code == 200
        np.testing.assert_allclose([r["probabilities"] for r in answer["predictions"]],
                                   expected[:2], atol=1e-5)
    assert _call(port, "GET", "/v1/models/lenet/versions/1")[0] == 200
    assert _call(port, "GET", "/v1/models/lenet/versions/5")[0] == 404


def test_batching(base, tmp_path, images, expected):
    """--batching merges concurrent requests; answers and per-request errors unchanged.

    The server also runs with one batch thread and TF Serving's thread pool
    flags set (one thread per op, two ops at once)."""
    with _serving(base, tmp_path / "serve.log", "--batching", "--max-batch-size", "8",
                  "--batch-timeout-ms", "30", "--num-batch-threads", "1",
                  "--tensorflow-intra-op-parallelism", "1",
                  "--tensorflow-inter-op-parallelism", "2") as running:
        port = running["port"]
        log = running["log"].read_text()
        assert "batching up to 8 rows, 30 ms, 1 batch thread)" in log, log
        assert "TensorFlow threads: intra-op 1, inter-op 2" in log, log
        results, barrier = [], threading.Barrier(8)

        def worker(seed):
            rng = np.random.default_rng(seed)
            for i in range(15):
                start, count = int(rng.integers(0, 30)), int(rng.integers(1, 3))
                if i % 5 == 0:
                    barrier.wait(timeout=60)
                code, answer, _, headers = _call(
                    port, "POST", "/v1/models/lenet:predict",
                    {"instances": images[start:start + count].tolist()}, with_headers=True)
                results.append((code, start, count, answer, headers.get("X-Kzoo-Batch-Rows")))

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(results) == 8 * 15
        for code, start, count, answer, rows in results:
            assert code == 200, answer
            np.testing.assert_allclose([r["probabilities"] for r in answer["predictions"]],
                                       expected[start:start + count], atol=1e-5)
            assert rows is not None and count <= int(rows) <= 8
        merged = any(int(rows) > count for _, _, count, _, rows in results)
        # Merging depends on timing (2 shared cores): if no call merged above, retry
        # bursts of 8 simultaneous one-row requests a few times.
        for _ in range(5):
            if merged:
                break
            burst, barrier = [None] * 8, threading.Barrier(8)

            def one(i):
                barrier.wait(timeout=60)
                burst[i] = _call(port, "POST", "/v1/models/lenet:predict",
                                 {"instances": images[i:i + 1].tolist()}, with_headers=True)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            for i, (code, answer, _, headers) in enumerate(burst):
                assert code == 200, answer
                np.testing.assert_allclose(answer["predictions"][0]["probabilities"],
                                           expected[i], atol=1e-5)
                merged = merged or int(headers.get("X-Kzoo-Batch-Rows")) > 1
        assert merged, "never merged"

        # One bad image among concurrent good ones: only it fails.
        good = {"b64": base64.b64encode(_png(images[0])).decode()}
        bad = {"b64": base64.b64encode(b"not an image").decode()}
        answers, barrier = [None] * 6, threading.Barrier(6)

        def send(i):
            barrier.wait(timeout=60)
            answers[i] = _call(port, "POST", "/v1/models/lenet:predict",
                               {"signature_name": "predict_images",
                                "instances": [bad if i == 3 else good]})

        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for i, (code, answer, _) in enumerate(answers):
            if i == 3:
                assert code == 400 and answer["error"]
            else:
                assert code == 200, answer
                np.testing.assert_allclose(answer["predictions"][0]["probabilities"],
                                           expected[0], atol=1e-5)
    # SIGTERM (the fixture's terminate()) exits cleanly.
    assert running["process"].returncode == 0, running["log"].read_text()
