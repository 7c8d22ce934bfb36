"""`kzoo.serving.Client`: a small Python client of TF Serving's REST API (stdlib only)."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np


class ServingError(RuntimeError):
    """A non-2xx answer of the server: `status` (HTTP) and `message` (its `error`)."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


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
    """TF Serving REST client: `Client("http://127.0.0.1:8501").predict("lenet", x)`.

    Works against `kzoo serve` and TensorFlow Serving itself.
    """

    def __init__(self, url="http://127.0.0.1:8501", *, timeout=60.0):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"Argument `url` must be an http(s) URL. Received: url={url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._output_names = {}

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
                return json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            try:
                message = json.loads(body).get("error", body)
            except (ValueError, AttributeError):
                message = body
            raise ServingError(e.code, message) from None

    def status(self, name, *, version=None):
        """The `model_version_status` answer of model `name` (a dict)."""
        return self._request(self._path(name, version))

    def metadata(self, name, *, version=None):
        """The metadata answer (model_spec and signature defs) of model `name`."""
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

        Raises:
            ServingError: the server answered an error.
        """
        array = np.asarray(images) if not isinstance(images, (list, tuple)) else (
            np.array(images, dtype=object) if images and isinstance(images[0], (bytes, str))
            else np.asarray(images))
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
