"""kzoo benchmarks: speed and accuracy numbers that depend on time.

Run `./scripts/run bench [NAME]`; results go to `benchmarks/results/` and the
docs pages (docs/benchmarks/) show them, generated from those files.
"""
