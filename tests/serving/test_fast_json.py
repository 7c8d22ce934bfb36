"""The server's fast JSON paths, in process: `_numeric_request` (a request of numbers
decoded without its nested lists) must give exactly `parse_request`'s result, or
None (then the general path answers); `_answer_bytes` (orjson) the same JSON values
as the standard encoder.

The signatures are real SavedModel signatures saved and loaded with plain TensorFlow.
"""

import json
import random

import numpy as np
import pytest
import tensorflow as tf

from kzoo.serving import rest
from kzoo.serving.rest import RequestError
from kzoo.serving.server import Signature


def _servable(tmp_path_factory, spec, name):
    class Model(tf.Module):
        @tf.function(input_signature=[spec])
        def serve(self, x):
            return {"y": 2.0 * tf.cast(x, tf.float32)}

    path = str(tmp_path_factory.mktemp(name))
    module = Model()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    loaded = tf.saved_model.load(path)

    class Servable:  # what `_numeric_request` and `parse_request` use of a Servable
        signatures = {"serving_default": Signature("serving_default",
                                                   loaded.signatures["serving_default"])}
    return Servable()


@pytest.fixture(scope="module")
def servable(tmp_path_factory):
    return _servable(tmp_path_factory, tf.TensorSpec([None, 2, 3, 1], tf.float32, name="x"),
                     "float")


def _general(servable, body):
    try:
        return rest.parse_request(servable, rest._parse_json(body))
    except RequestError as e:
        return ("error", e.status, e.message)


def _same(servable, body):
    """Whether the fast path took `body`; asserts it then equals the general path."""
    fast = rest._numeric_request(servable, body)
    if fast is None:
        return False
    general = _general(servable, body)
    assert general[0] != "error", (body, general)
    assert fast[0] is general[0] and fast[2] == general[2], body
    assert fast[1].keys() == general[1].keys()
    for key, array in fast[1].items():
        want = general[1][key]
        assert array.dtype == want.dtype and array.shape == want.shape, body
        assert np.array_equal(array, want) and \
            np.array_equal(np.signbit(array), np.signbit(want)), body
    return True


def test_signature_facts(servable):
    signature = servable.signatures["serving_default"]
    assert signature.batchable
    assert signature.numeric_input[:4] == ("x", (2, 3, 1), 6, None)
    assert signature.numeric_input[4] == np.float32


def test_valid_requests_take_the_fast_path(servable):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 2, 3, 1)) * 100).astype("float32")
    bodies = [
        json.dumps({"instances": x[:1].tolist()}),
        json.dumps({"instances": x.tolist()}),
        json.dumps({"inputs": x[:2].tolist()}),
        json.dumps({"instances": x.tolist()}, indent=2),
        json.dumps({"instances": x.astype(int).tolist()}, separators=(",", ":")),
        json.dumps({"instances": (x.astype("float64") * 1e30).tolist()}),
        ' \n{ "instances" :\t' + json.dumps(x[:1].tolist()) + " }\r\n",
        '{"instances": [[[[-0], [-0.0], [1E2]], [[1e-2], [0], [5]]]]}',
        # integers that float64 rounds, beside floats: rounded alike in both paths
        json.dumps({"instances": [[[[2 ** 53 + 1], [0.5], [-(2 ** 63)]], [[4], [5], [6]]]]}),
        json.dumps({"instances": [[[[2 ** 63 - 1], [-(2 ** 63)], [3]], [[4], [5], [6]]]]}),
    ]
    for body in bodies:
        assert _same(servable, body.encode()), body


def test_other_requests_take_the_general_path(servable):
    one = [[[[1.5], [2], [3]], [[4], [5], [6]]]]
    bodies = [
        {"signature_name": "serving_default", "instances": one},  # another key
        {"instances": []},
        {"instances": [[[[1], [2]], [[4], [5]]]]},  # another shape
        {"instances": [[[["1"], [2], [3]], [[4], [5], [6]]]]},
        {"instances": one, "inputs": one},
        # beyond 64 bits (orjson reads a float there): the general path decides
        {"instances": [[[[1], [2], [3]], [[4], [5], [2 ** 70]]]]},
        {"instances": [[[[1], [2], [3]], [[4], [5], [2 ** 63]]]]},
    ]
    for body in bodies:
        assert rest._numeric_request(servable, json.dumps(body).encode()) is None, body
    for raw in [b'{"instances": [[[[NaN], [2], [3]], [[4], [5], [6]]]]}',
                b'{"instances": [[[[1e400], [2], [3]], [[4], [5], [6]]]]}',
                b'{"instances": [[[[1], [2], [3]], [[4], [5], [6]]]], }',
                b'{"instances": [[[[1] [2], [3]], [[4], [5], [6]]]]}',
                b'{"instances": [[[[1], [2], [3]], [[4], [5], [6]]]5]}',
                b'{"instances": [[[[1], [], [3]], [[4], [5], [6]]]]}',
                b'{"instances": [[[[1 2], [3], [3]], [[4], [5], [6]]]]}',
                b'{"instances": [[[[01], [2], [3]], [[4], [5], [6]]]]}',
                b'\x0c{"instances": [[[[1], [2], [3]], [[4], [5], [6]]]]}']:
        assert rest._numeric_request(servable, raw) is None, raw


def test_mutated_bodies_never_differ_from_the_general_path(servable):
    """Random edits of a valid body: whenever the fast path answers, it is the general
    path's answer (in particular it never accepts a body the general path refuses)."""
    body = '{"instances": [[[[1.5], [-0], [2]], [[3e2], [4], [5.25]]]]}'
    alphabet = list('[],0123456789.eE+- "\t\n{}:ab')
    rng = random.Random(1)
    taken = 0
    for _ in range(20000):
        chars = list(body)
        for _ in range(rng.randint(1, 3)):
            op, i = rng.random(), rng.randrange(len(chars))
            if op < 0.4:
                chars[i] = rng.choice(alphabet)
            elif op < 0.7:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        taken += _same(servable, "".join(chars).encode())
    assert taken > 500  # many edits still give a valid body (e.g. other digits)


def test_integer_inputs_take_the_general_path(tmp_path_factory):
    servable = _servable(tmp_path_factory, tf.TensorSpec([None, 2], tf.int32, name="x"), "int")
    assert servable.signatures["serving_default"].numeric_input is None
    assert rest._numeric_request(servable, b'{"instances": [[1, 2]]}') is None


def test_answer_bytes():
    rng = np.random.default_rng(0)
    outputs = {"p": rng.random((3, 10)).astype("float32"), "c": np.array([1, 2, 3]),
               "ok": np.array([True, False, True]),
               "name": np.array([b"Shirt", b"Bag", b"x\ny"], dtype=object)}
    answer = {"predictions": [{key: value[i].tolist() if key == "p" else
                               (value[i].decode() if key == "name" else value[i].item())
                               for key, value in outputs.items()} for i in range(3)]}
    text = rest._answer_bytes(answer, outputs)
    assert b" " not in text  # orjson wrote it
    assert json.loads(text) == json.loads(json.dumps(answer))
    # NaN (orjson would write null) and non-ASCII text: the standard encoder's text.
    for key, value in [("p", np.array([np.nan], dtype="float32")),
                       ("name", np.array(["café".encode()], dtype=object))]:
        answer = {"outputs": rest._to_json(value, key)}
        assert rest._answer_bytes(answer, {key: value}) == json.dumps(answer).encode()
