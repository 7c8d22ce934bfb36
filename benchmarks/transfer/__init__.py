"""The transfer benchmark, `python -m benchmarks transfer` (the protocols: `cli`).

- `cells`: the plan and the cache of cells, one JSON file per result;
- `base`: the split protocol's base, trained on Fashion-MNIST classes 0–4;
- `runs`: the target data and the cells of one (model, protocol, N, seed);
- `probe`: the feature probe of the split bases;
- `verdicts`: rows over seeds and the verdicts computed from them;
- `report`: the Markdown report and the plot, and the docs page's tables (`docs_markdown`);
- `cli`: the flags and settings, and the order it all runs in.
"""

from benchmarks.transfer.cli import main
from benchmarks.transfer.report import docs_markdown

__all__ = ["docs_markdown", "main"]
