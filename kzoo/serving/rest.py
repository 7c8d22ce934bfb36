"""TF Serving's REST formats: a `:predict` body to input arrays, outputs to the answer.

The request and answer shapes of TF Serving's `api_rest.md` (row format
`instances` → `predictions`, columnar `inputs` → `outputs`, binary values as
`{"b64": ...}`) and its error messages (`json_tensor.cc`), as `kzoo serve`
(`kzoo.serving.server`) speaks them. A servable here is anything with a
`signatures` dict of `kzoo.serving.server.Signature`s.

A small `{"instances": ARRAY}` or `{"inputs": ARRAY}` of numbers for a
one-input signature takes `_numeric_request`, which decodes the numbers
without building their nested lists; every other body, and every malformed
one, takes `parse_request`, which answers the errors.

`check_inputs` refuses encoded images above a pixel limit from their headers,
before a signature decodes them, and in kzoo's exports non-finite pixels and
bytes that are no image (both protocols); `check_number` checks the
server's numeric options.
"""

import base64
import binascii
import io
import json
import math
import numbers
import re
import threading

import numpy as np
import orjson
import simdjson

DEFAULT_SIGNATURE = "serving_default"


#: The canonical (gRPC) status code of each HTTP status kzoo serve answers, as TF
#: Serving maps them (`http_rest_api_handler.cc`'s ToHTTPStatusCode, read backwards).
_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 411: "INVALID_ARGUMENT",
          413: "RESOURCE_EXHAUSTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          501: "UNIMPLEMENTED", 503: "UNAVAILABLE"}


class RequestError(Exception):
    """An error answered to the client: an HTTP status, a message and the canonical
    status code (`code`, e.g. "NOT_FOUND") that gRPC answers; by default the one
    TF Serving maps to `status`. With `close`, REST closes the connection after the
    answer (what is left of the request cannot be read)."""

    def __init__(self, status, message, code=None, close=False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "UNKNOWN")
        self.close = close or status in (411, 413)


def _bad(message):
    return RequestError(400, message)


def check_number(name, value, low, high, *, flag=None, integer=False, unit=""):
    """`value` if it is a finite number (an int with `integer`) in `[low, high]`, else a
    `ValueError` naming the argument `name` and its CLI `flag`."""
    kind = numbers.Integral if integer else numbers.Real
    if (not isinstance(value, kind) or isinstance(value, bool)
            or not math.isfinite(value) or not low <= value <= high):
        where = f"Argument `{name}`" + (f" ({flag})" if flag else "")
        what = "an int" if integer else "a finite number"
        bounds = ", ".join(str(b) if isinstance(b, int) else f"{b:g}" for b in (low, high))
        raise ValueError(f"{where} must be {what} in [{bounds}]"
                         f"{' ' + unit if unit else ''}. Received: {name}={value!r}")
    return value


def _preview(value, limit):
    """The start of `value` as JSON text, for a message (never fails: a value nested
    too deeply for the encoder is shown by its type)."""
    try:
        return json.dumps(value)[:limit]
    except (RecursionError, TypeError, ValueError):
        return f"a {type(value).__name__} nested too deeply"


def _decode_binary(value, where):
    """Nested lists with `{"b64": ...}` objects and strings → nested lists of bytes."""
    if isinstance(value, list):
        return [_decode_binary(v, where) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise _bad(f"{where}: a binary value must be an object {{\"b64\": \"...\"}} "
                       f"with one string; got keys {sorted(value)}")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(f"{where}: invalid base64 in a \"b64\" value: {e}") from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _bad(f"{where}: expected a string or {{\"b64\": ...}} for a DT_STRING input, got "
               f"{type(value).__name__} {_preview(value, 60)}")


def _to_array(value, spec, where):
    """A JSON value as a numpy array of the input `spec` (a tf.TensorSpec), else 400."""
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.array(_decode_binary(value, where), dtype=object)
        if array.size and not all(isinstance(v, bytes) for v in array.reshape(-1)):
            raise _bad(f"{where}: ragged or mixed nesting in a DT_STRING input")
    else:
        try:
            array = np.array(value)
        except (ValueError, TypeError) as e:
            raise _bad(f"{where}: the value is not a rectangular array of numbers "
                       f"({' '.join(str(e).split())[:200]})") from None
        kind = array.dtype.kind
        if dtype.is_floating:
            allowed = "fiu"
        elif dtype.is_integer:
            allowed = "iu"
        elif dtype.is_bool:
            allowed = "b"
        else:
            allowed = "fiub"
        if array.size and kind not in allowed:
            shown = _preview(value, 80)
            raise _bad(f"{where}: expected {_dt_name(dtype)} values, got "
                       f"{'a ragged array' if kind == 'O' else array.dtype} ({shown})")
        try:
            array = array.astype(dtype.as_numpy_dtype)
        except (ValueError, TypeError, OverflowError) as e:
            raise _bad(f"{where}: cannot convert to {_dt_name(dtype)}: {e}") from None
    shape = spec.shape
    if shape.rank is not None:
        if array.ndim != shape.rank:
            raise _bad(f"{where}: expected a tensor of rank {shape.rank} "
                       f"(shape {_shape_text(shape)}), got shape {list(array.shape)}")
        for got, want in zip(array.shape, shape.as_list()):
            if want is not None and got != want:
                raise _bad(f"{where}: expected shape {_shape_text(shape)}, got "
                           f"{list(array.shape)}")
    return array


def _dt_name(dtype):
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _shape_text(shape):
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def _to_json(array, name):
    """A numpy output as JSON values (strings as text, or `{"b64"}` when not UTF-8)."""
    if array.dtype.kind in ("S", "O"):
        as_b64 = name.endswith("_bytes")

        def convert(v):
            if isinstance(v, list):
                return [convert(x) for x in v]
            if not as_b64:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(v).decode("ascii")}
        return convert(array.tolist())
    return array.tolist()


def _row_inputs(instances, signature):
    """Row format: a list of instances → {input name: array} (400 when malformed)."""
    if not isinstance(instances, list):
        raise _bad("JSON Value: Expecting 'instances' to be an list/array")
    if not instances:
        raise _bad("JSON Value: No values in 'instances' array")
    names = list(signature.inputs)
    single = len(names) == 1
    columns = {name: [] for name in names}
    for i, instance in enumerate(instances):
        named = isinstance(instance, dict) and not (single and set(instance) == {"b64"}
                                                     and "b64" not in names)
        if named:
            if set(instance) != set(names):
                raise _bad(f"instance {i}: expected the named inputs {names}, got "
                           f"{sorted(instance)}")
            for name in names:
                columns[name].append(instance[name])
        elif single:
            columns[names[0]].append(instance)
        else:
            raise _bad(f"instance {i}: signature {signature.name!r} has several inputs "
                       f"{names}; each instance must be an object keyed by them")
    return {name: _to_array(columns[name], signature.inputs[name], f"input {name!r}")
            for name in names}


def _columnar_inputs(inputs, signature):
    names = list(signature.inputs)
    if isinstance(inputs, dict) and not (len(names) == 1 and set(inputs) == {"b64"}):
        if set(inputs) != set(names):
            raise _bad(f"\"inputs\": expected the named inputs {names}, got {sorted(inputs)}")
        values = inputs
    elif len(names) == 1:
        values = {names[0]: inputs}
    else:
        raise _bad(f"\"inputs\": signature {signature.name!r} has several inputs {names}; "
                   f"\"inputs\" must be an object keyed by them")
    return {name: _to_array(values[name], signature.inputs[name], f"input {name!r}")
            for name in names}


def _numeric_input(inputs):
    """`(name, dims after the batch axis, their product, first dim or None, numpy
    dtype)` of a signature's only input when `_numeric_request` can decode it (one
    floating-point input of known rank and shape after the batch axis), else None."""
    if len(inputs) != 1:
        return None
    (name, spec), = inputs.items()
    shape = spec.shape
    if not spec.dtype.is_floating or shape.rank is None or shape.rank < 1:
        return None
    dims = shape.as_list()
    inner = tuple(dims[1:])
    if None in inner or 0 in inner:
        return None
    return name, inner, int(np.prod(inner, dtype=np.int64)), dims[0], spec.dtype.as_numpy_dtype


# `_numeric_request`: the body `{"instances": [...]}` or `{"inputs": [...]}` (JSON
# whitespace only); what is left of the array without its numbers and whitespace.
_NUMERIC_HEAD = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"(instances|inputs)"[ \t\n\r]*:[ \t\n\r]*\[')
_JSON_SPACE = b" \t\n\r"
_NUMBERS_AND_SPACE = b"0123456789.eE+-" + _JSON_SPACE
_SKELETONS = {}  # shape -> the array's structural characters, e.g. (2, 1) -> b"[[],[]]"
_PARSERS = threading.local()  # a simdjson parser per thread (it keeps its buffers)


def _parser():
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = simdjson.Parser()
    return parser


def _skeleton(shape):
    skeleton = _SKELETONS.get(shape)
    if skeleton is None:
        skeleton = b""
        for dim in reversed(shape):
            skeleton = b"[" + b",".join([skeleton] * dim) + b"]"
        if len(_SKELETONS) >= 256:
            _SKELETONS.clear()
        _SKELETONS[shape] = skeleton
    return skeleton


def _numeric_request(servable, body):
    """`parse_request(servable, _parse_json(body))` for the commonest request, else None.

    The request that kzoo's client and most others send, `{"instances": ARRAY}` or
    `{"inputs": ARRAY}` with ARRAY a rectangular nested array of JSON numbers for a
    `serving_default` of one floating-point input, is decoded without building its
    nested lists: simdjson (a validating parser) reads ARRAY's numbers straight into
    one flat buffer of int64 (every number an integer) or float64 (else), the dtype
    `np.array` gives the nested lists, and the brackets and commas left when the
    numbers and whitespace are taken out must be exactly those of the expected
    shape (`_skeleton`). Anything else, including every malformed body, integers
    beyond 64 bits and numbers out of float64's range, returns None, and the caller
    takes the general path (which then answers its errors); so the result, when
    there is one, is the general path's.

    Why the checks suffice: simdjson accepts ARRAY only as valid JSON, and its
    buffer only when every leaf is a number. In valid JSON the structural
    characters fix the nesting, except that an innermost `[]` may hold no number
    or one; the count of numbers, which must be the shape's, rules that out.
    """
    head = _NUMERIC_HEAD.match(body)
    if head is None:
        return None
    signature = servable.signatures.get(DEFAULT_SIGNATURE)
    plan = signature.numeric_input if signature is not None else None
    if plan is None:
        return None
    name, inner, inner_size, first, dtype = plan
    end = body.rstrip(_JSON_SPACE)
    if not end.endswith(b"}"):
        return None
    end = end[:-1].rstrip(_JSON_SPACE)
    if not end.endswith(b"]"):
        return None
    text = end[head.end() - 1:]
    structure = text.translate(None, _NUMBERS_AND_SPACE)
    # `[` + ROW + (`,` + ROW) * (rows - 1) + `]`, ROW the skeleton of one row.
    rows, rest = divmod(len(structure) - 1, len(_skeleton(inner)) + 1)
    if rest or not rows or (first is not None and first != rows):
        return None
    shape = (rows, *inner)
    if structure != _skeleton(shape):
        return None
    floats = b"." in text or b"e" in text or b"E" in text
    try:
        buffer = _parser().parse(text).as_buffer(of_type="d" if floats else "i")
    except Exception:  # invalid JSON, a leaf that is not a number, out of range
        return None
    array = np.frombuffer(buffer, dtype=np.float64 if floats else np.int64)
    if array.size != rows * inner_size:
        return None
    try:
        array = array.reshape(shape).astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return None
    return signature, {name: array}, head.group(1) == b"instances"


def run_signature(signature, arrays):
    """`signature`'s outputs ({name: numpy array}) on `arrays`; 400 on TF's complaints."""
    import tensorflow as tf

    tensors = {key: tf.constant(value, dtype=signature.inputs[key].dtype)
               for key, value in arrays.items()}
    try:
        result = signature.function(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        message = getattr(e, "message", None) or str(e)
        raise _bad(" ".join(message.split())[:1000]) from None
    return {key: result[key].numpy() for key in signature.outputs}


#: `kzoo serve --max-image-pixels`: the most pixels (width × height × frames) of one
#: encoded image in a request (0: no limit).
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192

# The formats `tf.io.decode_image` decodes, by their first bytes, and Pillow's header
# reader of each (its plugin's class: `Image.open` would add Pillow's own, lower,
# decompression-bomb check and its registry of every other format).
_IMAGE_FORMATS = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"),
                  (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"))


def _image_reader(data):
    """`(format name, Pillow's ImageFile class)` of encoded image `data`, else None."""
    fmt = next((name for magic, name in _IMAGE_FORMATS if data.startswith(magic)), None)
    if fmt is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt = "WEBP"
    if fmt is None:
        return None
    from PIL import (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin,
                     WebPImagePlugin)

    return fmt, {"PNG": PngImagePlugin.PngImageFile, "JPEG": JpegImagePlugin.JpegImageFile,
                 "GIF": GifImagePlugin.GifImageFile, "BMP": BmpImagePlugin.BmpImageFile,
                 "WEBP": WebPImagePlugin.WebPImageFile}[fmt]


def image_pixels(data):
    """`(format, width, height, frames)` of an encoded PNG, JPEG, GIF, BMP or WebP image
    read from its header alone (nothing is decoded), or None when `data` is none of
    them; a `RequestError` (400) when it starts as one (but BMP, whose two-letter mark
    also starts text) and its header cannot be read."""
    reader = _image_reader(data)
    if reader is None:
        return None
    fmt, image_file = reader
    try:
        with image_file(io.BytesIO(data)) as image:
            width, height = image.size
            # GIF: counting the frames skips through them without decoding any.
            frames = getattr(image, "n_frames", 1) if fmt in ("GIF", "WEBP") else 1
    except Exception as e:  # noqa: BLE001 - whatever Pillow refuses, TF would too
        if fmt == "BMP":  # "BM" also starts ordinary text: not taken for an image
            return None
        raise _bad(f"a {fmt} image whose header cannot be read "
                   f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
    return fmt, width, height, frames


def check_inputs(signature, arrays, max_pixels):
    """Refuses (400) what would make a kzoo export answer nonsense or a server decode
    gigabytes, before the signature runs: in a kzoo export, a non-finite pixel (JSON's
    1e400 parses as infinity) and a string value that is no PNG, JPEG, GIF, BMP or
    WebP image; in any signature, an encoded image of more than `max_pixels` pixels
    (width × height × frames, from its header: a few KB of PNG can decode to
    gigabytes; 0 or None: no limit)."""
    if signature.kzoo_export:
        for name, spec in signature.inputs.items():
            array = arrays.get(name)
            if (array is None or not spec.dtype.is_floating or not array.size
                    or np.isfinite(array).all()):
                continue
            index = np.argwhere(~np.isfinite(array))[0]
            raise _bad(f"input {name!r}: expected finite numbers (pixels 0-255), got "
                       f"{array[tuple(index)]} at index {index.tolist()}")
    if not signature.string_inputs or not (max_pixels or signature.kzoo_export):
        return
    for name in signature.string_inputs:
        for i, value in enumerate(arrays[name].reshape(-1).tolist()):
            if not isinstance(value, bytes):
                continue
            try:
                info = image_pixels(value)
            except RequestError as e:
                raise _bad(f"input {name!r}, value {i}: {e.message}") from None
            if info is None:
                if signature.kzoo_export:
                    raise _bad(f"input {name!r}, value {i}: {len(value)} bytes that are not "
                               f"a PNG, JPEG, GIF, BMP or WebP image (they start "
                               f"{value[:12]!r})")
                continue
            fmt, width, height, frames = info
            pixels = width * height * frames
            if max_pixels and pixels > max_pixels:
                size = f"{width}x{height}" + (f"x{frames} frames" if frames > 1 else "")
                raise _bad(f"input {name!r}, value {i}: a {size} {fmt} image has {pixels} "
                           f"pixels, more than the server's limit of {max_pixels} "
                           f"(kzoo serve --max-image-pixels)")


def parse_request(servable, body):
    """A parsed `:predict` request `body` → `(signature, {input: array}, row_format)`.

    Raises `RequestError` (400) when the request is malformed.
    """
    try:
        return _parse_request(servable, body)
    except RecursionError:  # values nested deeper than the decoders recurse
        raise _bad("JSON Value: the values are nested too deeply") from None


def _parse_request(servable, body):
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    name = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise _bad("\"signature_name\" must be a string")
    name = name or DEFAULT_SIGNATURE
    if name not in servable.signatures:
        raise RequestError(400, f"Serving signature name: \"{name}\" not found in "
                                f"signature def", code="FAILED_PRECONDITION")
    signature = servable.signatures[name]
    rows, columns = "instances" in body, "inputs" in body
    # TF Serving's messages (json_tensor.cc).
    if rows and columns:
        raise _bad("JSON Value: Not formatted correctly expecting only one of 'inputs' or "
                   "'instances' keys to exist")
    if not rows and not columns:
        raise _bad("Missing 'inputs' or 'instances' key")
    if rows:
        arrays = _row_inputs(body["instances"], signature)
        sizes = {array.shape[0] if array.ndim else None for array in arrays.values()}
        if len(sizes) != 1 or None in sizes:
            raise _bad("the named inputs of the instances must share their 0th dimension")
    else:
        arrays = _columnar_inputs(body["inputs"], signature)
    return signature, arrays, rows


def format_answer(signature, outputs, row_format):
    """The JSON answer (a dict) of `signature`'s `outputs` ({name: numpy array})."""
    if row_format:
        batch = {array.shape[0] if array.ndim else None for array in outputs.values()}
        if len(batch) != 1 or None in batch:
            raise _bad("the outputs do not share a batch dimension; use the columnar "
                       "format (\"inputs\")")
        as_json = {key: _to_json(value, key) for key, value in outputs.items()}
        if len(outputs) == 1:
            return {"predictions": next(iter(as_json.values()))}
        count = batch.pop()
        return {"predictions": [{key: as_json[key][i] for key in signature.outputs}
                                for i in range(count)]}
    as_json = {key: _to_json(value, key) for key, value in outputs.items()}
    if len(outputs) == 1:
        return {"outputs": next(iter(as_json.values()))}
    return {"outputs": as_json}


def predict(servable, body):
    """The JSON answer (a dict) of a `:predict` request `body` (a parsed JSON value)."""
    signature, arrays, row_format = parse_request(servable, body)
    return format_answer(signature, run_signature(signature, arrays), row_format)


def status(servables):
    return {"model_version_status": [
        {"version": str(s.version), "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}} for s in servables]}


def metadata(servable):
    return {"model_spec": {"name": servable.name, "signature_name": "",
                           "version": str(servable.version)},
            "metadata": {"signature_def": servable.signature_defs}}


def _error_payload(e):
    return {"error": f"{type(e).__name__}: {' '.join(str(e).split())}"[:1000]}


def _answer_bytes(answer, outputs):
    """The JSON text of a `:predict` answer of `outputs` ({name: numpy array}).

    orjson writes it (several times faster) when every output is numbers or booleans
    and every float is finite: the same JSON values as the standard encoder's (floats
    in their shortest round-trip digits, so they parse back to the same doubles), in
    compact form; text outputs too while all of their values are ASCII. Otherwise the
    standard encoder does (NaN and Infinity, which orjson would write as null, and
    other text, which orjson would not escape to ASCII).
    """
    for value in outputs.values():
        kind = value.dtype.kind
        if kind in "SO":
            ascii_text = value.size <= 4096 and all(
                isinstance(v, bytes) and v.isascii() for v in value.reshape(-1).tolist())
            if not ascii_text:
                return json.dumps(answer).encode("utf-8")
        elif kind not in "fiub" or (kind == "f" and not np.isfinite(value).all()):
            return json.dumps(answer).encode("utf-8")
    try:
        return orjson.dumps(answer)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(answer).encode("utf-8")


_TOO_DEEP = "JSON Parse error: the document is nested too deeply"


def _parse_json(body):
    """A request body (bytes) as JSON: an object, else 400 (TF Serving's ParseJson)."""
    if not body:
        raise _bad("JSON Parse error: The document is empty")
    try:
        parsed = orjson.loads(body)  # about 4× the standard parser's speed on pixels
    except orjson.JSONDecodeError as e:
        if "depth" in str(e):  # orjson stops at 1024 levels; the standard parser sooner
            raise _bad(_TOO_DEEP) from None
        # orjson is strict RFC 8259 (and 64-bit integers); TF Serving's parser also
        # takes NaN and Infinity. The standard parser decides, in its own words.
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _bad(f"JSON Parse error: {e}") from None
        except RecursionError:
            raise _bad(_TOO_DEEP) from None
    if not isinstance(parsed, dict):
        raise _bad(f"JSON Value: {_preview(parsed, 200)} Is not object")
    if not isinstance(parsed.get("signature_name", ""), str):
        raise _bad("JSON Value: \"signature_name\" must be a string")
    return parsed
