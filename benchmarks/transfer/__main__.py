"""`python -m benchmarks.transfer`: the same as `python -m benchmarks transfer`."""

from benchmarks.transfer.cli import main

main()
