"""`kzoo serve`'s Prometheus metrics: `kzoo.serving.metrics.Metrics` on its own, then
`GET /monitoring/prometheus/metrics` of a real `kzoo serve --batching` process.

Every exposition is read back with prometheus_client's own text parser, as a
Prometheus scrape would read it.
"""

import http.client
import threading
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kzoo.serving import export_version
from kzoo.serving.metrics import (BATCH_SIZE_BOUNDS, LATENCY_BOUNDS, METRICS_PATH,
                                  MODEL_VERSIONS_LOADED, PROCESSED_BATCH_SIZE, REQUEST_COUNT,
                                  REQUEST_LATENCY, REQUESTS_BY_API, RUNTIME_LATENCY, Metrics)

from tests.serving.test_server import LENET, _call, _serving


def _parse(text):
    """`{family name: family}` of a scrape, as prometheus_client's parser reads it."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def _samples(families, family, suffix="", **labels):
    """`{label tuple: value}` of `family`'s samples named `family + suffix` whose
    labels include `labels`; the key leaves `labels` out (and `le` keeps its place)."""
    found = {}
    for sample in families[family].samples:
        if sample.name != family + suffix:
            continue
        if any(sample.labels.get(key) != value for key, value in labels.items()):
            continue
        key = tuple(value for key, value in sorted(sample.labels.items())
                    if key not in labels)
        found[key] = sample.value
    return found


def _scrape(metrics):
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    return body.decode("utf-8")


class _Servable:
    def __init__(self, version):
        self.version = version


class _Registry:
    """A stand-in for `kzoo.serving.servables.Registry` (names and versions only)."""

    def __init__(self, models):
        self.models = models

    def names(self):
        return sorted(self.models) + ["dropped"]

    def versions(self, name):
        if name not in self.models:  # dropped between names() and versions()
            raise LookupError(name)
        return [_Servable(v) for v in sorted(self.models[name], reverse=True)]


def test_counts_by_model_and_status_and_tf_serving_names():
    metrics = Metrics()
    for _ in range(3):
        metrics.record_request("lenet", "Predict", "REST", "OK", 0.002)
    metrics.record_request("lenet", "Predict", "GRPC", "OK", 0.002)
    metrics.record_request("lenet", "Predict", "REST", "INVALID_ARGUMENT", 0.001)
    metrics.record_request("nosuch", "GetModelStatus", "REST", "NOT_FOUND", 0.001)
    text = _scrape(metrics)
    # TF Serving's own spelling (prometheus_exporter.cc): the counter under its name,
    # without prometheus_client's `_total`.
    assert f"# TYPE {REQUEST_COUNT} counter\n" in text
    assert f'{REQUEST_COUNT}{{model_name="lenet",status="OK"}} 4.0\n' in text
    assert "_total" not in text
    families = _parse(text)
    assert families[REQUEST_COUNT].type == "counter"
    # The parser names counter samples NAME_total, as it does for TF Serving's.
    assert _samples(families, REQUEST_COUNT, "_total") == {
        ("lenet", "INVALID_ARGUMENT"): 1, ("lenet", "OK"): 4, ("nosuch", "NOT_FOUND"): 1}
    # kzoo's own counter: every request by model, API, entrypoint and status.
    assert _samples(families, REQUESTS_BY_API, "_total") == {
        ("Predict", "REST", "lenet", "OK"): 3, ("Predict", "GRPC", "lenet", "OK"): 1,
        ("Predict", "REST", "lenet", "INVALID_ARGUMENT"): 1,
        ("GetModelStatus", "REST", "nosuch", "NOT_FOUND"): 1}
    # As TF Serving: the latency histogram holds the successful requests only.
    assert _samples(families, REQUEST_LATENCY, "_count") == {
        ("Predict", "GRPC", "lenet"): 1, ("Predict", "REST", "lenet"): 3}
    assert _samples(families, REQUEST_LATENCY, "_sum", entrypoint="REST") == {
        ("Predict", "lenet"): pytest.approx(3 * 2000.0)}  # microseconds


def test_histogram_buckets():
    # TF Serving's buckets: Exponential(10, 1.8, 33) µs and Exponential(1, 2, 14) rows.
    assert LATENCY_BOUNDS[:5] == (10.0, 18.0, 32.4, 58.32, 104.976)
    assert len(LATENCY_BOUNDS) == 33 and LATENCY_BOUNDS[-1] == pytest.approx(1.47476e9)
    assert BATCH_SIZE_BOUNDS == tuple(float(2 ** i) for i in range(14))
    metrics = Metrics()
    # 5 µs, exactly 10 µs (Prometheus's le: in the 10 bucket), 11 µs, 1 s, 1 hour.
    for seconds in (5e-6, 10e-6, 11e-6, 1.0, 3600.0):
        metrics.record_request("m", "Predict", "REST", "OK", seconds)
        metrics.record_runtime("m", "Predict", seconds)
    for size in (1, 3, 4, 8, 9, 20000):
        metrics.record_batch(size)
    families = _parse(_scrape(metrics))
    for family in (REQUEST_LATENCY, RUNTIME_LATENCY):
        buckets = {float(le): value for (le,), value in _samples(
            families, family, "_bucket", model_name="m", API="Predict",
            **({"entrypoint": "REST"} if family == REQUEST_LATENCY else {"runtime": "TF2"})
        ).items()}
        assert len(buckets) == 34  # 33 bounds and +Inf
        assert buckets[10.0] == 2 and buckets[18.0] == 3
        assert buckets[1102.0] == 3  # printed as TF Serving prints it (6 digits)
        assert buckets[1.27482e6] == 4 and buckets[1.47476e9] == 4
        assert buckets[float("inf")] == 5
        counts = [buckets[b] for b in sorted(buckets)]
        assert counts == sorted(counts)  # cumulative
    batches = {float(le): value
               for (le,), value in _samples(families, PROCESSED_BATCH_SIZE, "_bucket").items()}
    assert (batches[1.0], batches[2.0], batches[4.0], batches[8.0], batches[16.0]) == (1, 1, 3, 4, 5)
    assert batches[8192.0] == 5 and batches[float("inf")] == 6
    assert _samples(families, PROCESSED_BATCH_SIZE, "_sum") == {(): 1 + 3 + 4 + 8 + 9 + 20000}


def test_loaded_versions_gauge_and_empty_families():
    text = _scrape(Metrics(_Registry({"lenet": [1, 3], "resnet": [7]})))
    families = _parse(text)
    assert families[MODEL_VERSIONS_LOADED].type == "gauge"
    assert _samples(families, MODEL_VERSIONS_LOADED) == {
        ("lenet", "1"): 1, ("lenet", "3"): 1, ("resnet", "7"): 1}
    # Nothing recorded: each family is declared, without samples.
    for family in (REQUEST_COUNT, REQUEST_LATENCY, RUNTIME_LATENCY, PROCESSED_BATCH_SIZE):
        assert f"# TYPE {family} " in text and not families[family].samples
    assert not _parse(_scrape(Metrics()))[MODEL_VERSIONS_LOADED].samples


def test_thread_safe_and_cheap():
    metrics = Metrics()

    def record(thread):
        for i in range(5000):
            metrics.record_request(f"m{thread % 2}", "Predict", "GRPC",
                                   "OK" if i % 5 else "NOT_FOUND", 0.001)
            metrics.record_batch(1 + i % 8)

    threads = [threading.Thread(target=record, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    families = _parse(_scrape(metrics))
    assert _samples(families, REQUEST_COUNT, "_total") == {
        ("m0", "NOT_FOUND"): 2000, ("m0", "OK"): 8000,
        ("m1", "NOT_FOUND"): 2000, ("m1", "OK"): 8000}
    assert _samples(families, PROCESSED_BATCH_SIZE, "_count") == {(): 20000}
    # One record per request on the event loop: a few microseconds (measured 1.3 µs
    # here); the best of 3 runs, so that a busy host does not fail the test.
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(20000):
            metrics.record_request("lenet", "Predict", "REST", "OK", 0.004)
        best = min(best, (time.perf_counter() - start) / 20000)
    assert best < 20e-6, f"record_request took {best * 1e6:.1f} µs"


def _scrape_server(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", METRICS_PATH)
        answer = conn.getresponse()
        body = answer.read().decode("utf-8")
        assert answer.status == 200, body
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        # Closed after the scrape, so that it never holds back the batcher.
        assert answer.headers["Connection"] == "close"
        return body
    finally:
        conn.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    export_version(LENET, "lenet", version=1, base=str(base))
    return str(base)


def _grpc_args():
    """`--grpc-port 0` if the CLI has a gRPC server (two test servers may run at once)."""
    from kzoo.cli.serve import serve_cmd
    return ["--grpc-port", "0"] if any(p.name == "grpc_port" for p in serve_cmd.params) else []


def test_metrics_of_a_real_server(base, tmp_path):
    """Counts by model, API and status, the latency and batch histograms and the loaded
    gauge of a `kzoo serve --batching` process equal the requests made to it."""
    with _serving(base, tmp_path / "serve.log", "--batching", "--max-batch-size", "8",
                  "--batch-timeout-ms", "20", *_grpc_args()) as running:
        port = running["port"]
        before = _parse(_scrape_server(port))
        rows = [1 + i % 3 for i in range(12)]  # 12 predictions of 1-3 rows, 24 rows
        images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype("float32")
        answers, barrier = [None] * len(rows), threading.Barrier(6)

        def predict(i):
            if i < 6:
                barrier.wait(timeout=60)  # a burst of 6, which the batcher merges
            answers[i] = _call(port, "POST", "/v1/models/lenet:predict",
                               {"instances": images[:rows[i]].tolist()})[0]

        threads = [threading.Thread(target=predict, args=(i,)) for i in range(len(rows))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert answers == [200] * len(rows)
        failures = [("POST", "/v1/models/nosuch:predict", {"instances": [[0]]}, 404),
                    ("POST", "/v1/models/nosuch:predict", {"instances": [[0]]}, 404),
                    ("GET", "/v1/models/nosuch", None, 404),
                    ("POST", "/v1/models/lenet:predict", "{not json", 400),
                    ("POST", "/v1/models/lenet:predict", {"instances": [[1, 2]]}, 400),
                    ("POST", "/v1/models/lenet:predict",
                     {"signature_name": "nope", "instances": [[0]]}, 400)]
        for method, path, body, code in failures:
            assert _call(port, method, path, body)[0] == code, path
        for path in ("/v1/models/lenet", "/v1/models/lenet/versions/1",
                     "/v1/models/lenet/metadata"):
            assert _call(port, "GET", path)[0] == 200
        assert _call(port, "GET", "/elsewhere")[0] == 404  # outside /v1/: not counted
        status, answer, _ = _call(port, "POST", METRICS_PATH, b"")
        assert status == 405 and "GET" in answer["error"]
        after = _parse(_scrape_server(port))

    def delta(family, suffix="", **labels):
        new = _samples(after, family, suffix, **labels)
        old = _samples(before, family, suffix, **labels)
        return {key: value - old.get(key, 0) for key, value in new.items()
                if value != old.get(key, 0)}

    assert delta(REQUEST_COUNT, "_total") == {
        ("lenet", "OK"): 12 + 3, ("nosuch", "NOT_FOUND"): 3,
        ("lenet", "INVALID_ARGUMENT"): 2, ("lenet", "FAILED_PRECONDITION"): 1}
    assert delta(REQUEST_LATENCY, "_count", model_name="lenet", entrypoint="REST") == {
        ("Predict",): 12, ("GetModelStatus",): 2, ("GetModelMetadata",): 1}
    assert delta(REQUESTS_BY_API, "_total", model_name="lenet", entrypoint="REST",
                 status="OK") == {("Predict",): 12, ("GetModelStatus",): 2,
                                  ("GetModelMetadata",): 1}
    latency = delta(REQUEST_LATENCY, "_bucket", model_name="lenet", API="Predict")
    assert latency[("REST", "+Inf")] == 12
    assert delta(REQUEST_LATENCY, "_sum", model_name="lenet", API="Predict")[("REST",)] > 0
    assert delta(RUNTIME_LATENCY, "_count") == {("Predict", "lenet", "TF2"): 12}
    batches = delta(PROCESSED_BATCH_SIZE, "_count")[()]
    assert delta(PROCESSED_BATCH_SIZE, "_sum") == {(): sum(rows)}  # every row, once
    assert 1 <= batches <= len(rows)
    assert _samples(after, MODEL_VERSIONS_LOADED) == {("lenet", "1"): 1}
