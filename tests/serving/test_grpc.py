"""`kzoo serve`'s gRPC API (TF Serving's `PredictionService` and `ModelService`) from a real
server process on localhost.

The shipped LeNet is exported as version 1 of `lenet` into a temporary base folder;
`python -m kzoo serve BASE --port P --grpc-port G --batching` runs for the whole module
(stopped in the fixture's `finally`). Clients are TF Serving's own stubs and messages
(`tensorflow_serving.apis`), as its canonical clients use them; answers are compared
with the Keras model run in this process and with the REST answers.
"""

import os
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from kzoo.serving import Client, ServingError, export_version, load_source

# The REST tests' helpers: the LeNet path, a request, a free port, a PNG, a server.
from test_server import LENET, _call, _free_port, _png, _serving

MAX_BATCH = 8  # the server's --max-batch-size: bigger requests run unbatched


@pytest.fixture(scope="module")
def lenet():
    return load_source(LENET)[0]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (32, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="module")
def expected(lenet, images):
    return lenet.predict(images, verbose=0)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    export_version(LENET, "lenet", version=1, base=str(base))
    return str(base)


@pytest.fixture(scope="module")
def server(base, tmp_path_factory):
    grpc_port = _free_port()
    with _serving(base, tmp_path_factory.mktemp("log") / "serve.log", "--grpc-port",
                  str(grpc_port), "--batching", "--max-batch-size", str(MAX_BATCH),
                  "--batch-timeout-ms", "20", "--num-batch-threads", "1") as running:
        running["grpc_port"] = grpc_port
        yield running
    # SIGTERM (the fixture's stop) ends both servers cleanly.
    assert running["process"].returncode == 0, running["log"].read_text()[-3000:]


@pytest.fixture(scope="module")
def channel(server):
    # TF Serving's canonical clients lift gRPC's 4 MiB receive limit the same way.
    channel = grpc.insecure_channel(f"127.0.0.1:{server['grpc_port']}", options=[
        ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
    grpc.channel_ready_future(channel).result(timeout=30)
    yield channel
    channel.close()


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def _request(pixels, **spec):
    """A PredictRequest of `pixels` for `lenet`, as TF Serving's clients write it
    (`tf.make_tensor_proto`: the values in `tensor_content`)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", "lenet")
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(pixels))
    return request


def _check_answer(answer, want, rows):
    """`answer` (a PredictResponse) holds LeNet's three outputs for `want` (the Keras
    probabilities), in the typed fields."""
    probabilities = answer.outputs["probabilities"]
    assert probabilities.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in probabilities.tensor_shape.dim] == [rows, 10]
    assert probabilities.tensor_content == b""  # typed fields, as TF Serving answers
    np.testing.assert_allclose(np.array(probabilities.float_val).reshape(rows, 10), want,
                               atol=1e-5)
    assert list(answer.outputs["classes"].int64_val) == want.argmax(-1).tolist()
    names = load_source(LENET)[1]["class_names"]
    assert [v.decode() for v in answer.outputs["class_names"].string_val] == \
        [names[i] for i in want.argmax(-1)]


def _code(function, *args, **kwargs):
    """`(grpc.StatusCode, details)` of a call that must fail."""
    with pytest.raises(grpc.RpcError) as error:
        function(*args, timeout=60, **kwargs)
    return error.value.code(), error.value.details()


def test_predict_canonical_client(server, stub, images, expected):
    """TF Serving's canonical gRPC client: `tf.make_tensor_proto` inputs (tensor_content),
    outputs read from `float_val`; the model spec echoed with the version used."""
    assert f"gRPC 127.0.0.1:{server['grpc_port']}" in server["log"].read_text()
    for rows in (3, 12):  # batched (<= --max-batch-size) and not
        answer = stub.Predict(_request(images[:rows]), timeout=60)
        _check_answer(answer, expected[:rows], rows)
        assert answer.model_spec.name == "lenet"
        assert answer.model_spec.version.value == 1
        assert answer.model_spec.signature_name == "serving_default"
    answer = stub.Predict(_request(images[4:6], version=1, signature_name="serving_default"),
                          timeout=60)
    _check_answer(answer, expected[4:6], 2)


def test_predict_typed_field_inputs(stub, lenet, images, expected):
    """Inputs in the typed field (`float_val`) answer as `tensor_content` ones; fewer
    values than elements repeat the last one, as TF's Tensor::FromProto does."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    tensor = request.inputs["images"]
    tensor.dtype = tf.float32.as_datatype_enum
    for size in (2, 28, 28, 1):
        tensor.tensor_shape.dim.add(size=size)
    tensor.float_val.extend(images[7:9].reshape(-1).tolist())
    _check_answer(stub.Predict(request, timeout=60), expected[7:9], 2)
    del tensor.float_val[:]
    tensor.float_val.append(128.0)
    want = lenet.predict(np.full((2, 28, 28, 1), 128.0, "float32"), verbose=0)
    _check_answer(stub.Predict(request, timeout=60), want, 2)


def test_output_filter(stub, images, expected):
    request = _request(images[:2])
    request.output_filter.append("classes")
    answer = stub.Predict(request, timeout=60)
    assert list(answer.outputs) == ["classes"]
    assert list(answer.outputs["classes"].int64_val) == expected[:2].argmax(-1).tolist()


def test_metadata_and_status(base, stub, model_stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "lenet"
    answer = stub.GetModelMetadata(request, timeout=60)
    assert answer.model_spec.name == "lenet" and answer.model_spec.version.value == 1
    assert answer.metadata["signature_def"].type_url == \
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    served = get_model_metadata_pb2.SignatureDefMap()
    assert answer.metadata["signature_def"].Unpack(served)
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(base, "lenet", "1", "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    on_disk = saved_model.meta_graphs[0].signature_def
    assert {"serving_default", "predict_images"} <= set(served.signature_def)
    assert dict(served.signature_def) == dict(on_disk)

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "lenet"
    for version in (None, 1):
        if version is not None:
            request.model_spec.version.value = version
        (status,) = model_stub.GetModelStatus(request, timeout=60).model_version_status
        assert status.version == 1
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert (status.status.error_code, status.status.error_message) == (0, "")


def _bad_predicts(images):
    """`(name, request, code, message or (prefix,))` of Predict requests TF Serving refuses,
    with its codes and words (predict_util.cc, saved_model/util.cc, server_core.cc,
    basic_manager.cc)."""
    good = _request(images[:1])

    def changed(change, request=None):
        request = request or predict_pb2.PredictRequest.FromString(good.SerializeToString())
        change(request)
        return request

    def renamed(request):
        request.inputs["pixels"].CopyFrom(request.inputs["images"])
        del request.inputs["images"]

    def content(request):
        request.inputs["images"].tensor_content = request.inputs["images"].tensor_content[:-4]

    not_an_image = predict_pb2.PredictRequest()
    not_an_image.model_spec.name = "lenet"
    not_an_image.model_spec.signature_name = "predict_images"
    not_an_image.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"not an image"]))
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    return [
        ("no model spec", changed(lambda r: r.ClearField("model_spec")), invalid,
         "Missing ModelSpec"),
        ("no name", changed(lambda r: r.model_spec.ClearField("name")), invalid,
         "ModelSpec has no name specified."),
        ("unknown model", _request(images[:1], name="nope"), not_found,
         "Servable not found for request: Latest(nope)"),
        ("unknown version", _request(images[:1], version=9), not_found,
         "Servable not found for request: Specific(lenet, 9)"),
        ("unknown label", _request(images[:1], version_label="canary"), invalid,
         "Unrecognized servable version label: canary"),
        ("unknown signature", _request(images[:1], signature_name="x"),
         grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "x" not found.'),
        ("extra input", changed(lambda r: r.inputs["x"].CopyFrom(tf.make_tensor_proto(1.0))),
         invalid, "input size does not match signature: 2!=1 len({images,x}) != "
                  "len({images}). Sent extra: {x}. Missing but required: {}."),
        ("no input", changed(lambda r: r.ClearField("inputs")), invalid,
         "input size does not match signature: 0!=1 len({}) != len({images}). "
         "Sent extra: {}. Missing but required: {images}."),
        ("other input name", changed(renamed), invalid,
         ("Signature input alias: images(feed name: ",
          ") not found in request and no default value provided. Inputs expected to be "
          "in the request {pixels}, or default input alias set: ")),
        ("wrong rank", _request(images[0]), invalid,
         "input 'images': expected a tensor of rank 4 (shape [-1, 28, 28, 1]), got shape "
         "[28, 28, 1]"),
        ("wrong shape", _request(np.zeros((1, 28, 27, 1), "float32")), invalid,
         "input 'images': expected shape [-1, 28, 28, 1], got [1, 28, 27, 1]"),
        ("wrong dtype", _request(images[:1].astype("float64")), invalid,
         "input 'images': expected DT_FLOAT, got DT_DOUBLE"),
        ("strings for floats", changed(lambda r: r.inputs["images"].CopyFrom(
            tf.make_tensor_proto([b"x"]))), invalid, "input 'images': expected DT_FLOAT, got "
                                                     "DT_STRING"),
        ("short tensor_content", changed(content), invalid, "tensor parsing error: images"),
        ("unknown output", changed(lambda r: r.output_filter.append("logits")), invalid,
         "output tensor alias not found in signature: logits Outputs expected to be in "
         "the set {class_names,classes,probabilities}."),
        ("repeated output", changed(lambda r: r.output_filter.extend(["classes", "classes"])),
         invalid, "duplicate output tensor alias: classes"),
        ("not an image", not_an_image, invalid,
         "input 'image_bytes', value 0: 12 bytes that are not a PNG, JPEG, GIF, BMP or WebP "
         "image (they start b'not an image')"),
        ("infinite pixel", _request(np.where(np.arange(784).reshape(1, 28, 28, 1) == 5,
                                             np.inf, 0.0).astype("float32")), invalid,
         "input 'images': expected finite numbers (pixels 0-255), got inf at index "
         "[0, 0, 5, 0]"),
    ]


def test_status_codes_and_the_server_keeps_serving(server, channel, stub, model_stub,
                                                   images, expected):
    """Every refusal with TF Serving's code and message, each followed by a good request."""
    def still_serving():
        _check_answer(stub.Predict(_request(images[:1]), timeout=60), expected[:1], 1)

    for name, request, want, message in _bad_predicts(images):
        code, details = _code(stub.Predict, request)
        assert code == want, (name, code, details)
        if isinstance(message, tuple):
            assert details.startswith(message[0]) and details.endswith(message[1]), details
        elif message is not None:
            assert details == message, (name, details)
        else:
            assert details, name
        still_serving()

    metadata = get_model_metadata_pb2.GetModelMetadataRequest
    for request, want, message in [
            (metadata(metadata_field=["signature_def"]), grpc.StatusCode.INVALID_ARGUMENT,
             "Missing ModelSpec"),
            (metadata(model_spec={"name": "lenet"}), grpc.StatusCode.INVALID_ARGUMENT,
             "GetModelMetadataRequest must specify at least one metadata_field"),
            (metadata(model_spec={"name": "lenet"}, metadata_field=["signature_def", "x"]),
             grpc.StatusCode.INVALID_ARGUMENT, "Metadata field x is not supported"),
            (metadata(model_spec={"name": "nope"}, metadata_field=["signature_def"]),
             grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)")]:
        assert _code(stub.GetModelMetadata, request) == (want, message)
    status = get_model_status_pb2.GetModelStatusRequest
    for request, want, message in [
            (status(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
            (status(model_spec={"name": "nope"}), grpc.StatusCode.NOT_FOUND,
             "Could not find any versions of model nope"),
            (status(model_spec={"name": "lenet", "version": {"value": 7}}),
             grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model lenet")]:
        assert _code(model_stub.GetModelStatus, request) == (want, message)

    # Classify, Regress and MultiInference: kzoo's exports have predict signatures only.
    for method, request in [(stub.Classify, classification_pb2.ClassificationRequest()),
                            (stub.Regress, regression_pb2.RegressionRequest()),
                            (stub.MultiInference, inference_pb2.MultiInferenceRequest())]:
        code, details = _code(method, request)
        assert code == grpc.StatusCode.UNIMPLEMENTED and "Predict" in details, details

    # A config reload: this server serves a base folder, not a model config (the
    # lead's Registry refuses it); a custom_model_config as TF Serving refuses it.
    reload = model_management_pb2.ReloadConfigRequest()
    reload.config.model_config_list.config.add(name="lenet", base_path="/nowhere")
    code, details = _code(model_stub.HandleReloadConfigRequest, reload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details, details
    reload.config.custom_model_config.Pack(reload)
    assert _code(model_stub.HandleReloadConfigRequest, reload) == (
        grpc.StatusCode.INVALID_ARGUMENT, "ServerModelConfig type not supported by "
        "HandleReloadConfigRequest. Only ModelConfigList is currently supported")

    # Bytes that are no PredictRequest: INTERNAL, as gRPC C++'s deserializer answers.
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    code, details = _code(raw, b"\xff\xff\xff\xff")
    assert code == grpc.StatusCode.INTERNAL and "PredictRequest" in details
    still_serving()
    assert server["process"].poll() is None

    # Each RPC is counted in the server's metrics, gRPC's latencies as entrypoint GRPC.
    code, _, raw = _call(server["port"], "GET", "/monitoring/prometheus/metrics")
    assert code == 200
    text = raw.decode()
    assert ':tensorflow:serving:request_count{model_name="nope",status="NOT_FOUND"}' in text
    assert 'status="FAILED_PRECONDITION"' in text and 'status="UNIMPLEMENTED"' in text
    assert ('request_latency_count{API="Predict",entrypoint="GRPC",model_name="lenet"}'
            in text), text[:3000]


def test_request_over_grpc_default_limit(stub, images, expected):
    """2,000 images as float32 (6.3 MB, over gRPC's 4 MiB default receive limit)."""
    pixels = np.tile(images, (63, 1, 1, 1))[:2000]
    request = _request(pixels)
    assert request.ByteSize() > 4 * 2**20 + 2**20
    answer = stub.Predict(request, timeout=120)
    _check_answer(answer, np.tile(expected, (63, 1))[:2000], 2000)


def test_predict_images_png_bytes(stub, images, expected):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet"
    request.model_spec.signature_name = "predict_images"
    request.inputs["image_bytes"].CopyFrom(
        tf.make_tensor_proto([_png(image) for image in images[:4]]))
    answer = stub.Predict(request, timeout=60)
    assert answer.model_spec.signature_name == "predict_images"
    _check_answer(answer, expected[:4], 4)


def _rest_answers(port, images):
    """The REST answer (probabilities) of each image, one request each."""
    answers = []
    for image in images:
        code, answer, _ = _call(port, "POST", "/v1/models/lenet:predict",
                                {"instances": image[None].tolist()})
        assert code == 200, answer
        answers.append(answer["predictions"][0]["probabilities"])
    return np.array(answers, dtype="float32")


def _concurrent_grpc_clients(server, images, clients, requests):
    """`clients` threads (a channel each) × `requests` Predicts of 1-4 images; every
    answer equal to the REST answers for the same images."""
    rest = _rest_answers(server["port"], images)
    errors, mismatches, done = [], [], []
    target = f"127.0.0.1:{server['grpc_port']}"

    def worker(seed):
        rng = np.random.default_rng(seed)
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for _ in range(requests):
                start, count = int(rng.integers(0, 28)), int(rng.integers(1, 5))
                try:
                    answer = stub.Predict(_request(images[start:start + count]), timeout=120)
                except grpc.RpcError as e:
                    errors.append(f"{e.code()}: {e.details()}")
                    continue
                got = np.array(answer.outputs["probabilities"].float_val).reshape(count, 10)
                if not (np.allclose(got, rest[start:start + count], atol=1e-5, rtol=0)
                        and list(answer.outputs["classes"].int64_val)
                        == rest[start:start + count].argmax(-1).tolist()):
                    mismatches.append((start, count))
                done.append(1)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not errors, errors[:5]
    assert not mismatches, mismatches[:5]
    assert len(done) == clients * requests


def test_concurrent_grpc_clients(server, images):
    _concurrent_grpc_clients(server, images, clients=8, requests=100)


@pytest.mark.heavy
def test_concurrent_grpc_clients_full(server, images):
    """8 clients × 500 requests, 0 errors, every answer the REST answer: 7-11 s on the 2
    shared cores here, kept out of the default run for its time budget."""
    _concurrent_grpc_clients(server, images, clients=8, requests=500)


def test_grpc_and_rest_requests_batch_together(server, images, expected):
    """One REST client sends requests of 3 rows, one after another, while gRPC clients send
    1-row requests: a REST answer from a model call of more than 3 rows (its
    X-Kzoo-Batch-Rows) held gRPC rows too. gRPC answers carry the same count in their
    trailing metadata `x-kzoo-batch-rows`."""
    stop, mixed, grpc_rows, failures = threading.Event(), [], [], []
    target = f"127.0.0.1:{server['grpc_port']}"

    def grpc_client(seed):
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            i = seed
            while not stop.is_set():
                i = (i + 1) % 32
                try:
                    answer, call = stub.Predict.with_call(_request(images[i:i + 1]), timeout=60)
                    _check_answer(answer, expected[i:i + 1], 1)
                except Exception as e:  # noqa: BLE001 - asserted below
                    failures.append(repr(e))
                    return
                grpc_rows.append(int(dict(call.trailing_metadata())["x-kzoo-batch-rows"]))

    threads = [threading.Thread(target=grpc_client, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while not mixed and time.monotonic() < deadline and not failures:
            code, answer, _, headers = _call(server["port"], "POST", "/v1/models/lenet:predict",
                                             {"instances": images[10:13].tolist()},
                                             with_headers=True)
            assert code == 200, answer
            np.testing.assert_allclose([r["probabilities"] for r in answer["predictions"]],
                                       expected[10:13], atol=1e-5)
            if int(headers["X-Kzoo-Batch-Rows"]) > 3:
                mixed.append(int(headers["X-Kzoo-Batch-Rows"]))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures[:3]
    assert mixed, "no REST request was batched with gRPC requests within 60 s"
    assert max(grpc_rows) > 1 and max(grpc_rows) <= MAX_BATCH


def test_client_over_grpc(server, images, expected):
    rest = Client(f"http://127.0.0.1:{server['port']}")
    with Client(f"127.0.0.1:{server['grpc_port']}", protocol="grpc") as client:
        assert client.status("lenet") == rest.status("lenet")
        assert client.status("lenet", version=1) == rest.status("lenet", version=1)
        assert client.metadata("lenet") == rest.metadata("lenet")
        result = client.predict("lenet", images[:3])
        assert set(result) == {"probabilities", "classes", "class_names"}
        np.testing.assert_allclose(result["probabilities"], expected[:3], atol=1e-5)
        by_rest = rest.predict("lenet", images[:3])
        np.testing.assert_array_equal(result["classes"], by_rest["classes"])
        np.testing.assert_array_equal(result["class_names"], by_rest["class_names"])
        # uint8 pixels are sent as the signature's float32
        result = client.predict("lenet", images[:2].astype("uint8"), version=1)
        np.testing.assert_allclose(result["probabilities"], expected[:2], atol=1e-5)
        result = client.predict("lenet", [_png(images[5])], signature_name="predict_images")
        np.testing.assert_allclose(result["probabilities"], expected[5:6], atol=1e-5)
        with pytest.raises(ServingError) as error:
            client.predict("nope", images[:1])
        assert error.value.status == grpc.StatusCode.NOT_FOUND
        assert error.value.code == "NOT_FOUND"
        assert error.value.message == "Servable not found for request: Latest(nope)"
        with pytest.raises(ServingError) as error:
            client.predict("lenet", images[:1], signature_name="x")
        assert error.value.code == "FAILED_PRECONDITION"
    with pytest.raises(ServingError) as error:
        rest.predict("nope", images[:1])
    assert (error.value.status, error.value.code) == (404, "NOT_FOUND")
    with pytest.raises(ValueError, match="protocol"):
        Client("127.0.0.1:8500", protocol="http2")
    with pytest.raises(ValueError, match="url"):
        Client("http://127.0.0.1:8500", protocol="grpc")


def test_grpc_port_in_use(base, server, monkeypatch):
    """A gRPC port in use: a ValueError naming --grpc-port and the port, before any model
    loads; from the CLI, one `Error:` line."""
    from click.testing import CliRunner

    from kzoo.cli.main import main
    from kzoo.serving.server import ModelServer

    used = server["grpc_port"]
    with pytest.raises(ValueError, match=f"--grpc-port.*127.0.0.1:{used}"):
        ModelServer(base, "127.0.0.1", 0, grpc_port=used)
    monkeypatch.setattr("signal.signal", lambda *args: None)  # serve's SIGTERM handler
    result = CliRunner().invoke(main, ["serve", base, "--port", "0", "--grpc-port", str(used)])
    assert result.exit_code == 1, result.output
    assert "Error: Argument `grpc_port` (--grpc-port)" in result.output
    assert f"127.0.0.1:{used}" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["serve", base, "--port", "9", "--grpc-port", "9"])
    assert result.exit_code == 1 and "--grpc-port" in result.output, result.output
    # The REST port in use: the same kind of error, naming --port.
    rest_used = server["port"]
    with pytest.raises(ValueError, match=f"--port.*127.0.0.1:{rest_used}"):
        ModelServer(base, "127.0.0.1", rest_used, grpc_port=0)
    result = CliRunner().invoke(main, ["serve", base, "--port", str(rest_used),
                                       "--grpc-port", "0"])
    assert result.exit_code == 1 and "Error: Argument `port` (--port)" in result.output, \
        result.output


def test_reload_config_and_version_labels(base, tmp_path, images, expected):
    """HandleReloadConfigRequest on a server started from a model config file (in this
    process): the new config (a version label) is served at once; version_label then
    selects the version in Predict; a config TF Serving refuses is INVALID_ARGUMENT and
    the old config stays."""
    from tensorflow_serving.config import model_server_config_pb2

    from kzoo.serving.server import ModelServer

    path = os.path.join(base, "lenet")
    config_file = tmp_path / "models.config"
    config_file.write_text(f'model_config_list {{ config {{ name: "lenet" base_path: "{path}" '
                           f'model_platform: "tensorflow" }} }}')
    server = ModelServer(port=0, grpc_port=0, model_config_file=str(config_file),
                         config_poll=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with grpc.insecure_channel("%s:%d" % server.grpc_address) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            models = model_service_pb2_grpc.ModelServiceStub(channel)
            code, details = _code(stub.Predict, _request(images[:1], version_label="stable"))
            assert code == grpc.StatusCode.INVALID_ARGUMENT, details
            config = model_server_config_pb2.ModelServerConfig()
            entry = config.model_config_list.config.add(name="lenet", base_path=path,
                                                        model_platform="tensorflow")
            entry.version_labels["stable"] = 1
            answer = models.HandleReloadConfigRequest(
                model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
            assert answer.status.error_code == 0
            answer = stub.Predict(_request(images[:2], version_label="stable"), timeout=60)
            assert answer.model_spec.version.value == 1
            _check_answer(answer, expected[:2], 2)
            entry.model_platform = "pytorch"
            code, details = _code(models.HandleReloadConfigRequest,
                                  model_management_pb2.ReloadConfigRequest(config=config))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and "pytorch" in details
            answer = stub.Predict(_request(images[:1], version_label="stable"), timeout=60)
            assert answer.model_spec.version.value == 1
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


def test_grpc_clients_count_for_the_batchers_early_start():
    """A gRPC peer may still send as many requests as its recent peak in the server minus
    those in it now; a peak not reached again for `RECENT` s falls; a peer unseen for
    `RECENT` s is forgotten."""
    from kzoo.serving.grpc_api import _Clients

    clients = _Clients()
    clients.enter("ipv4:127.0.0.1:1")
    assert clients.idle() == 0  # its one request is in the server: it cannot send another
    clients.leave("ipv4:127.0.0.1:1")
    assert clients.idle() == 1
    for _ in range(3):  # a connection that multiplexes three requests
        clients.enter("ipv4:127.0.0.1:2")
    assert clients.idle() == 1  # all three of the second are in: only the first may send
    clients.leave("ipv4:127.0.0.1:2")
    assert clients.idle() == 2  # the second may send one more
    clients.RECENT = 0.0
    time.sleep(0.01)
    assert clients.idle() == 0  # the first forgotten; the second's peak fell to its two
    clients.leave("ipv4:127.0.0.1:2")
    clients.leave("ipv4:127.0.0.1:2")
    time.sleep(0.01)
    assert clients.idle() == 0  # both forgotten
