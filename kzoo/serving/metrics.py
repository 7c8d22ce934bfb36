"""Prometheus metrics of `kzoo serve`, under TF Serving's names.

`kzoo serve` answers `GET /monitoring/prometheus/metrics` on its REST port
(TF Serving's default path, `PrometheusExporter::kPrometheusPath` in
`tensorflow_serving/util/prometheus_exporter.cc`; TF Serving serves it when
its monitoring config enables it, kzoo always) in Prometheus's text format.

Metrics, and where their names come from (tensorflow/serving and TensorFlow
sources, read 2026-12):

| name (labels) | kind | source |
|---|---|---|
| `:tensorflow:serving:request_count` (model_name, status) | counter | TF Serving, `servables/tensorflow/util.cc` (`RecordModelRequestCount`) |
| `:tensorflow:serving:request_latency` (model_name, API, entrypoint) | histogram, µs | TF Serving, `servables/tensorflow/util.cc` (`RecordRequestLatency`) |
| `:tensorflow:serving:runtime_latency` (model_name, API, runtime) | histogram, µs | TF Serving, `servables/tensorflow/util.cc` (`RecordRuntimeLatency`) |
| `:tensorflow:serving:batching_session:processed_batch_size` | histogram, rows | TF Serving, `batching/batching_util.h` (`RecordProcessedBatchSize`, task name `batching_session` from `batching/batching_session.h`) |
| `:kzoo:serving:model_versions_loaded` (model_name, version) | gauge, 1 per version | invented: TF Serving has no such gauge (`core/` defines none; its only gauge is `/tensorflow/serving/mlmd_map`) |
| `:kzoo:serving:request_count` (model_name, API, entrypoint, status) | counter | invented: every request by API as well (TF Serving's `request_count` has no API label; its `request_latency` counts successful requests only) |

TF Serving names a metric `/tensorflow/serving/request_count` and its exporter
turns every character outside `[a-zA-Z0-9_]` into `:`. It prints a counter
under that name, without prometheus_client's `_total` suffix, and no `# HELP`
lines. Here the text comes from prometheus_client's `generate_latest` on a
per-server `CollectorRegistry` (HELP lines carry TF Serving's descriptions),
and the counter's lines are renamed back to TF Serving's name, so that
queries and dashboards written for TF Serving work unchanged.
`prometheus_client.parser.text_string_to_metric_families` reads the result
(as a counter it names the samples `..._total`, as it does for TF Serving).

As in TF Serving:

- latencies are in microseconds, in the buckets of `Buckets::Exponential(10,
  1.8, 33)` (10 µs to about 20 minutes), batch sizes in those of
  `Exponential(1, 2, 14)` (1 to 8192), each with a last `+Inf` bucket; bucket
  bounds are printed as TF Serving prints them (six significant digits);
- `request_latency` only counts successful requests (status OK), while
  `request_count` counts every request, by its canonical status name; the
  REST server counts every request under `/v1/` (`http_server.cc`), also CORS
  preflights and paths that match no API (with `model_name` "" where the path
  names no model), and not the requests outside it;
- `runtime_latency` is the time of the model call of a successful request;
  with batching it includes the wait for the batch (TF Serving's batching
  session also blocks its `Run` until the batch is done);
- `processed_batch_size` has no model label (TF Serving's has none either).

Where kzoo differs:

- a value equal to a bucket bound is counted in that bucket (Prometheus's
  `le`, "less or equal"); TensorFlow's histogram counts it in the next one;
- the `API` label is the gRPC method name ("Predict", "GetModelMetadata",
  "GetModelStatus", "Classify", "Regress", "MultiInference") for both
  entrypoints; TF Serving's REST server uses the verb of the path
  ("predict") and an empty name for its GET requests, and only its Predict,
  Classify and Regress gRPC methods record metrics;
- `runtime` is "TF2" (a `tf.function` signature of `tf.saved_model.load`);
  TF Serving's values are "TF1" (a Session) and "TFRT";
- TF Serving also exports every TensorFlow metric of its process (SavedModel
  load counts and latencies of `tensorflow/cc/saved_model/loader.cc`, batching
  queue latencies, ...); kzoo exports only the metrics above.
"""

import bisect
import re
import threading

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

#: Where TF Serving (and `kzoo serve`) answer the metrics.
METRICS_PATH = "/monitoring/prometheus/metrics"

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
PROCESSED_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
MODEL_VERSIONS_LOADED = ":kzoo:serving:model_versions_loaded"
#: Every request by model, API, entrypoint and status (TF Serving's request_count has
#: no API label, and its request_latency counts only successful requests).
REQUESTS_BY_API = ":kzoo:serving:request_count"

#: The API names `record_request` takes (TF Serving's gRPC method names).
APIS = ("Predict", "GetModelMetadata", "GetModelStatus", "Classify", "Regress",
        "MultiInference")


def _exponential(scale, growth, count):
    """TensorFlow's `Buckets::Exponential(scale, growth, count)` bounds, rounded to the
    six significant digits TF Serving prints them with (absl's `StrCat(double)`)."""
    bounds, bound = [], float(scale)
    for _ in range(count):
        bounds.append(float(f"{bound:.6g}"))
        bound *= growth
    return tuple(bounds)


#: Histogram bounds (TF Serving's): latencies in µs, batch sizes in rows.
LATENCY_BOUNDS = _exponential(10, 1.8, 33)
BATCH_SIZE_BOUNDS = _exponential(1, 2, 14)


class _Histogram:
    """Counts per bucket (the last one is +Inf) and the sum of the values."""

    __slots__ = ("counts", "sum")

    def __init__(self, buckets):
        self.counts = [0] * buckets
        self.sum = 0.0

    def copy(self):
        other = _Histogram(0)
        other.counts, other.sum = list(self.counts), self.sum
        return other


def _buckets(bounds, histogram):
    """prometheus_client's `(le, cumulative count)` pairs of `histogram`."""
    pairs, total = [], 0
    for bound, count in zip(bounds, histogram.counts):
        total += count
        pairs.append((f"{bound:.6g}", total))
    pairs.append(("+Inf", total + histogram.counts[-1]))
    return pairs


class Metrics:
    """The Prometheus metrics of one `kzoo serve` server (TF Serving's names).

    The server's handlers record each request (`record_request`), the model
    calls (`record_runtime`) and the batcher each batch (`record_batch`);
    `exposition()` is the text a Prometheus scrape gets. The records are
    thread-safe and cheap (about 1.3 µs for `record_request` here); the
    loaded-models gauge is read from `registry` at scrape time.

    Args:
        registry: the server's `kzoo.serving.servables.Registry` (anything with
            `names()` and `versions(name)` giving servables with a `version`), or
            None (no loaded-models gauge).

    Example:

    >>> metrics = kzoo.serving.metrics.Metrics()
    >>> metrics.record_request("lenet", "Predict", "REST", "OK", 0.004)
    >>> body, content_type = metrics.exposition()
    """

    def __init__(self, registry=None):
        self.registry = registry
        self._lock = threading.Lock()
        self._requests = {}   # (model, status) -> count
        self._latency = {}    # (model, API, entrypoint) -> _Histogram
        self._runtime = {}    # (model, API, runtime) -> _Histogram
        self._by_api = {}     # (model, API, entrypoint, status) -> count
        self._batches = _Histogram(len(BATCH_SIZE_BOUNDS) + 1)
        # A registry of our own (not prometheus_client's global one): one per server.
        self.collectors = CollectorRegistry(auto_describe=False)
        self.collectors.register(_Collector(self))

    def record_request(self, model: str, api: str, entrypoint: str, code: str,
                       seconds: float) -> None:
        """Records one request: `model` name, `api` (e.g. "Predict"), `entrypoint`
        ("REST" or "GRPC"), canonical status `code` (e.g. "OK", "NOT_FOUND") and its
        wall time in `seconds` (in the latency histogram only when `code` is "OK")."""
        by_api = (model, api, entrypoint, code)
        if code != "OK":
            key = (model, code)
            with self._lock:
                self._requests[key] = self._requests.get(key, 0) + 1
                self._by_api[by_api] = self._by_api.get(by_api, 0) + 1
            return
        micros = seconds * 1e6
        bucket = bisect.bisect_left(LATENCY_BOUNDS, micros)
        key, labels = (model, "OK"), (model, api, entrypoint)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            self._by_api[by_api] = self._by_api.get(by_api, 0) + 1
            histogram = self._latency.get(labels)
            if histogram is None:
                histogram = self._latency[labels] = _Histogram(len(LATENCY_BOUNDS) + 1)
            histogram.counts[bucket] += 1
            histogram.sum += micros

    def record_runtime(self, model: str, api: str, seconds: float,
                       runtime: str = "TF2") -> None:
        """Records the model call of one successful request (`seconds` of wall time)."""
        micros = seconds * 1e6
        bucket = bisect.bisect_left(LATENCY_BOUNDS, micros)
        labels = (model, api, runtime)
        with self._lock:
            histogram = self._runtime.get(labels)
            if histogram is None:
                histogram = self._runtime[labels] = _Histogram(len(LATENCY_BOUNDS) + 1)
            histogram.counts[bucket] += 1
            histogram.sum += micros

    def record_batch(self, size: int) -> None:
        """Records one batch the batcher ran, of `size` rows."""
        bucket = bisect.bisect_left(BATCH_SIZE_BOUNDS, size)
        with self._lock:
            self._batches.counts[bucket] += 1
            self._batches.sum += size

    def snapshot(self):
        """`(requests, latency, runtime, batches, requests by API)`: copies of the
        recorded values."""
        with self._lock:
            return (dict(self._requests),
                    {key: value.copy() for key, value in self._latency.items()},
                    {key: value.copy() for key, value in self._runtime.items()},
                    self._batches.copy(), dict(self._by_api))

    def loaded_versions(self):
        """`[(model name, version), ...]` served by `registry` now."""
        if self.registry is None:
            return []
        loaded = []
        for name in self.registry.names():
            try:
                servables = self.registry.versions(name)
            except Exception:  # dropped since names() (the registry answers 404)
                continue
            loaded.extend((name, servable.version) for servable in servables)
        return loaded

    def exposition(self) -> tuple[bytes, str]:
        """`(body bytes, content type)` of a scrape: Prometheus's text format 0.0.4."""
        body = generate_latest(self.collectors)
        return _COUNTER_TOTAL.sub(rb"\1\2", body), CONTENT_TYPE_PLAIN_0_0_4


# prometheus_client always names a counter NAME_total in the text format; TF Serving
# prints it as NAME. Renames the counter's HELP, TYPE and sample lines back.
_COUNTER_TOTAL = re.compile(rb"(?m)^(# (?:HELP|TYPE) )?(" + re.escape(REQUEST_COUNT.encode())
                            + rb"|" + re.escape(REQUESTS_BY_API.encode())
                            + rb")_total(?=[ {])")


class _Collector(Collector):
    """The metric families of a `Metrics`, built at scrape time."""

    def __init__(self, metrics):
        self.metrics = metrics

    def collect(self):
        requests, latency, runtime, batches, by_api = self.metrics.snapshot()
        count = CounterMetricFamily(REQUEST_COUNT, "The total number of requests.",
                                    labels=["model_name", "status"])
        for (model, status), value in sorted(requests.items()):
            count.add_metric([model, status], value)
        yield count
        count = CounterMetricFamily(REQUESTS_BY_API, "The total number of requests by "
                                    "model, API, entrypoint and status (kzoo).",
                                    labels=["model_name", "API", "entrypoint", "status"])
        for key, value in sorted(by_api.items()):
            count.add_metric(list(key), value)
        yield count
        for name, help_, labels, histograms in (
                (REQUEST_LATENCY, "Distribution of wall time (in microseconds) for "
                 "Tensorflow Serving request.", ["model_name", "API", "entrypoint"], latency),
                (RUNTIME_LATENCY, "Distribution of wall time (in microseconds) for "
                 "Tensorflow runtime.", ["model_name", "API", "runtime"], runtime)):
            family = HistogramMetricFamily(name, help_, labels=labels)
            for key, histogram in sorted(histograms.items()):
                family.add_metric(list(key), _buckets(LATENCY_BOUNDS, histogram),
                                  histogram.sum)
            yield family
        family = HistogramMetricFamily(PROCESSED_BATCH_SIZE, "Tracks the batch size "
                                       "distribution on processing.")
        if any(batches.counts):
            family.add_metric([], _buckets(BATCH_SIZE_BOUNDS, batches), batches.sum)
        yield family
        loaded = GaugeMetricFamily(MODEL_VERSIONS_LOADED, "1 for each version of each "
                                   "model loaded and served (kzoo).",
                                   labels=["model_name", "version"])
        for name, version in sorted(self.metrics.loaded_versions()):
            loaded.add_metric([name, str(version)], 1)
        yield loaded


__all__ = ["Metrics", "METRICS_PATH", "REQUEST_COUNT", "REQUEST_LATENCY", "RUNTIME_LATENCY",
           "PROCESSED_BATCH_SIZE", "MODEL_VERSIONS_LOADED", "REQUESTS_BY_API", "LATENCY_BOUNDS",
           "BATCH_SIZE_BOUNDS", "APIS"]
