"""`python -m benchmarks [NAME] [args]`: run one benchmark, or all of them."""

import importlib
import os
import sys

BENCHMARKS = ["im2col_speed", "fashion_mnist_accuracy", "transfer", "serving", "export", "tuning",
              "speed", "roofline", "train_speed"]

#: The benchmarks of training, run with the training commands' runtime defaults.
TRAINING_BENCHMARKS = {"im2col_speed", "fashion_mnist_accuracy", "transfer", "tuning", "speed",
                       "roofline", "train_speed"}


def main():
    argv = sys.argv[1:]
    names = BENCHMARKS
    if argv and not argv[0].startswith("-"):
        if argv[0] not in BENCHMARKS:
            sys.exit(f"benchmarks: unknown benchmark {argv[0]!r}; expected one of {BENCHMARKS}")
        names, argv = [argv[0]], argv[1:]
    if set(names) <= TRAINING_BENCHMARKS:
        # As `kzoo train` runs (kzoo.utils.runtime): TensorFlow's oneDNN kernels on unless
        # the environment says otherwise; set before anything imports TensorFlow.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    for name in names:
        importlib.import_module(f"benchmarks.{name}").main(argv)


if __name__ == "__main__":
    main()
