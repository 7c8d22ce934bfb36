"""`kzoo tune --workers N`: KerasTuner's chief/worker protocol on this machine.

This process becomes the chief (`KERASTUNER_TUNER_ID=chief`): it serves the
oracle over gRPC on a free loopback port and trains nothing. It starts N
worker processes (`python -m kzoo.tuning.worker DIR`, which reads the search's
arguments from the chief's `DIR/run.json`; tuner ids `worker0` ... —
KerasTuner requires that a worker's id not contain "chief"),
one GPU each when the machine has several. A worker that dies mid-search (a
crash, a kill) is started again with the same id, so it takes its unfinished
trial back from the oracle and the search still completes; every trial runs
to completion exactly once. `workers.json` in the search directory lists the
worker processes.

On several machines, run the same `kzoo tune` command (without `--workers`)
on each, with a shared search directory and these variables:

    chief:   KERASTUNER_TUNER_ID=chief    KERASTUNER_ORACLE_IP=<chief ip> KERASTUNER_ORACLE_PORT=8000
    workers: KERASTUNER_TUNER_ID=worker1  KERASTUNER_ORACLE_IP=<chief ip> KERASTUNER_ORACLE_PORT=8000
"""

import _thread
import glob
import json
import os
import socket
import subprocess
import sys
import threading
import time

from kzoo.tuning.tuner import RECORD_FILE, say
from kzoo.utils import io, processes

WORKERS_FILE = "workers.json"
#: A worker that keeps dying is started again at most this many times.
MAX_RESTARTS = 3


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _gpus():
    try:
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - no TF devices: no GPUs
        return 0


class Workers:
    """N worker processes of one search, started again when one dies before the end."""

    def __init__(self, argv, count, output_dir, *, host, port, log_dir):
        self.argv, self.count, self.output_dir = list(argv), count, output_dir
        self.host, self.port, self.log_dir = host, port, log_dir
        self.procs, self.restarts, self.logs = {}, {}, {}
        self.done = threading.Event()
        self.failed = set()
        self.gpus = _gpus()
        self._lock = threading.Lock()

    def env(self, tuner_id, index):
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=self.host,
                   KERASTUNER_ORACLE_PORT=str(self.port))
        if self.gpus > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(index % self.gpus)
        return env

    def start(self, index):
        tuner_id = f"worker{index}"
        os.makedirs(self.log_dir, exist_ok=True)
        log = open(os.path.join(self.log_dir, f"{tuner_id}.log"), "ab")
        self.logs[tuner_id] = log
        self.procs[tuner_id] = subprocess.Popen(
            [sys.executable, "-m", "kzoo.tuning.worker", *self.argv],
            env=self.env(tuner_id, index), stdout=log, stderr=subprocess.STDOUT)
        self._write()

    def _write(self):
        io.write_json(os.path.join(self.output_dir, WORKERS_FILE), {
            "oracle": f"{self.host}:{self.port}",
            "workers": {t: {"pid": p.pid, "restarts": self.restarts.get(t, 0)}
                        for t, p in self.procs.items()}})

    def start_all(self):
        for i in range(self.count):
            self.start(i)
        threading.Thread(target=self._watch, daemon=True).start()

    def _progress(self):
        """The chief's progress line per finished trial (the workers' records)."""
        for path in sorted(glob.glob(os.path.join(self.output_dir, "stage*", "trial_*",
                                                  RECORD_FILE))):
            if path in self.seen:
                continue
            self.seen.add(path)
            try:
                with open(path) as f:
                    r = json.load(f)
            except (OSError, ValueError):
                self.seen.discard(path)
                continue
            result = (f"val_accuracy {r['val_accuracy']:.4f}" if r["val_accuracy"] is not None
                      else "no validation result")
            say(f"stage{r['stage']} trial {r['trial_id']} [{r['tuner_id']}]: "
                + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in r["values"].items())
                + f" -> {result}, {r['status']}, {r['seconds']:.0f} s")

    def _watch(self):
        self.seen = set(glob.glob(os.path.join(self.output_dir, "stage*", "trial_*",
                                               RECORD_FILE)))
        while not self.done.is_set():
            time.sleep(0.5)
            self._progress()
            with self._lock:
                for tuner_id, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None or code == 0 or self.done.is_set():
                        continue
                    n = self.restarts.get(tuner_id, 0)
                    if n >= MAX_RESTARTS:
                        self.failed.add(tuner_id)
                        if len(self.failed) == len(self.procs):
                            # The chief waits in KerasTuner's server loop: wake it up.
                            self.done.set()
                            _thread.interrupt_main()
                        continue
                    self.restarts[tuner_id] = n + 1
                    say(f"{tuner_id} ended with status {code}; starting it again "
                        f"({n + 1}/{MAX_RESTARTS}) to finish its trial")
                    self.start(int(tuner_id[len("worker"):]))

    def stop(self, timeout=60):
        """After the search: wait for the workers to exit, then end any that remain."""
        self.done.set()
        deadline = time.time() + timeout
        with self._lock:
            for proc in self.procs.values():
                try:
                    proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    processes.stop(proc, timeout=10)
            for log in self.logs.values():
                log.close()


def run_distributed(search_fn, worker_argv, workers, output_dir, *, host="127.0.0.1",
                    port=None):
    """Runs `search_fn()` as the chief with `workers` local worker processes."""
    port = port or free_port(host)
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP=host,
                      KERASTUNER_ORACLE_PORT=str(port))
    pool = Workers(worker_argv, workers, output_dir, host=host, port=port,
                   log_dir=os.path.join(output_dir, "logs", "workers"))
    say(f"chief serving the oracle on {host}:{port} to {workers} worker processes "
        f"(logs in {pool.log_dir})")
    started = []

    def before_stage():
        if not started:
            pool.start_all()
            started.append(True)

    try:
        return search_fn(before_stage)
    except KeyboardInterrupt:
        if pool.failed and len(pool.failed) == len(pool.procs):
            raise RuntimeError(
                f"Every worker failed {MAX_RESTARTS + 1} times; the search stopped. See "
                f"{pool.log_dir} for why; rerun the same command to resume.") from None
        raise
    finally:
        pool.stop()
        for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
            os.environ.pop(name, None)
