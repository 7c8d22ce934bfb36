"""Writing benchmark results (JSON + Markdown) under benchmarks/results/, atomically."""

import os

from kzoo.utils import io

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def write_results(name, results, markdown):
    """Writes `results/<name>.json` and `results/<name>.md` atomically."""
    io.write_json(os.path.join(RESULTS_DIR, f"{name}.json"), results)
    io.write_text(os.path.join(RESULTS_DIR, f"{name}.md"), markdown)
