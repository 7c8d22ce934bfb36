"""`kzoo serve` (TF Serving's REST and gRPC APIs) against the Keras model called in process.

Exports a shipped checkpoint (`--checkpoint`: the LeNet by default, whose batch-1
call is mostly TensorFlow's call overhead; the ResNet-9, whose batch-1 call is
compute, is the other case worth measuring) with `kzoo.serving.export_version`
into a temporary base folder, starts two real `python -m kzoo serve BASE`
processes on free localhost ports, each with a free `--grpc-port` (unbatched,
and with `--batching`), and measures:

- batch-1 latency, p50 and p99: one HTTP `:predict` request at a time from a
  client process without TensorFlow (`http.client`, one kept-alive
  connection, bodies encoded beforehand, answers parsed), and one gRPC
  `Predict` at a time from another such process, timed in turns of 20 calls
  with three in-process calls of the same model in this process: the
  Keras model called eagerly (`model(x)`), the Keras model compiled
  (`tf.function(model)`) and the exported `serving_default` signature loaded
  with `tf.saved_model.load` (the graph the server runs). The overhead is HTTP
  (gRPC) p50 minus in-process p50; the goals are judged against the fastest
  in-process call. The gRPC client is the canonical one minus TensorFlow:
  `tensorflow_serving.apis.predict_pb2` imports all of TensorFlow (6 s, 650 MB),
  so the `PredictRequest`s are built here (`tf.make_tensor_proto`, as TF
  Serving's clients do) and serialized beforehand, and the client process calls
  `grpc.insecure_channel(...).unary_unary(".../Predict")` on those bytes, as
  `PredictionServiceStub.Predict` does, parsing each answer into a
  `PredictResponse` built from the same .proto descriptors (sent as a
  `FileDescriptorSet`; a few µs) and reading `outputs["probabilities"].float_val`.
  Where the HTTP time goes is measured in this process with the server's own
  functions: JSON decoding, JSON → tensors, the signature call, JSON encoding;
  the rest is the HTTP stack, the thread hop and the client;
- throughput (requests/s, one image per request) with and without
  `--batching` at 1, 8 and 32 concurrent clients, over REST (aiohttp client
  coroutines, one kept-alive connection each) and over gRPC (`grpc.aio` client
  coroutines, one channel and connection each, requests serialized
  beforehand), the four (server, API) pairs taking turns so that other load
  weighs on all alike, with the CPU time the server and the client spent per
  request; clients and server share the machine's cores;
- correctness: 8 concurrent clients × 500 requests (1-4 images each) against
  each server, over REST (`kzoo.serving.Client`) and over gRPC (the canonical
  `PredictionServiceStub.Predict` on a `tf.make_tensor_proto` request, answers
  read with `tf.make_ndarray`), every answer compared with the Keras model's
  in-process probabilities (1e-5) and top-1 classes.

Goals (issue 11): with batching ≥ 2× the unbatched throughput at 8 clients
(REST); p50 overhead of the HTTP path ≤ 2 ms, and of the gRPC path ≤ 1 ms, over
the in-process call. The speed-up is the pooled one, with the ratio of each
batching turn to the unbatched turn of its round beside it (its spread is this
machine's noise). Writes
`benchmarks/results/serving.json` and `.md` (`serving-CHECKPOINT.*` for another
checkpoint). By default it runs twice, each run in its own process: with
TensorFlow's default thread pools (those files), then with one intra-op thread in
both servers and here (`serving[-CHECKPOINT]-intra1.*`; TF Serving's
`--tensorflow_intra_op_parallelism`, the tuning its performance guide leaves to
experiment); `--intra-op-threads 0` runs the first only. A run takes a few
minutes; the correctness check is most of it when the machine is busy
(`--check-requests 0` skips it); `--seconds`, `--rounds` and `--latency-requests`
lengthen a run.

    python -m benchmarks serving [--checkpoint lenet_fashion_mnist]
        [--latency-requests 300] [--seconds 9] [--rounds 6] [--clients 1,8,32]
        [--check-requests 500] [--max-batch-size 32] [--batch-timeout-ms 5]
        [--intra-op-threads 0,1] [--no-write]
"""

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import tensorflow as tf

from benchmarks.results_io import (RESULTS_DIR, for_docs, machine, machine_note, machine_text,
                                   read_results, write_results)
from kzoo.utils import processes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINT = "lenet_fashion_mnist"
MODEL_NAME = "lenet"
GOAL_SPEEDUP, GOAL_OVERHEAD_MS, GOAL_GRPC_OVERHEAD_MS = 2.0, 2.0, 1.0
ATOL = 1e-5


# --------------------------------------------------------------------------- #
# Server processes
# --------------------------------------------------------------------------- #


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


@contextlib.contextmanager
def serving(base, *args, log_path=None, startup_timeout=120, model_name=MODEL_NAME):
    """A `kzoo serve BASE --port P --grpc-port G *args` process (both ports free ones),
    once it answers on both (`model_name`'s status is 200, the gRPC channel is ready);
    yields `(port, pid, grpc_port)`."""
    import grpc

    port, grpc_port = _free_port(), _free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    log = open(log_path or os.devnull, "wb")
    process = subprocess.Popen([sys.executable, "-m", "kzoo", "serve", base, "--port",
                                str(port), "--grpc-port", str(grpc_port), *args],
                               stdout=log, stderr=log, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kzoo serve exited with {process.returncode}; log: "
                                   f"{log_path}")
            try:
                if _get(port, f"/v1/models/{model_name}") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kzoo serve did not answer within {startup_timeout} s")
            time.sleep(0.3)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(
                timeout=max(1.0, deadline - time.monotonic()))
        yield port, process.pid, grpc_port
    finally:
        processes.stop(process)
        log.close()


# --------------------------------------------------------------------------- #
# Measurements
# --------------------------------------------------------------------------- #


def summary(seconds):
    """p50, p99 and mean in ms of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype="float64") * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "n": int(ms.size)}


def _median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


# The clients of the latency measurement: processes of their own, without TensorFlow (as
# real clients), so that this process's TensorFlow thread pools, which keep spinning
# for a moment after each in-process call, never weigh on the HTTP or gRPC path. Each
# reads lines "FIRST COUNT" and answers each with one JSON line of durations and
# probabilities; argv: port, URL path, a JSON file of `_client_data`.
_HTTP_CLIENT = r"""
import http.client, json, sys, time
port, path, bodies = int(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))["bodies"]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
headers = {"Content-Type": "application/json"}
for line in sys.stdin:
    first, count = map(int, line.split())
    times, answers = [], []
    for k in range(first, first + count):
        body = bodies[k % len(bodies)].encode("utf-8")
        start = time.perf_counter()
        conn.request("POST", path, body, headers)
        answer = conn.getresponse()
        raw = answer.read()
        if answer.status != 200:
            sys.exit(f"HTTP {answer.status}: {raw[:300]!r}")
        probabilities = json.loads(raw)["predictions"][0]["probabilities"]
        times.append(time.perf_counter() - start)
        answers.append(probabilities)
    print(json.dumps({"times": times, "answers": answers}), flush=True)
"""

# What `PredictionServiceStub(channel).Predict(request, timeout)` does, on requests
# serialized beforehand: the stub's module imports TensorFlow, so `PredictResponse` is
# built from the .proto descriptors this process sends ("proto_files").
_GRPC_CLIENT = r"""
import base64, grpc, json, sys, time
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
port, data = int(sys.argv[1]), json.load(open(sys.argv[3]))
pool = descriptor_pool.DescriptorPool()
for file in descriptor_pb2.FileDescriptorSet.FromString(
        base64.b64decode(data["proto_files"])).file:
    pool.AddSerializedFile(file.SerializeToString())
response = message_factory.GetMessageClass(
    pool.FindMessageTypeByName("tensorflow.serving.PredictResponse"))
requests = [base64.b64decode(r) for r in data["requests"]]
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
predict = channel.unary_unary(sys.argv[2], request_serializer=None,
                              response_deserializer=response.FromString)
for line in sys.stdin:
    first, count = map(int, line.split())
    times, answers = [], []
    for k in range(first, first + count):
        start = time.perf_counter()
        answer = predict(requests[k % len(requests)], timeout=60)
        probabilities = list(answer.outputs["probabilities"].float_val)
        times.append(time.perf_counter() - start)
        answers.append(probabilities)
    print(json.dumps({"times": times, "answers": answers}), flush=True)
"""

GRPC_PREDICT = "/tensorflow.serving.PredictionService/Predict"
API_NAMES = {"rest": "REST", "grpc": "gRPC"}  # the `api` of a throughput row


def predict_path(model_name):
    return f"/v1/models/{model_name}:predict"


def predict_request(images, model_name=MODEL_NAME):
    """The `PredictRequest` of `images` for `serving_default`, as TF Serving's clients
    build it (`tf.make_tensor_proto`: the pixels in `tensor_content`)."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "serving_default"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
    return request


def _proto_files(message_type):
    """The serialized `FileDescriptorSet` of `message_type`'s .proto file and all it
    imports, each after its imports."""
    from google.protobuf import descriptor_pb2

    files, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(file):
        if file.name not in seen:
            seen.add(file.name)
            for dependency in file.dependencies:
                add(dependency)
            file.CopyToProto(files.file.add())

    add(message_type.DESCRIPTOR.file)
    return files.SerializeToString()


def _client_data(images, model_name):
    """What both latency clients read: the JSON bodies, the serialized PredictRequests
    and the .proto files of `PredictResponse` (base64), one per image."""
    from tensorflow_serving.apis import predict_pb2

    return {"bodies": [json.dumps({"instances": image[None].tolist()}) for image in images],
            "requests": [base64.b64encode(predict_request(image[None], model_name)
                                          .SerializeToString()).decode() for image in images],
            "proto_files": base64.b64encode(
                _proto_files(predict_pb2.PredictResponse)).decode()}


@contextlib.contextmanager
def _client_process(code, *args):
    """A child process running `code` (`_HTTP_CLIENT`, `_GRPC_CLIENT`) with `args`;
    yields `ask(first, count)`, which returns its answer to "FIRST COUNT"."""
    client = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(first, count):
        client.stdin.write(f"{first} {count}\n")
        client.stdin.flush()
        line = client.stdout.readline()
        if not line:
            raise RuntimeError(f"the latency client exited with {client.wait()}")
        return json.loads(line)

    try:
        yield ask
    finally:
        client.stdin.close()
        client.wait(timeout=30)


def latency(port, grpc_port, model, signature, images, requests, block=20, warmup=30,
            model_name=MODEL_NAME):
    """Batch-1 latency of the HTTP path, the gRPC path and three in-process calls.

    The five paths run in turns of `block` consecutive calls (so that other load on
    the machine weighs on all of them alike) until each made `requests` calls. The
    HTTP and gRPC requests come from child processes (`_HTTP_CLIENT`: `http.client`,
    one kept-alive connection; `_GRPC_CLIENT`: one channel; both send requests
    encoded beforehand and parse the answers).
    """
    inputs = [tf.constant(image[None]) for image in images]
    compiled = tf.function(model, reduce_retracing=True)
    calls = {
        "keras_eager": lambda i: model(inputs[i], training=False).numpy()[0],
        "keras_compiled": lambda i: compiled(inputs[i]).numpy()[0],
        "signature_in_process": lambda i: signature(images=inputs[i])["probabilities"]
        .numpy()[0],
    }
    times = {key: [] for key in ["http", "grpc", *calls]}
    worst = 0.0
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(_client_data(images, model_name), f)
    try:
        with _client_process(_HTTP_CLIENT, port, predict_path(model_name), f.name) as http, \
                _client_process(_GRPC_CLIENT, grpc_port, GRPC_PREDICT, f.name) as grpc_:
            remote = {"http": http, "grpc": grpc_}
            for ask in remote.values():
                ask(0, warmup)
            for call in calls.values():
                for i in range(warmup):
                    call(i % len(images))
            for turn in range(-(-requests // block)):
                first, count = turn * block, min(block, requests - turn * block)
                for key, ask in remote.items():
                    answer = ask(first, count)
                    times[key] += answer["times"]
                    for j, probabilities in enumerate(answer["answers"]):
                        worst = max(worst, float(np.abs(np.asarray(probabilities) - expected_of(
                            model, images, (first + j) % len(images))).max()))
                for key, call in calls.items():
                    for k in range(first, first + count):
                        start = time.perf_counter()
                        got = call(k % len(images))
                        times[key].append(time.perf_counter() - start)
                        worst = max(worst, float(np.abs(got - expected_of(
                            model, images, k % len(images))).max()))
    finally:
        os.unlink(f.name)
    result = {key: summary(value) for key, value in times.items()}
    for path, name in (("http", "overhead_ms"), ("grpc", "grpc_overhead_ms")):
        result[name] = {key: result[path]["p50_ms"] - result[key]["p50_ms"] for key in calls}
    result["max_abs_difference"] = worst
    result["block"] = block
    return result


_EXPECTED = {}


def expected_of(model, images, k):
    """The Keras model's probabilities of image `k` (batch 1, computed once)."""
    key = (id(model), id(images), k)
    if key not in _EXPECTED:
        _EXPECTED[key] = model.predict(images[k:k + 1], verbose=0)[0]
    return _EXPECTED[key]


def breakdown(base, images, repeats=300, model_name=MODEL_NAME):
    """Median ms of the server's own steps on one batch-1 request, run in this process."""
    from kzoo.serving import rest, server

    servable = server.Servable(model_name, 1, os.path.join(base, model_name, "1"))
    signature = servable.signatures["serving_default"]
    body = json.dumps({"instances": images[:1].tolist()}).encode("utf-8")
    parsed = json.loads(body)
    arrays = {"images": images[:1]}
    answer = rest.predict(servable, parsed)
    outputs = rest.run_signature(signature, arrays)
    for _ in range(20):
        rest.predict(servable, json.loads(body))
    steps = {
        # What the server runs: the numeric fast path, body → input array.
        "decode": lambda: rest._numeric_request(servable, body),
        # The general path, for any request: JSON → lists, lists → tensors.
        "json_decode": lambda: rest._parse_json(body),
        "to_tensors": lambda: rest._row_inputs(parsed["instances"], signature),
        "signature_call": lambda: rest.run_signature(signature, arrays),
        "predict": lambda: rest.predict(servable, parsed),
        "json_encode": lambda: rest._answer_bytes(answer, outputs),
    }
    result = {key: _median_ms(fn, repeats) for key, fn in steps.items()}
    result["request_body_bytes"] = len(body)
    result["answer_bytes"] = len(json.dumps(answer))
    return result


async def _load(port, bodies, clients, seconds, warmup, model_name=MODEL_NAME):
    """`clients` coroutines posting batch-1 requests for `warmup + seconds` s."""
    import aiohttp

    url = f"http://127.0.0.1:{port}{predict_path(model_name)}"
    headers = {"Content-Type": "application/json"}
    done, errors, rows, made = [], [], [], [0]
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        begin, end = start + warmup, start + warmup + seconds

        async def client(c):
            i = c
            while time.perf_counter() < end:
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=bodies[i % len(bodies)],
                                            headers=headers) as answer:
                        raw = await answer.read()
                        ok = answer.status == 200 and \
                            len(json.loads(raw)["predictions"]) == 1
                        batch = answer.headers.get("X-Kzoo-Batch-Rows")
                except Exception as e:  # noqa: BLE001 - counted and reported
                    ok, batch, raw = False, None, repr(e).encode()
                now = time.perf_counter()
                made[0] += 1
                if begin <= now <= end:  # completed in the window
                    if ok:
                        done.append(now - sent)
                        if batch is not None:
                            rows.append(int(batch))
                    else:
                        errors.append(raw[:200].decode("utf-8", "replace"))
                i += clients

        await asyncio.gather(*(client(c) for c in range(clients)))
    return done, errors, rows, made[0]


async def _grpc_load(port, requests, clients, seconds, warmup):
    """`clients` coroutines calling `Predict` with batch-1 requests (serialized
    beforehand) for `warmup + seconds` s, each on a `grpc.aio` channel of its own (a
    local subchannel pool: a TCP connection each, as the REST clients')."""
    import grpc
    from tensorflow_serving.apis import predict_pb2

    done, errors, rows, made = [], [], [], [0]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}",
                                          options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(clients)]
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        start = time.perf_counter()
        begin, end = start + warmup, start + warmup + seconds

        async def client(c):
            predict = channels[c].unary_unary(
                GRPC_PREDICT, response_deserializer=predict_pb2.PredictResponse.FromString)
            i = c
            while time.perf_counter() < end:
                sent = time.perf_counter()
                try:
                    call = predict(requests[i % len(requests)], timeout=60)
                    answer = await call
                    ok = answer.outputs["probabilities"].tensor_shape.dim[0].size == 1
                    batch = (await call.trailing_metadata()).get("x-kzoo-batch-rows")
                    text = "" if ok else f"unexpected answer: {answer}"
                except Exception as e:  # noqa: BLE001 - counted and reported
                    ok, batch, text = False, None, repr(e)
                now = time.perf_counter()
                made[0] += 1
                if begin <= now <= end:  # completed in the window
                    if ok:
                        done.append(now - sent)
                        if batch is not None:
                            rows.append(int(batch))
                    else:
                        errors.append(text[:200])
                i += clients

        await asyncio.gather(*(client(c) for c in range(clients)))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return done, errors, rows, made[0]


def _cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (Linux /proc), else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def throughput(servers, images, clients, seconds, warmup, rounds=3, model_name=MODEL_NAME):
    """Requests/s of `clients` concurrent clients, one image per request, against each
    server of `servers` ({batching: (port, pid, grpc_port)}) over each API (REST and
    gRPC); the (server, API) pairs take turns, `rounds` turns of `seconds / rounds`
    each (plus `warmup`), so that other load weighs on all alike, a round going in the
    reverse order of the one before (A B C D, D C B A, ...), so that none always
    follows another. Also the CPU time the server and this client process spent per
    request (warm-up included)."""
    payloads = {"rest": [json.dumps({"instances": image[None].tolist()}).encode("utf-8")
                         for image in images],
                "grpc": [predict_request(image[None], model_name).SerializeToString()
                         for image in images]}
    pairs = [(api, batching) for api in payloads for batching in servers]
    got = {pair: ([], [], []) for pair in pairs}
    cpu = {pair: [0.0, 0.0, 0] for pair in pairs}  # server s, client s, requests
    turns = {pair: [] for pair in pairs}  # requests/s of each turn
    for turn in range(rounds):
        for api, batching in (pairs if turn % 2 == 0 else pairs[::-1]):
            port, pid, grpc_port = servers[batching]
            load = (_grpc_load(grpc_port, payloads[api], clients, seconds / rounds, warmup)
                    if api == "grpc" else
                    _load(port, payloads[api], clients, seconds / rounds, warmup, model_name))
            server_before, client_before = _cpu_seconds(pid), time.process_time()
            done, errors, rows, sent = asyncio.run(load)
            server_after, client_after = _cpu_seconds(pid), time.process_time()
            pair = api, batching
            if server_before is not None and server_after is not None:
                cpu[pair][0] += server_after - server_before
            cpu[pair][1] += client_after - client_before
            cpu[pair][2] += sent
            turns[pair].append(len(done) / (seconds / rounds))
            for total, part in zip(got[pair], (done, errors, rows)):
                total.extend(part)
    result = []
    for (api, batching), (done, errors, rows) in got.items():
        server_cpu, client_cpu, sent = cpu[api, batching]
        row = {"api": api, "batching": batching, "clients": clients, "seconds": seconds,
               "rounds": rounds, "requests": len(done), "requests_per_s": len(done) / seconds,
               "turn_requests_per_s": turns[api, batching],
               "errors": len(errors), "first_errors": errors[:3],
               "latency": summary(done) if done else None,
               "mean_batch_rows": float(np.mean(rows)) if rows else None,
               "server_cpu_ms_per_request": 1e3 * server_cpu / sent if sent else None,
               "client_cpu_ms_per_request": 1e3 * client_cpu / sent if sent else None}
        print(f"  {API_NAMES[api]:4s} {'batching' if batching else 'unbatched':9s} "
              f"{clients:3d} clients: {row['requests_per_s']:7.1f} req/s"
              + (f", p50 {row['latency']['p50_ms']:.2f} ms" if done else "")
              + (f", mean batch {row['mean_batch_rows']:.1f} rows" if rows else "")
              + (f", {len(errors)} errors" if errors else "")
              + (f"; CPU per request: server {row['server_cpu_ms_per_request']:.2f} ms, "
                 f"client {row['client_cpu_ms_per_request']:.2f} ms" if sent else ""),
              flush=True)
        result.append(row)
    return result


class _GrpcClient:
    """`kzoo.serving.Client.predict` over gRPC, the canonical way: a `PredictRequest` of
    `tf.make_tensor_proto`, `PredictionServiceStub.Predict`, `tf.make_ndarray`."""

    def __init__(self, port):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}"))

    def predict(self, name, images):
        answer = self.stub.Predict(predict_request(images, name), timeout=60)
        return {key: tf.make_ndarray(value) for key, value in answer.outputs.items()}


def correctness(port, images, expected, clients, requests, model_name=MODEL_NAME,
                api="rest"):
    """`clients` threads × `requests` requests of 1-4 images through `Client` (REST,
    `port` is the HTTP port) or `_GrpcClient` (gRPC, `port` is the gRPC port)."""
    from kzoo.serving import Client

    errors, mismatches, answered = [], [], []

    def worker(seed):
        client = _GrpcClient(port) if api == "grpc" else Client(f"http://127.0.0.1:{port}")
        rng = np.random.default_rng(seed)
        for _ in range(requests):
            start = int(rng.integers(0, len(images) - 4))
            count = int(rng.integers(1, 5))
            try:
                result = client.predict(model_name, images[start:start + count])
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e)[:200])
                continue
            want = expected[start:start + count]
            if not (result["probabilities"].shape == want.shape
                    and np.allclose(result["probabilities"], want, atol=ATOL, rtol=0)
                    and np.array_equal(result["classes"], want.argmax(-1))):
                mismatches.append((seed, start, count))
            answered.append(count)

    begin = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begin
    return {"api": api, "clients": clients, "requests_per_client": requests,
            "answered": len(answered), "images": int(sum(answered)), "errors": len(errors),
            "mismatches": len(mismatches), "first_errors": errors[:3],
            "first_mismatches": mismatches[:3], "seconds": seconds,
            "passed": not errors and not mismatches and len(answered) == clients * requests}


# --------------------------------------------------------------------------- #
# The run, its verdicts and its report
# --------------------------------------------------------------------------- #


def _cell(rows, batching, clients, api="rest"):
    """The throughput row of `api` (rows of files before gRPC are REST's)."""
    return next((r for r in rows if r["batching"] == batching and r["clients"] == clients
                 and r.get("api", "rest") == api), None)


def verdicts(results):
    """The goals, computed from the measurements (gRPC's when the file has gRPC rows)."""
    rows = results["throughput"]
    unbatched, batched = _cell(rows, False, 8), _cell(rows, True, 8)
    if unbatched and batched and unbatched["requests_per_s"] > 0:
        speedup = batched["requests_per_s"] / unbatched["requests_per_s"]
        # Each turn of the batching server over the unbatched turn of the same round.
        pairs = zip(batched.get("turn_requests_per_s", ()),
                    unbatched.get("turn_requests_per_s", ()))
        per_turn = [b / u for b, u in pairs if u > 0]
        throughput_goal = {"speedup_at_8": speedup, "met": speedup >= GOAL_SPEEDUP,
                           "turn_speedups_at_8": per_turn}
    else:
        throughput_goal = {"speedup_at_8": None, "met": None, "turn_speedups_at_8": []}
    lat = results["latency"]
    fastest = min(("keras_eager", "keras_compiled", "signature_in_process"),
                  key=lambda key: lat[key]["p50_ms"])
    overhead = lat["overhead_ms"][fastest]
    result = {"throughput": throughput_goal,
              "overhead": {"baseline": fastest, "overhead_ms": overhead,
                           "vs_keras_eager_ms": lat["overhead_ms"]["keras_eager"],
                           "met": overhead <= GOAL_OVERHEAD_MS}}
    if "grpc" in lat:
        overhead = lat["grpc_overhead_ms"][fastest]
        result["grpc_overhead"] = {"baseline": fastest, "overhead_ms": overhead,
                                   "vs_keras_eager_ms": lat["grpc_overhead_ms"]["keras_eager"],
                                   "met": overhead <= GOAL_GRPC_OVERHEAD_MS}
    return result


def run(*, checkpoint=CHECKPOINT, latency_requests=300, seconds=9.0, warmup=0.5, rounds=6,
        clients=(1, 8, 32), check_clients=8, check_requests=500, max_batch_size=32,
        batch_timeout_ms=5.0, intra_op_threads=0, images=64, log_dir=None):
    import aiohttp
    import grpc
    import keras

    from kzoo.serving import export_version, load_source

    began = time.monotonic()
    if intra_op_threads:
        # The in-process calls run with the servers' thread pool, so that the
        # overhead compares like with like (before this process runs any op).
        tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    rng = np.random.default_rng(0)
    model, info = load_source(checkpoint)
    name = info.get("architecture") or MODEL_NAME
    shape = tuple(int(d) for d in model.input_shape[1:])
    pixels = rng.integers(0, 256, (images, *shape)).astype("float32")
    expected = model.predict(pixels, verbose=0)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kzoo-bench-serving-") as tmp:
        base = os.path.join(tmp, "serving")
        export_version(checkpoint, name, version=1, base=base)
        signature = tf.saved_model.load(
            os.path.join(base, name, "1")).signatures["serving_default"]
        logs = log_dir or tmp
        throughput_rows, checks = [], []
        print("breakdown of one request's work (in process) ...", flush=True)
        steps = breakdown(base, pixels, model_name=name)
        batch_args = ["--batching", "--max-batch-size", str(max_batch_size),
                      "--batch-timeout-ms", str(batch_timeout_ms)]
        both = (["--tensorflow-intra-op-parallelism", str(intra_op_threads)]
                if intra_op_threads else [])
        with serving(base, *both, log_path=os.path.join(logs, f"serve-{name}.log"),
                     model_name=name) as plain, \
                serving(base, *both, *batch_args, model_name=name,
                        log_path=os.path.join(logs, f"serve-{name}-batching.log")) as batched:
            print(f"latency, {latency_requests} batch-1 requests per path ...", flush=True)
            lat = latency(plain[0], plain[2], model, signature, pixels, latency_requests,
                          model_name=name)
            print(f"  HTTP p50 {lat['http']['p50_ms']:.2f} ms, gRPC p50 "
                  f"{lat['grpc']['p50_ms']:.2f} ms; in process: eager "
                  f"{lat['keras_eager']['p50_ms']:.2f}, compiled "
                  f"{lat['keras_compiled']['p50_ms']:.2f}, signature "
                  f"{lat['signature_in_process']['p50_ms']:.2f} ms", flush=True)
            print(f"throughput, {rounds} alternating rounds per cell ...", flush=True)
            for n in clients:
                throughput_rows += throughput({False: plain, True: batched}, pixels, n,
                                              seconds, warmup, rounds, model_name=name)
            if check_requests:
                for api in API_NAMES:
                    for label, (port, _, grpc_port) in (("unbatched", plain),
                                                        ("batching", batched)):
                        checks.append({"server": label, **correctness(
                            grpc_port if api == "grpc" else port, pixels, expected,
                            check_clients, check_requests, model_name=name, api=api)})
    for check in checks:
        print(f"  correctness ({check['server']}, {API_NAMES[check['api']]}): "
              f"{check['clients']} clients × "
              f"{check['requests_per_client']} requests, {check['errors']} errors, "
              f"{check['mismatches']} mismatches, {check['seconds']:.1f} s", flush=True)
    results = {
        "benchmark": "serving",
        "what": "kzoo serve (TF Serving REST and gRPC) on localhost against the model in "
                "process",
        "goals": {"batching_speedup_at_8_clients": GOAL_SPEEDUP,
                  "p50_overhead_ms": GOAL_OVERHEAD_MS,
                  "grpc_p50_overhead_ms": GOAL_GRPC_OVERHEAD_MS},
        "machine": machine(keras=keras.__version__, aiohttp=aiohttp.__version__,
                           grpcio=grpc.__version__,
                           platform=platform.platform(),
                           load_average_before=[round(v, 2) for v in load_before],
                           load_average_after=[round(v, 2) for v in os.getloadavg()]),
        "model": {"checkpoint": checkpoint, "architecture": info.get("architecture"),
                  "params": info.get("params"),
                  "input": "x".join(map(str, shape)) + " float32 pixels 0-255",
                  "mult_adds": _mult_adds(model)},
        "settings": {"latency_requests": latency_requests, "seconds": seconds,
                     "warmup": warmup, "rounds": rounds,
                     "turn_order": "A B C D, D C B A",
                     "clients": list(clients),
                     "max_batch_size": max_batch_size, "batch_timeout_ms": batch_timeout_ms,
                     "intra_op_threads": intra_op_threads,
                     "images": images, "check_clients": check_clients,
                     "check_requests": check_requests},
        "latency": lat,
        "breakdown_ms": steps,
        "throughput": throughput_rows,
        "correctness": checks,
        "wall_seconds": time.monotonic() - began,
    }
    results["verdicts"] = verdicts(results)
    return results


def _mult_adds(model):
    """Multiply-adds of one image through `model` (kzoo.models.count_flops / 2)."""
    from kzoo.models import count_flops

    return int(count_flops(model) // 2)


def results_name(checkpoint, intra_op_threads=0):
    """`serving` for the default checkpoint, else `serving-<checkpoint>`; with
    `-intra<N>` appended for a run with `--intra-op-threads N`."""
    name = "serving" if checkpoint == CHECKPOINT else f"serving-{checkpoint}"
    return name + (f"-intra{intra_op_threads}" if intra_op_threads else "")


def _yes(met):
    return "**met**" if met else ("**not met**" if met is False else "**undecided**")


def _model_text(model):
    """E.g. "lenet (`lenet_fashion_mnist`, 431,080 parameters, 28×28×1, 2.3 M multiply-adds
    per image)"."""
    parts = [f"`{model['checkpoint']}`"] if model.get("checkpoint") else []
    if model.get("params"):
        parts.append(f"{model['params']:,} parameters")
    if model.get("input"):
        parts.append(model["input"].split(" ")[0].replace("x", "×"))
    if model.get("mult_adds"):
        parts.append(f"{model['mult_adds'] / 1e6:.1f} M multiply-adds per image")
    return f"{model.get('architecture') or MODEL_NAME} ({', '.join(parts)})"


def to_markdown(results):
    m, s, lat = results["machine"], results["settings"], results["latency"]
    v = verdicts(results)
    lines = [
        f"`kzoo serve` on localhost, {_model_text(results['model'])}, {machine_text(m)} "
        f"shared by server and clients, TF {m['tensorflow']}, "
        f"Keras {m['keras']}, aiohttp {m['aiohttp']}, "
        + (f"grpcio {m['grpcio']}, " if m.get("grpcio") else "")
        + f"Python {m['python']}; load average "
        f"{m['load_average_before'][0]:.2f} before, {m['load_average_after'][0]:.2f} after"
        + (f"; the run took {results['wall_seconds'] / 60:.1f} min."
           if "wall_seconds" in results else "."),
        "",
        f"Batch-1 latency ({lat['http']['n']} requests per path, in turns of "
        f"{lat['block']} calls per path):",
        "",
        "| path | p50 ms | p99 ms | HTTP p50 overhead ms |"
        + (" gRPC p50 overhead ms |" if "grpc" in lat else ""),
        "|---|---|---|---|" + ("---|" if "grpc" in lat else ""),
    ]
    remote = {"http": "HTTP `:predict` (`http.client` in a client process, kept-alive)",
              "grpc": "gRPC `Predict` (`grpc` in a client process, one channel)"}
    overheads = [key for key in ("overhead_ms", "grpc_overhead_ms") if key in lat]
    for key, label in remote.items():
        if key in lat:
            lines.append(f"| {label} | {lat[key]['p50_ms']:.2f} | {lat[key]['p99_ms']:.2f} |"
                         + " — |" * len(overheads))
    labels = {"keras_eager": "Keras `model(x)`, in process",
              "keras_compiled": "Keras `tf.function(model)`, in process",
              "signature_in_process": "exported `serving_default`, in process"}
    for key, label in labels.items():
        lines.append(f"| {label} | {lat[key]['p50_ms']:.2f} | {lat[key]['p99_ms']:.2f} | "
                     + " | ".join(f"{lat[o][key]:+.2f}" for o in overheads) + " |")
    b = results["breakdown_ms"]
    rest = lat["http"]["p50_ms"] - b["decode"] - b["signature_call"] - b["json_encode"]
    apis = [api for api in API_NAMES  # files before gRPC have REST rows only
            if any(r.get("api", "rest") == api for r in results["throughput"])]
    if len(apis) > 1:
        order = (" between the two servers and the two APIs (in the order REST unbatched, "
                 "REST batching, gRPC unbatched, gRPC batching, then the reverse, and so on; "
                 "gRPC: `grpc.aio` coroutines, a channel each)")
    elif s.get("turn_order"):
        order = (" between the two servers (in the order unbatched, batching, then "
                 "batching, unbatched, and so on)")
    else:
        order = " between the two servers"
    lines += [
        "",
        f"Where one request's time goes (the server's functions in this process, medians "
        f"of separate loops, so the parts need not add up): the "
        f"{b['request_body_bytes']:,}-byte body to the input array {b['decode']:.2f} ms "
        f"(the numeric fast path; the general path, for any request, takes "
        f"{b['json_decode']:.2f} ms of JSON decoding and {b['to_tensors']:.2f} ms of "
        f"lists → tensors); the signature call with output conversion "
        f"{b['signature_call']:.2f} ms; JSON encode of the answer {b['json_encode']:.2f} ms; "
        f"the rest of the HTTP p50 ({rest:.2f} ms) is aiohttp, the hop to the model thread "
        "and back, the client and the kernel.",
        "",
        f"Throughput, one image per request: {s['seconds']:g} s per cell in "
        f"{s['rounds']} turns that alternate{order}, each after "
        f"{s['warmup']:g} s of warm-up (`--batching --max-batch-size {s['max_batch_size']} "
        f"--batch-timeout-ms {s['batch_timeout_ms']:g}`"
        + (f"; both servers `--tensorflow-intra-op-parallelism {s['intra_op_threads']}`, "
           f"and the in-process calls {s['intra_op_threads']} intra-op thread(s) too"
           if s.get("intra_op_threads") else "")
        + "); p50 is the latency under load:",
        "",
        ("| API " if len(apis) > 1 else "")
        + "| clients | unbatched req/s | p50 ms | batching req/s | p50 ms | mean batch rows "
        "| batching / unbatched |",
        ("|---" if len(apis) > 1 else "") + "|---|---|---|---|---|---|---|",
    ]
    for api, n in ((api, n) for api in apis for n in s["clients"]):
        u = _cell(results["throughput"], False, n, api)
        b_ = _cell(results["throughput"], True, n, api)
        if not u or not b_:
            continue
        ratio = b_["requests_per_s"] / u["requests_per_s"] if u["requests_per_s"] else 0.0

        def p50(row):
            return f"{row['latency']['p50_ms']:.2f}" if row["latency"] else "—"
        errors = sum(r["errors"] for r in (u, b_))
        lines.append((f"| {API_NAMES[api]} " if len(apis) > 1 else "")
                     + f"| {n} | {u['requests_per_s']:.1f} | {p50(u)} | "
                     f"{b_['requests_per_s']:.1f} | {p50(b_)} | "
                     f"{b_['mean_batch_rows'] or 0:.1f} | {ratio:.2f}×"
                     + (f" ({errors} errors)" if errors else "") + " |")
    if results["correctness"]:
        clients = ("REST: `kzoo.serving.Client`; gRPC: `PredictionServiceStub.Predict`"
                   if any("api" in c for c in results["correctness"])
                   else "`kzoo.serving.Client`")
        lines += ["", f"Correctness ({clients}, 1–4 images per request, answers "
                  f"against the Keras model in process within {ATOL:g}):", ""]
        for c in results["correctness"]:
            api = f", {API_NAMES[c['api']]}" if "api" in c else ""
            lines.append(f"- {c['server']}{api}: {c['clients']} clients × "
                         f"{c['requests_per_client']} requests, {c['answered']} answered, "
                         f"{c['errors']} errors, {c['mismatches']} mismatches "
                         f"({c['seconds']:.1f} s) — {'passed' if c['passed'] else 'FAILED'}")
    t, o = v["throughput"], v["overhead"]
    speedup = "—" if t["speedup_at_8"] is None else f"{t['speedup_at_8']:.2f}×"
    turns = t.get("turn_speedups_at_8") or []
    if len(turns) > 1:
        met = sum(r >= GOAL_SPEEDUP for r in turns)
        speedup += (f" (turn by turn: {min(turns):.2f}–{max(turns):.2f}×, median "
                    f"{float(np.median(turns)):.2f}×, {met} of {len(turns)} turns ≥ "
                    f"{GOAL_SPEEDUP:g}×)")
    lines += [
        "",
        f"Goal: with batching ≥ {GOAL_SPEEDUP:g}× the unbatched throughput at 8 clients: "
        f"{speedup} — {_yes(t['met'])}.",
        f"Goal: p50 overhead of the HTTP path ≤ {GOAL_OVERHEAD_MS:g} ms over the in-process "
        f"call (the fastest one, {labels[o['baseline']]}): {o['overhead_ms']:+.2f} ms — "
        f"{_yes(o['met'])} (over the eager Keras call: {o['vs_keras_eager_ms']:+.2f} ms).",
    ]
    if "grpc_overhead" in v:
        g = v["grpc_overhead"]
        lines.append(f"Goal: p50 overhead of the gRPC path ≤ {GOAL_GRPC_OVERHEAD_MS:g} ms over "
                     f"the in-process call (the fastest one, {labels[g['baseline']]}): "
                     f"{g['overhead_ms']:+.2f} ms — {_yes(g['met'])} (over the eager Keras "
                     f"call: {g['vs_keras_eager_ms']:+.2f} ms).")
    return "\n".join(lines) + "\n"


#: The results files the docs page renders, in its order: (checkpoint, intra-op threads).
DOCS_RUNS = (("lenet_fashion_mnist", 0), ("lenet_fashion_mnist", 1),
             ("resnet9_fashion_mnist", 0), ("resnet9_fashion_mnist", 1))


def _threads_text(results):
    n = results["settings"].get("intra_op_threads")
    return f"{n} intra-op thread{'s' if n > 1 else ''}" if n else "TensorFlow's default threads"


def summary_markdown(named_results):
    """One table over several results files (`[(name, results)]`): the 8-client speed-up
    and the goals of each, from `verdicts` (gRPC's columns when a file has them)."""
    clients = " · ".join(str(n) for n in named_results[0][1]["settings"]["clients"])
    grpc = any("grpc_overhead" in verdicts(results) for _, results in named_results)
    lines = ["| results file | model | intra-op threads | "
             f"REST batching / unbatched at {clients} clients | 8-client turns ≥ 2× | "
             f"throughput goal (≥ {GOAL_SPEEDUP:g}× at 8) | HTTP p50 overhead | "
             f"latency goal (≤ {GOAL_OVERHEAD_MS:g} ms) |"
             + (f" gRPC p50 overhead | gRPC latency goal (≤ {GOAL_GRPC_OVERHEAD_MS:g} ms) |"
                if grpc else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|---|" if grpc else "")]
    for name, results in named_results:
        ratios = []
        for n in results["settings"]["clients"]:
            u, b = _cell(results["throughput"], False, n), _cell(results["throughput"], True, n)
            if u and b and u["requests_per_s"]:
                ratios.append(f"{b['requests_per_s'] / u['requests_per_s']:.2f}×")
        t, o = (v := verdicts(results))["throughput"], v["overhead"]
        g = v.get("grpc_overhead")
        turns = t.get("turn_speedups_at_8") or []
        lines.append(
            f"| `{name}.json` | `{results['model'].get('architecture') or MODEL_NAME}` | "
            f"{_threads_text(results)} | {' · '.join(ratios) or '—'} | "
            f"{sum(r >= GOAL_SPEEDUP for r in turns)} of {len(turns)} | {_yes(t['met'])} | "
            f"{o['overhead_ms']:+.2f} ms | {_yes(o['met'])} |"
            + ((f" {g['overhead_ms']:+.2f} ms | {_yes(g['met'])} |" if g else " — | — |")
               if grpc else ""))
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables: a summary of the four results files (`DOCS_RUNS`), then each
    file through `to_markdown` under a heading of its own."""
    runs = [(name, read_results(name, results_dir))
            for name in (results_name(c, n) for c, n in DOCS_RUNS)]
    parts = ["Summary of the four files (each in full below):", "", summary_markdown(runs)]
    for name, results in runs:
        model = results["model"].get("architecture") or MODEL_NAME
        note = machine_note(results["machine"])
        parts += [f"### `{model}`, {_threads_text(results)} (`{name}.json`)", "",
                  for_docs(to_markdown(results), top_level=4) + (f"\n{note}" if note else "")]
    return "\n".join(parts)


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers (e.g. 1,8,32), got {text!r}") from None


def _run_each(ns):
    """One `python -m benchmarks serving` process per `--intra-op-threads` value, in
    turn, with the other arguments as given; then the 8-client speed-ups side by side."""
    common = ["--checkpoint", ns.checkpoint, "--latency-requests", str(ns.latency_requests),
              "--seconds", str(ns.seconds), "--rounds", str(ns.rounds),
              "--warmup", str(ns.warmup), "--clients", ",".join(map(str, ns.clients)),
              "--check-clients", str(ns.check_clients),
              "--check-requests", str(ns.check_requests),
              "--max-batch-size", str(ns.max_batch_size),
              "--batch-timeout-ms", str(ns.batch_timeout_ms)]
    if ns.log_dir:
        common += ["--log-dir", ns.log_dir]
    if ns.no_write:
        common.append("--no-write")
    failed, lines = [], []
    for n in ns.intra_op_threads:
        label = "TensorFlow's default threads" if n == 0 else f"{n} intra-op thread(s)"
        print(f"== serving benchmark, {label} (--intra-op-threads {n})", flush=True)
        code = subprocess.call([sys.executable, "-m", "benchmarks", "serving", *common,
                                "--intra-op-threads", str(n)], cwd=REPO)
        if code:
            failed.append(n)
            continue
        path = os.path.join(REPO, "benchmarks", "results",
                            results_name(ns.checkpoint, n) + ".json")
        if not ns.no_write and os.path.exists(path):
            with open(path) as f:
                goal = json.load(f)["verdicts"]["throughput"]
            if goal["speedup_at_8"] is not None:
                lines.append(f"  {label}: batching / unbatched at 8 clients "
                             f"{goal['speedup_at_8']:.2f}× ({_yes(goal['met'])})")
    if lines:
        print("serving benchmark, the throughput goal (≥ 2× at 8 clients):", *lines,
              sep="\n", flush=True)
    if failed:
        sys.exit(f"benchmarks serving: the run with --intra-op-threads "
                 f"{','.join(map(str, failed))} failed")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=CHECKPOINT,
                        help="the zoo checkpoint to export and serve (its architecture "
                        "is the served model's name); results go to serving.json for "
                        f"{CHECKPOINT}, else serving-CHECKPOINT.json")
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=9.0,
                        help="measured seconds per throughput cell")
    parser.add_argument("--rounds", type=int, default=6,
                        help="turns the two servers take per throughput cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="before each turn")
    parser.add_argument("--clients", type=_ints, default=(1, 8, 32))
    parser.add_argument("--check-clients", type=int, default=8)
    parser.add_argument("--check-requests", type=int, default=500,
                        help="requests per client of the correctness check (0: skip it)")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=5.0)
    parser.add_argument("--intra-op-threads", type=_ints, default=(0, 1),
                        help="both servers' --tensorflow-intra-op-parallelism, and this "
                        "process's for the in-process calls (0: TensorFlow chooses), "
                        "one run per value, each in its own process (TensorFlow fixes "
                        "its thread pools once per process); results go to "
                        "serving[-CHECKPOINT].json for 0 and "
                        "serving[-CHECKPOINT]-intraN.json for N [default: 0,1]")
    parser.add_argument("--log-dir", default=None, help="keep the servers' logs here")
    parser.add_argument("--no-write", action="store_true", help="print only")
    ns = parser.parse_args(argv)
    threads = ns.intra_op_threads
    if not threads or any(n < 0 for n in threads) or len(set(threads)) != len(threads):
        parser.error(f"argument --intra-op-threads: expected distinct ints >= 0 (0: "
                     f"TensorFlow chooses), got {','.join(map(str, threads)) or 'none'}")
    if len(threads) > 1:
        _run_each(ns)
        return
    results = run(checkpoint=ns.checkpoint, latency_requests=ns.latency_requests,
                  seconds=ns.seconds, warmup=ns.warmup,
                  rounds=ns.rounds,
                  clients=ns.clients, check_clients=ns.check_clients,
                  check_requests=ns.check_requests, max_batch_size=ns.max_batch_size,
                  batch_timeout_ms=ns.batch_timeout_ms, intra_op_threads=threads[0],
                  log_dir=ns.log_dir)
    markdown = to_markdown(results)
    if not ns.no_write:
        write_results(results_name(ns.checkpoint, threads[0]), results, markdown)
    print(markdown)
    failed = [c for c in results["correctness"] if not c["passed"]]
    if failed:
        sys.exit(f"benchmarks serving: the correctness check failed: {failed}")


if __name__ == "__main__":
    main()
