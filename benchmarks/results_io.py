"""Atomic writing of benchmark results (JSON + Markdown) under benchmarks/results/."""

import json
import os
import tempfile

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def _atomic_write(path, text):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_results(name, results, markdown):
    """Writes `results/<name>.json` and `results/<name>.md` atomically."""
    _atomic_write(os.path.join(RESULTS_DIR, f"{name}.json"), json.dumps(results, indent=2) + "\n")
    _atomic_write(os.path.join(RESULTS_DIR, f"{name}.md"), markdown)
