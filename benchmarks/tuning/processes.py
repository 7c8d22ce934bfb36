"""The benchmark's subprocesses and their records: the log line, logged runs, JSON lines."""

import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(message):
    print(f"[tuning bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def subprocess_env():
    """The environment of every subprocess: quiet TensorFlow, the repository importable."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_logged(argv, log_path):
    """Runs `argv` with its output appended to `log_path`; returns (returncode, seconds)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.time()
    with open(log_path, "a") as out:
        out.write(f"\n$ {shlex.join(argv)}\n")
        out.flush()
        code = subprocess.call(argv, cwd=ROOT, env=subprocess_env(), stdout=out,
                               stderr=subprocess.STDOUT)
    return code, time.time() - start


def append_json_line(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_json_lines(path):
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
