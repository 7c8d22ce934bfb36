"""Writing benchmark results (JSON + Markdown) under benchmarks/results/, atomically, and
reading them back for the documentation's benchmark pages."""

import json
import os
import platform
import re

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def write_results(name, results, markdown, results_dir=RESULTS_DIR):
    """Writes `<results_dir>/<name>.json` and `.md` atomically (`results/` by default)."""
    from kzoo.utils import io  # imports TensorFlow (through kzoo): only when writing

    os.makedirs(results_dir, exist_ok=True)
    io.write_json(os.path.join(results_dir, f"{name}.json"), results)
    io.write_text(os.path.join(results_dir, f"{name}.md"), markdown)


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


# --------------------------------------------------------------------------- #
# The documentation's benchmark pages (scripts/mkdocs_hooks.py calls each benchmark's
# `docs_markdown()`, which renders its results files with its own report code).
# --------------------------------------------------------------------------- #

_IMAGE = re.compile(r"^!\[[^\]]*\]\([^)\s]+\)\s*$")
_HEADING = re.compile(r"^(#{1,6})(\s)")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def read_results(name, results_dir=RESULTS_DIR):
    """The parsed `results/<name>.json`."""
    with open(os.path.join(results_dir, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def for_docs(markdown, top_level=3):
    """A report's Markdown made a section of a docs page: image lines dropped (a report
    links its plot beside its own file; the page shows it from the site's copy), and
    headings shifted so that the shallowest is `top_level` (below the page's own)."""
    lines = [line for line in markdown.splitlines() if not _IMAGE.match(line)]
    fenced, levels = False, []
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            levels.append(len(_HEADING.match(line).group(1)))
    shift = top_level - min(levels) if levels else 0
    out, fenced = [], False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            level = min(6, len(_HEADING.match(line).group(1)) + shift)
            line = "#" * level + line.lstrip("#")
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def machine_note(m):
    """A line for a docs page under a results file that predates the CPU's recording
    (`machine` without `cpu`): which CPU ran it is not known; "" when it is named."""
    if m.get("cpu"):
        return ""
    return (f"Which CPU ran these numbers is not recorded: the results file predates that "
            f"record and names only the count ({m.get('cpus')} CPUs).\n")
