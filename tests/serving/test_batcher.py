"""`kzoo.serving.batching.Batcher` on its own: when a batch starts, and what it answers.

The signature is a real SavedModel signature (`y = 2 x`, input `(batch, 2)`; a
negative x fails, as a model fails on a bad input), saved
and loaded with plain TensorFlow; the batcher runs on an asyncio loop in this
process with a thread pool, as in `kzoo serve --batching`.
"""

import asyncio
import concurrent.futures
import time

import numpy as np
import pytest
import tensorflow as tf

from kzoo.serving.batching import Batcher
from kzoo.serving.rest import RequestError
from kzoo.serving.server import Signature


@pytest.fixture(scope="module")
def signature(tmp_path_factory):
    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            with tf.control_dependencies([tf.debugging.assert_non_negative(x)]):
                return {"y": 2.0 * x}

    path = str(tmp_path_factory.mktemp("double"))
    module = Double()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return Signature("serving_default", tf.saved_model.load(path).signatures["serving_default"])


def _run(batcher, signature, requests, stagger=0.0):
    """Answers of `requests` (arrays of x) sent to `batcher` at once (or staggered),
    each `(outputs or exception, rows, seconds)`."""
    executor = concurrent.futures.ThreadPoolExecutor(4)

    async def one(x, delay):
        await asyncio.sleep(delay)
        start = time.monotonic()
        try:
            outputs, rows = await batcher.run(signature, {"x": x}, executor)
        except Exception as e:  # noqa: BLE001 - returned to the test
            return e, None, time.monotonic() - start
        return outputs, rows, time.monotonic() - start

    async def main():
        return await asyncio.gather(*(one(x, i * stagger) for i, x in enumerate(requests)))

    try:
        return asyncio.run(main())
    finally:
        executor.shutdown()


def _xs(*rows):
    return [np.full((n, 2), i, "float32") for i, n in enumerate(rows)]


def test_waits_for_the_timeout_then_merges(signature):
    batcher = Batcher(max_batch_size=32, timeout_ms=300)
    answers = _run(batcher, signature, _xs(1, 2, 1))
    for (outputs, rows, seconds), x in zip(answers, _xs(1, 2, 1)):
        np.testing.assert_array_equal(outputs["y"], 2 * x)
        assert rows == 4 and seconds >= 0.25
    assert batcher.batches == 1 and batcher.largest == 4


def test_a_full_batch_starts_at_once_and_the_rest_follows(signature):
    batcher = Batcher(max_batch_size=3, timeout_ms=10_000, num_batch_threads=1)
    requests = _xs(2, 1, 2, 1)
    answers = _run(batcher, signature, requests)
    for (outputs, rows, seconds), x in zip(answers, requests):
        np.testing.assert_array_equal(outputs["y"], 2 * x)
        assert rows == 3 and seconds < 5
    assert batcher.batches == 2


def test_starts_before_the_timeout_when_no_connection_is_idle(signature):
    """Every client's request is in the server: nothing can join, so no wait."""
    batcher = Batcher(max_batch_size=32, timeout_ms=10_000)
    batcher.idle_connections = lambda: 0
    answers = _run(batcher, signature, _xs(1, 1, 1))
    for (outputs, rows, seconds), x in zip(answers, _xs(1, 1, 1)):
        np.testing.assert_array_equal(outputs["y"], 2 * x)
        assert seconds < 5
    # Requests that arrive in the same turn of the event loop still share a call.
    assert batcher.batches == 1 and answers[0][1] == 3
    # An idle connection could still send a request: then the batch waits.
    batcher = Batcher(max_batch_size=32, timeout_ms=300)
    batcher.idle_connections = lambda: 1
    assert all(seconds >= 0.25 for _, _, seconds in _run(batcher, signature, _xs(1)))


def test_a_failing_request_fails_alone(signature):
    batcher = Batcher(max_batch_size=32, timeout_ms=200)
    requests = _xs(1, 1) + [np.full((1, 2), -1.0, "float32")]  # the last one fails
    answers = _run(batcher, signature, requests)
    for (outputs, rows, _), x in zip(answers[:2], requests[:2]):
        np.testing.assert_array_equal(outputs["y"], 2 * x)
        assert rows == 1  # the merged call failed; each ran alone
    assert isinstance(answers[2][0], RequestError) and answers[2][0].status == 400


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(max_batch_size=0)
    with pytest.raises(ValueError, match="num_batch_threads"):
        Batcher(num_batch_threads=0)


def test_thread_pool_sizes_are_checked():
    from kzoo.serving import server

    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="intra_op_parallelism.*Received"):
            server.set_threading(intra_op_parallelism=bad)
    tf.constant(1.0) + 1.0  # TensorFlow's thread pools now exist in this process
    with pytest.raises(ValueError, match="inter_op_parallelism.*already in use"):
        server.set_threading(inter_op_parallelism=3)
    server.set_threading(0, 0)  # nothing to change: no error


def test_request_json_parsing():
    """Bodies parse with orjson; what it refuses (NaN, big integers) the standard parser
    decides, and what neither takes is a 400 in the standard parser's words."""
    import math

    from kzoo.serving.rest import _parse_json

    assert _parse_json(b'{"instances": [[1, 2.5]]}') == {"instances": [[1, 2.5]]}
    assert math.isnan(_parse_json(b'{"instances": [NaN, Infinity]}')["instances"][0])
    assert _parse_json(b'{"instances": [%d]}' % 2 ** 70)["instances"] == [2 ** 70]
    for body, words in [(b'{"instances": [1,', "Expecting value"),
                        (b'\xff\xfe{}', "JSON Parse error"), (b"", "document is empty"),
                        (b"[1]", "Is not object")]:
        with pytest.raises(RequestError, match=words) as e:
            _parse_json(body)
        assert e.value.status == 400


@pytest.mark.heavy
def test_freeze_heap_hides_the_heap_and_frees_what_was_dropped():
    """`freeze_heap` (run by `kzoo serve` after each load) moves the live objects out of
    the collector's passes, and a later call frees a frozen cycle dropped since (a
    dropped version's model). In a child process: freezing is process-wide."""
    import subprocess
    import sys

    code = "\n".join([
        "import gc, weakref",
        "from kzoo.serving.server import freeze_heap",
        "class Node: pass",
        "a = Node(); a.me = a; alive = weakref.ref(a)",
        "freeze_heap()",
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()",
        "del a; gc.collect()",
        "assert alive() is not None  # frozen: the collector does not see it",
        "freeze_heap()",
        "assert alive() is None  # unfrozen, collected",
        "print('ok')",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
