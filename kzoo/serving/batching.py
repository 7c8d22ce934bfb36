"""Server-side batching for `kzoo serve --batching` (TF Serving's batch scheduler)."""

import os

import numpy as np

from kzoo.serving.rest import RequestError, check_number, run_signature

#: The ranges of the batcher's options (`kzoo serve --max-batch-size`, ...): a request
#: waits at most a minute for its batch.
LIMITS = {"max_batch_size": (1, 65536), "batch_timeout_ms": (0, 60_000),
          "num_batch_threads": (1, 1024)}


class _Task:
    """One request waiting in a `Batcher` queue."""

    __slots__ = ("arrays", "rows", "future", "deadline")

    def __init__(self, arrays, rows, future, deadline):
        self.arrays, self.rows, self.future, self.deadline = arrays, rows, future, deadline


class Batcher:
    """Server-side batching, as TF Serving's batch scheduler does it.

    Concurrent requests to one signature wait in a queue on the server's event
    loop. A batch of at most `max_batch_size` rows runs as one model call when
    it is full, or when its first request has waited `timeout_ms`, and one of
    `num_batch_threads` batch threads is free (default: one per CPU); while all
    of them are busy the queue keeps filling (TF Serving's `max_batch_size`,
    `batch_timeout_micros` and `num_batch_threads`). Unlike TF Serving, a
    batch also starts before its timeout when no open connection is idle
    (`idle_connections()` returns 0): every client connected then has its
    request in the server already, and an HTTP/1.1 connection carries one
    request at a time, so no request can join before one of them is answered
    (waiting would only add latency). A request of more rows than
    `max_batch_size` is not batched. If a merged batch fails, its requests
    are run one by one so that each gets its own answer. Only signatures whose
    inputs have a fully known shape after the batch axis are batched (their
    requests can always be concatenated).

    Requests wait on the event loop, not in threads: a batch costs one thread
    hop, whatever its size. `run()` must be awaited on that loop.
    """

    def __init__(self, max_batch_size=32, timeout_ms=5.0, num_batch_threads=None):
        check_number("max_batch_size", max_batch_size, *LIMITS["max_batch_size"],
                     flag="--max-batch-size", integer=True, unit="rows")
        check_number("timeout_ms", timeout_ms, *LIMITS["batch_timeout_ms"],
                     flag="--batch-timeout-ms", unit="ms")
        if num_batch_threads is not None:
            check_number("num_batch_threads", num_batch_threads,
                         *LIMITS["num_batch_threads"], flag="--num-batch-threads",
                         integer=True)
        self.max_batch_size = int(max_batch_size)
        self.timeout = float(timeout_ms) / 1000.0
        self.num_batch_threads = int(num_batch_threads or os.cpu_count() or 1)
        self._queues = {}    # id(signature) -> (signature, [_Task, ...])
        self._timers = {}    # id(signature) -> (deadline, asyncio.TimerHandle)
        self._running = set()  # the batches' asyncio tasks
        self._soon = False     # a _dispatch is scheduled with call_soon
        # A callable giving the open connections without a request in the server, or
        # None (then batches wait for their timeout); set by `ModelServer`.
        self.idle_connections = None
        self.batches = 0     # calls made
        self.largest = 0     # the most rows in one call
        # Called with the rows of each batch when it starts (e.g. `Metrics.record_batch`).
        self.on_batch = None

    def accepts(self, signature, arrays):
        """Whether a request can join a batch: inputs of known shape after the batch
        axis (`Signature.batchable`) and at most `max_batch_size` rows."""
        if not signature.batchable:
            return False
        return all(array.ndim >= 1 and array.shape[0] <= self.max_batch_size
                   for array in arrays.values())

    async def run(self, signature, arrays, executor):
        """`(outputs, rows of the call that answered)` of `signature` on `arrays`."""
        import asyncio

        loop = asyncio.get_running_loop()
        rows = next(iter(arrays.values())).shape[0]
        future = loop.create_future()
        key = id(signature)  # the queue holds the signature: its id stays unique
        self._queues.setdefault(key, (signature, []))[1].append(
            _Task(arrays, rows, future, loop.time() + self.timeout))
        if not self._soon:
            # After the requests already received in this turn of the loop are queued.
            self._soon = True
            loop.call_soon(self._dispatch, loop, executor)
        return await future

    def _dispatch(self, loop, executor):
        """Starts every batch that is ready and has a free batch thread; sets timers."""
        self._soon = False
        now = loop.time()
        while len(self._running) < self.num_batch_threads:
            nobody_else = self.idle_connections is not None and self.idle_connections() <= 0
            ready = [key for key, (_, tasks) in self._queues.items()
                     if nobody_else or tasks[0].deadline <= now
                     or sum(t.rows for t in tasks) >= self.max_batch_size]
            if not ready:
                break
            key = min(ready, key=lambda k: self._queues[k][1][0].deadline)
            signature, tasks = self._queues[key]
            taken, total = [], 0
            for task in tasks:
                if taken and total + task.rows > self.max_batch_size:
                    break
                taken.append(task)
                total += task.rows
            del tasks[:len(taken)]
            if not tasks:
                del self._queues[key]
            self.batches += 1
            self.largest = max(self.largest, total)
            if self.on_batch is not None:
                self.on_batch(total)
            batch = loop.create_task(self._execute(loop, executor, signature, taken))
            self._running.add(batch)
        for key in list(self._timers):
            if key not in self._queues:
                self._timers.pop(key)[1].cancel()
        for key, (_, tasks) in self._queues.items():
            deadline = tasks[0].deadline
            if deadline <= now:  # waits for a batch thread; run when one is done
                continue
            timer = self._timers.get(key)
            if timer is None or timer[0] != deadline:
                if timer is not None:
                    timer[1].cancel()
                self._timers[key] = (deadline, loop.call_at(
                    deadline, self._on_timer, loop, executor, key))

    def _on_timer(self, loop, executor, key):
        self._timers.pop(key, None)
        self._dispatch(loop, executor)

    async def _execute(self, loop, executor, signature, tasks):
        import asyncio

        try:
            results = await loop.run_in_executor(executor, self._compute, signature,
                                                 [task.arrays for task in tasks])
        except asyncio.CancelledError:
            results = None
        except Exception as e:  # e.g. the executor is shut down
            results = [e] * len(tasks)
        finally:
            self._running.discard(asyncio.current_task())
        for i, task in enumerate(tasks):
            if task.future.done():  # the client went away
                continue
            if results is None:
                task.future.cancel()
            elif isinstance(results[i], BaseException):
                task.future.set_exception(results[i])
            else:
                task.future.set_result(results[i])
        if results is not None:
            self._dispatch(loop, executor)

    @staticmethod
    def _compute(signature, arrays_list):
        """In a batch thread: `(outputs, rows)` or the exception, per request."""
        def alone(arrays):
            try:
                return run_signature(signature, arrays), next(iter(arrays.values())).shape[0]
            except Exception as e:
                return e

        if len(arrays_list) == 1:
            return [alone(arrays_list[0])]
        sizes = [next(iter(arrays.values())).shape[0] for arrays in arrays_list]
        total = sum(sizes)
        try:
            merged = {key: np.concatenate([arrays[key] for arrays in arrays_list])
                      for key in arrays_list[0]}
            outputs = run_signature(signature, merged)
            if any(value.ndim < 1 or value.shape[0] != total for value in outputs.values()):
                raise RequestError(400, "outputs without a batch axis")
        except Exception:
            return [alone(arrays) for arrays in arrays_list]  # each its own error or result
        results, start = [], 0
        for rows in sizes:
            results.append(({key: value[start:start + rows] for key, value in outputs.items()},
                            total))
            start += rows
        return results
