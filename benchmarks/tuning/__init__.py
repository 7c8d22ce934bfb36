"""The tuning benchmark, `python -m benchmarks tuning` (the two parts: `cli`).

- `processes`: the log line, the logged subprocesses and their JSON-lines records;
- `searches`: each method's `kzoo tune` command, run or resumed, and its trial records;
- `budget`: the CPU-budget accounting, the verdict, and the winners retrained;
- `replicas`: steps per second of the default and mirrored strategies, a process per run;
- `report`: the Markdown report and the plot, and the docs page's tables (`docs_markdown`);
- `cli`: the flags and settings, and the order it all runs in.
"""

from benchmarks.tuning.cli import main
from benchmarks.tuning.report import docs_markdown

__all__ = ["docs_markdown", "main"]
