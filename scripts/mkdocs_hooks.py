"""MkDocs hooks (mkdocs.yml `hooks:`): the docs' generated content, made at build time.

A page asks for generated Markdown with a marker line of its own:

    <!-- kzoo:models -->                  the model table, from kzoo's registry
    <!-- kzoo:benchmark NAME -->          a benchmark's tables, from benchmarks/results/,
                                          by that benchmark's own report code

so the model table cannot drift from the registry, nor a benchmark page from its
results files. An unknown marker stops the build.

Counting a model's parameters and FLOPs means building it, which takes minutes for
the whole zoo: the counts are kept in `docs/model_counts.json`, keyed by model and
default input shape. A model missing there (or whose default input changed) is
built and counted at build time, with a note to refresh the file:

    .venv/bin/python scripts/mkdocs_hooks.py --refresh-counts

A heavy test checks the file against fresh counts of every model.
"""

import importlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r"^<!-- kzoo:(\S+)(?: (\S+))? -->$", re.M)
COUNTS = os.path.join(ROOT, "docs", "model_counts.json")


# The benchmarks that have a page (benchmarks/__main__.py runs the same list).
BENCHMARKS = ("im2col_speed", "speed", "fashion_mnist_accuracy", "transfer", "serving", "export",
              "tuning", "roofline", "train_speed")


def _count(n):
    return f"{n:,}"


def _flops(n):
    return f"{n / 1e9:.2f} G" if n >= 1e8 else f"{n / 1e6:.1f} M"


def _top1(value):
    return "—" if value is None else f"{value:.1f}%"


def _input_key(shape):
    return "x".join(str(d) for d in shape)


def read_counts(path=COUNTS):
    """{model: {"input": "224x224x3", "params": int, "flops": int}} from `path` ({} if none)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def fresh_counts(name):
    """A model's entry for `docs/model_counts.json`, counted by building it (model_info)."""
    import kzoo

    info = kzoo.model_info(name)
    return {"input": _input_key(info["default_input_shape"]), "params": info["params"],
            "flops": info["flops"]}


def model_counts(path=COUNTS):
    """Parameters and FLOPs of every registered model: from `path` where it has the model at
    its current default input, else counted now (and named on stderr)."""
    import kzoo
    from kzoo.models.registry import get_entry

    cached = read_counts(path)
    counts, stale = {}, []
    for name in kzoo.list_models():
        entry = cached.get(name)
        if entry is None or entry["input"] != _input_key(get_entry(name).default_input_shape):
            entry = fresh_counts(name)
            stale.append(name)
        counts[name] = entry
    if stale:
        print(f"kzoo docs: counted {stale} now; refresh {os.path.relpath(path, ROOT)} with "
              "`python scripts/mkdocs_hooks.py --refresh-counts`", file=sys.stderr)
    return counts


def refresh_counts(path=COUNTS):
    """Counts every registered model afresh and writes `path` (atomically)."""
    import kzoo
    from kzoo.utils.io import write_text

    counts = {}
    for name in kzoo.list_models():
        counts[name] = fresh_counts(name)
        print(f"{name}: {counts[name]['params']:,} parameters", flush=True)
    write_text(path, json.dumps(counts, indent=1, sort_keys=True) + "\n")
    return counts


def model_table():
    """Every registered model, one section per family (its heading is the family's name, so
    `models.md#resnet` links to it): parameters and FLOPs at the model's defaults (counted by
    building it), default input shape, minimum size, weights, the published ImageNet top-1 of
    its `imagenet` weights (keras.applications' table; — without them) and paper."""
    import kzoo
    from kzoo.models import pretrained
    from kzoo.models.registry import get_entry

    counts = model_counts()
    families = {}
    for name in kzoo.list_models():
        entry = get_entry(name)
        info = {"name": name, "default_input_shape": entry.default_input_shape,
                "min_input_size": entry.min_input_size, "reference": entry.reference,
                "weights": list(entry.weights) + pretrained.tags(name),
                "imagenet_top1": entry.top1, **counts[name]}
        families.setdefault(entry.family, []).append(info)
    out = []
    for family in sorted(families):
        out += [f"## {family}", "",
                "| model | parameters | FLOPs | default input | min size | weights "
                "| ImageNet top-1 (`imagenet`, published) | paper |",
                "|---|---:|---:|---|---|---|---:|---|"]
        for info in families[family]:
            shape = "×".join(str(d) for d in info["default_input_shape"])
            weights = ", ".join(f"`{w}`" for w in info["weights"]) or "—"
            out.append(f"| `{info['name']}` | {_count(info['params'])} "
                       f"| {_flops(info['flops'])} | {shape} | {info['min_input_size']} "
                       f"| {weights} | {_top1(info['imagenet_top1'])} "
                       f"| {info['reference'] or '—'} |")
        out.append("")
    return "\n".join(out)


def on_config(config):
    # The hook runs inside mkdocs: make the repository's packages (kzoo, benchmarks) importable.
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return config


def on_files(files, config):
    # The benchmarks' plots live beside their results (benchmarks/results/*.png, outside
    # docs_dir): the site gets each as benchmarks/results/NAME.png, so a benchmark page shows
    # it as ![...](results/NAME.png), and the strict build fails on a plot that is missing.
    from mkdocs.structure.files import File

    results = os.path.join(ROOT, "benchmarks", "results")
    for name in sorted(os.listdir(results)):
        if name.endswith(".png"):
            files.append(File.generated(config, f"benchmarks/results/{name}",
                                        abs_src_path=os.path.join(results, name)))
    return files


def on_page_markdown(markdown, page, config, files):
    def generate(match):
        kind, arg = match.group(1), match.group(2)
        if kind == "models" and arg is None:
            return model_table()
        if kind == "benchmark" and arg in BENCHMARKS:
            return importlib.import_module(f"benchmarks.{arg}").docs_markdown()
        raise ValueError(f"{page.file.src_path}: unknown kzoo marker {match.group(0)!r}; "
                         "expected <!-- kzoo:models --> or <!-- kzoo:benchmark NAME -->")

    return MARKER.sub(generate, markdown)


if __name__ == "__main__":
    if sys.argv[1:] != ["--refresh-counts"]:
        sys.exit("usage: python scripts/mkdocs_hooks.py --refresh-counts")
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    refresh_counts()
