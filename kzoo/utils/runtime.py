"""How TensorFlow runs the training step: oneDNN, thread pools, what is recorded of it.

TensorFlow's x86 Linux wheels carry oneDNN's CPU kernels but turn them on by
default only on CPUs with AVX-512 VNNI, BF16 or AMX; on other CPUs (the 2-core
AVX2 AMD EPYC hosts kzoo is measured on) convolutions fall back to Eigen's and
train about half as fast (`benchmarks/roofline.py`, docs/benchmarks/roofline.md).
The switch is the environment variable `TF_ENABLE_ONEDNN_OPTS`, read once when
TensorFlow loads. The `kzoo train`, `kzoo finetune` and `kzoo tune` commands set
it to 1 before TensorFlow loads unless it is already set (`TF_ENABLE_ONEDNN_OPTS=0
kzoo train ...` keeps Eigen's kernels); a library user's process is left alone,
and `kzoo.training.train` says how to turn it on when it is off.
"""

import os
import sys

#: The environment variable TensorFlow reads at load time.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
#: The commands whose process turns oneDNN on by default (their subprocesses inherit it).
TRAINING_COMMANDS = ("train", "finetune", "tune")


def prefer_onednn():
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` unless set, if TensorFlow is not loaded yet.

    Returns whether the setting can still take effect.
    """
    if "tensorflow" in sys.modules:
        return False
    os.environ.setdefault(ONEDNN_ENV, "1")
    return True


def onednn_enabled():
    """Whether this process's TensorFlow runs oneDNN's kernels."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def onednn_hint():
    """A sentence on turning oneDNN on, or None when it is on or the user chose it off."""
    if os.environ.get(ONEDNN_ENV) is not None or onednn_enabled():
        return None
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return (f"oneDNN's CPU kernels are off in this process: {ONEDNN_ENV}=1 in the environment "
            f"before TensorFlow is imported trains about 1.7-2x faster on CPUs without "
            f"AVX-512 (the kzoo command sets it)")


def describe(*, jit_compile=False):
    """The process's runtime choices, for `run.json`: oneDNN, thread pools and XLA."""
    import tensorflow as tf

    return {"onednn": onednn_enabled(), "onednn_env": os.environ.get(ONEDNN_ENV),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "cpu_count": os.cpu_count(), "jit_compile": bool(jit_compile)}
