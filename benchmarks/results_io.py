"""Writing benchmark results (JSON + Markdown) under benchmarks/results/, atomically."""

import os
import platform
import re

from kzoo.utils import io

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def write_results(name, results, markdown):
    """Writes `results/<name>.json` and `results/<name>.md` atomically."""
    io.write_json(os.path.join(RESULTS_DIR, f"{name}.json"), results)
    io.write_text(os.path.join(RESULTS_DIR, f"{name}.md"), markdown)


# The vector extensions that decide how fast TensorFlow's CPU kernels run here.
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def cpu_model():
    """`(model name, [vector extensions])` of this machine's CPU, read from Linux's
    /proc/cpuinfo (`platform.processor()` and `[]` elsewhere).

    Benchmark rows depend on the CPU more than on anything else: the same 2-core
    machine has come up on different hosts (an AMD EPYC with AVX2 only, an Intel
    Xeon with AVX-512 and AMX), so every results file records which one ran it.
    """
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown", []
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    present = set(flags.group(1).split()) if flags else set()
    return (name.group(1).strip() if name else platform.processor() or "unknown",
            [flag for flag in _ISA_FLAGS if flag in present])


def machine(**extra):
    """The `machine` entry of a results file: CPU count and model, its vector
    extensions, Python and TensorFlow versions, and `extra` (e.g. library versions)."""
    import tensorflow as tf

    name, isa = cpu_model()
    return {"cpus": os.cpu_count(), "cpu": name, "isa": isa,
            "python": platform.python_version(), "tensorflow": tf.__version__, **extra}


def machine_text(m):
    """One line for a results file's Markdown, e.g. `2 CPUs (Intel(R) Xeon(R) Processor;
    AVX2 FMA AVX512F)`, or `2 CPUs` for a results file written before the CPU was recorded."""
    cpu = m.get("cpu")
    if not cpu:
        return f"{m.get('cpus')} CPUs"
    isa = " ".join(flag.upper() for flag in m.get("isa", []))
    return f"{m.get('cpus')} CPUs ({cpu}{'; ' + isa if isa else ''})"
