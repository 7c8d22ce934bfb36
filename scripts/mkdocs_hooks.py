"""MkDocs hooks (mkdocs.yml `hooks:`): the docs' generated content, made at build time.

A page asks for generated Markdown with a marker line of its own:

    <!-- kzoo:models -->                  the model table, from kzoo's registry
    <!-- kzoo:benchmark NAME -->          a benchmark's tables, from benchmarks/results/,
                                          by that benchmark's own report code

so the model table cannot drift from the registry, nor a benchmark page from its
results files. An unknown marker stops the build.
"""

import importlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r"^<!-- kzoo:(\S+)(?: (\S+))? -->$", re.M)


# The benchmarks that have a page (benchmarks/__main__.py runs the same list).
BENCHMARKS = ("im2col_speed", "speed", "fashion_mnist_accuracy", "transfer", "serving", "tuning")


def _count(n):
    return f"{n:,}"


def _flops(n):
    return f"{n / 1e9:.2f} G" if n >= 1e8 else f"{n / 1e6:.1f} M"


def model_table():
    """Every registered model, one section per family (its heading is the family's name, so
    `models.md#resnet` links to it): parameters and FLOPs at the model's defaults (counted by
    building it), default input shape, minimum size, weights and paper."""
    import kzoo

    families = {}
    for name in kzoo.list_models():
        info = kzoo.model_info(name)
        families.setdefault(info["family"], []).append(info)
    out = []
    for family in sorted(families):
        out += [f"## {family}", "",
                "| model | parameters | FLOPs | default input | min size | weights | paper |",
                "|---|---:|---:|---|---|---|---|"]
        for info in families[family]:
            shape = "×".join(str(d) for d in info["default_input_shape"])
            weights = ", ".join(f"`{w}`" for w in info["weights"]) or "—"
            out.append(f"| `{info['name']}` | {_count(info['params'])} "
                       f"| {_flops(info['flops'])} | {shape} | {info['min_input_size']} "
                       f"| {weights} | {info['reference'] or '—'} |")
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
