"""`kzoo.serving.Client`: a small Python client of TF Serving's REST API (stdlib only) and
of its gRPC API (`protocol="grpc"`, with the `tensorflow-serving-api` protos)."""

import base64
import http.client
import json
import numbers
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

# The canonical status code of each HTTP status (TF Serving's mapping, read backwards).
from kzoo.serving.rest import _CODES as _HTTP_CODES
from kzoo.serving.servables import _as_dict


class ServingError(RuntimeError):
    """An error answer of the server.

    Attributes:
        status: the HTTP status (an int) over REST, the `grpc.StatusCode` over gRPC.
        code: the canonical status code's name, e.g. "NOT_FOUND" (both protocols).
        message: the server's message (REST's `error`, gRPC's details).
    """

    def __init__(self, status, message, code=None):
        if code is None:
            code = _HTTP_CODES.get(status, "UNKNOWN") if isinstance(status, int) \
                else getattr(status, "name", str(status))
        super().__init__(f"HTTP {status}: {message}" if isinstance(status, int)
                         else f"gRPC {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServingConnectionError(ConnectionError):
    """No answer from the server: the connection was refused, dropped or timed out
    (REST), or the channel is unavailable (gRPC UNAVAILABLE). Errors the server
    answered are `ServingError`s.

    Attributes:
        url: the server's URL (REST) or target `host:port` (gRPC).
        reason: what went wrong, in the transport's words.
    """

    def __init__(self, url, reason):
        super().__init__(f"No answer from the TF Serving server at {url}: {reason} (is the "
                         f"server running there, e.g. `kzoo serve`?)")
        self.url = url
        self.reason = reason


def _reason(error):
    """A transport exception as a short text (urllib wraps the socket's in `reason`)."""
    error = getattr(error, "reason", error)
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _encode(array):
    """A numpy array as JSON values; bytes become `{"b64": ...}` objects."""
    if array.dtype.kind in ("S", "O"):
        def convert(v):
            if isinstance(v, list):
                return [convert(x) for x in v]
            if isinstance(v, str):
                v = v.encode("utf-8")
            return {"b64": base64.b64encode(v).decode("ascii")}
        return convert(array.tolist())
    return array.tolist()


class Client:
    """TF Serving client: `Client("http://127.0.0.1:8501").predict("lenet", x)` over REST,
    `Client("127.0.0.1:8500", protocol="grpc")` over gRPC, with the same methods.

    Works against `kzoo serve` and TensorFlow Serving itself.

    Args:
        url: REST: the server's URL (default `http://127.0.0.1:8501`); gRPC: its
            `host:port` (default `127.0.0.1:8500`).
        protocol: "rest" (standard library only) or "grpc" (TF Serving's
            `PredictionService` and `ModelService`, through the
            `tensorflow-serving-api` stubs; no message size limit).
        timeout: seconds per call.

    Every call raises `ServingError` for an error the server answered, and
    `ServingConnectionError` (a `ConnectionError`, naming the URL) when no answer
    came: the connection refused, dropped or timed out, or gRPC UNAVAILABLE.
    """

    def __init__(self, url=None, *, protocol="rest", timeout=60.0):
        if protocol not in ("rest", "grpc"):
            raise ValueError(f"Argument `protocol` must be \"rest\" or \"grpc\". "
                             f"Received: protocol={protocol!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, numbers.Real) or not 0 < timeout < float("inf")):
            raise ValueError(f"Argument `timeout` must be a finite number of seconds > 0 or "
                             f"None. Received: timeout={timeout!r}")
        self.protocol = protocol
        if protocol == "grpc":
            url = "127.0.0.1:8500" if url is None else url
            if not isinstance(url, str) or not url or "://" in url:
                raise ValueError(f"Argument `url` must be a gRPC target `host:port` with "
                                 f"protocol=\"grpc\". Received: url={url!r}")
            self._grpc = _GrpcClient(url, timeout)
        else:
            url = "http://127.0.0.1:8501" if url is None else url
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"Argument `url` must be an http(s) URL. Received: "
                                 f"url={url!r}")
            self._grpc = None
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._output_names = {}

    def close(self):
        """Closes the gRPC channel (nothing to do over REST)."""
        if self._grpc is not None:
            self._grpc.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _path(self, name, version):
        path = f"/v1/models/{urllib.parse.quote(name, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        return path

    def _request(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data,
                                         method="GET" if data is None else "POST")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            try:
                message = json.loads(body).get("error", body)
            except (ValueError, AttributeError):
                message = body
            raise ServingError(e.code, message) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            # Refused, reset or dropped before the whole answer, timed out, no such host.
            raise ServingConnectionError(self.url, _reason(e)) from None
        return json.loads(raw.decode("utf-8"))

    def status(self, name, *, version=None):
        """The `model_version_status` answer of model `name` (a dict)."""
        if self._grpc is not None:
            return self._grpc.status(name, version)
        return self._request(self._path(name, version))

    def metadata(self, name, *, version=None):
        """The metadata answer (model_spec and signature defs) of model `name`."""
        if self._grpc is not None:
            return self._grpc.metadata(name, version)
        return self._request(self._path(name, version) + "/metadata")

    def predict(self, name, images, *, version=None, signature_name=None):
        """The outputs of model `name` on `images` as a dict of numpy arrays.

        Args:
            name: the served model's name.
            images: a numpy array whose first axis is the batch (float32
                pixels for `serving_default`; a bytes array of encoded images
                for `predict_images`), sent in row format (`instances`).
            version: a version number (default: the latest).
            signature_name: the signature (default `serving_default`).

        Over gRPC, `images` are sent as the signature's input dtype, and the
        outputs come back in the model's dtypes (float32 probabilities; over
        REST, JSON numbers give float64).

        Raises:
            ServingError: the server answered an error.
            ServingConnectionError: no answer (refused, dropped, timed out).
        """
        array = np.asarray(images) if not isinstance(images, (list, tuple)) else (
            np.array(images, dtype=object) if images and isinstance(images[0], (bytes, str))
            else np.asarray(images))
        if self._grpc is not None:
            return self._grpc.predict(name, array, version, signature_name or "serving_default")
        payload = {"instances": _encode(array)}
        if signature_name is not None:
            payload["signature_name"] = signature_name
        predictions = self._request(self._path(name, version) + ":predict",
                                    payload)["predictions"]
        if predictions and isinstance(predictions[0], dict):
            return {key: np.asarray([row[key] for row in predictions])
                    for key in predictions[0]}
        key = self._single_output(name, version, signature_name or "serving_default")
        return {key: np.asarray(predictions)}

    def _single_output(self, name, version, signature_name):
        cache = (name, version, signature_name)
        if cache not in self._output_names:
            defs = self.metadata(name, version=version)["metadata"]["signature_def"]
            outputs = defs["signature_def"][signature_name]["outputs"]
            self._output_names[cache] = next(iter(outputs)) if len(outputs) == 1 \
                else "predictions"
        return self._output_names[cache]


# --------------------------------------------------------------------------- #
# gRPC
# --------------------------------------------------------------------------- #


def _output_array(proto, name):
    """A `TensorProto` answer as numpy; text as `str` (as REST's JSON gives it) unless
    the output's name ends with `_bytes` or a value is not UTF-8."""
    import tensorflow as tf

    array = tf.make_ndarray(proto)
    if array.dtype == object and not name.endswith("_bytes"):
        try:
            return np.array([v.decode("utf-8") for v in array.reshape(-1)]).reshape(array.shape)
        except UnicodeDecodeError:
            pass
    return array


class _GrpcClient:
    """`Client`'s calls over gRPC (`PredictionServiceStub`, `ModelServiceStub`)."""

    def __init__(self, target, timeout):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.target = target
        self.timeout = timeout
        # No size limit (gRPC's default receive limit is 4 MiB), as TF Serving's server.
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self._inputs = {}  # (name, version, signature) -> (input name, numpy dtype)

    def _call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE:  # refused, dropped, unresolvable
                raise ServingConnectionError(self.target, f"gRPC UNAVAILABLE: "
                                                          f"{e.details() or ''}") from None
            raise ServingError(e.code(), e.details() or "") from None

    @staticmethod
    def _spec(spec, name, version):
        spec.name = name
        if version is not None:
            spec.version.value = int(version)

    def status(self, name, version):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, name, version)
        return _as_dict(self._call(self.model.GetModelStatus, request))

    def _metadata(self, name, version):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, name, version)
        response = self._call(self.prediction.GetModelMetadata, request)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_defs)
        return response, signature_defs

    def metadata(self, name, version):
        response, signature_defs = self._metadata(name, version)
        return {"model_spec": _as_dict(response.model_spec),
                "metadata": {"signature_def": _as_dict(signature_defs)}}

    def _input(self, name, version, signature_name):
        key = (name, version, signature_name)
        if key not in self._inputs:
            import tensorflow as tf

            defs = self._metadata(name, version)[1].signature_def
            if signature_name not in defs:  # the server answers it (FAILED_PRECONDITION)
                return None, None
            inputs = defs[signature_name].inputs
            if len(inputs) != 1:
                raise ValueError(f"`Client.predict` sends one input; signature "
                                 f"{signature_name!r} has {sorted(inputs)}")
            (input_name, info), = inputs.items()
            self._inputs[key] = input_name, tf.dtypes.as_dtype(info.dtype)
        return self._inputs[key]

    def predict(self, name, array, version, signature_name):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        input_name, dtype = self._input(name, version, signature_name)
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, name, version)
        request.model_spec.signature_name = signature_name
        if input_name is not None:
            if dtype != tf.string:
                array = array.astype(dtype.as_numpy_dtype)
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(array, dtype=dtype))
        response = self._call(self.prediction.Predict, request)
        return {key: _output_array(response.outputs[key], key)
                for key in sorted(response.outputs)}
