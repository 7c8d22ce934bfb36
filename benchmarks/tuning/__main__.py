"""`python -m benchmarks.tuning`: the same as `python -m benchmarks tuning` (and the replica
workers' entry point)."""

from benchmarks.tuning.cli import main

main()
