"""The documentation: the site builds with `mkdocs build --strict`, the API reference renders
every public name, the model table lists every registered model, README.md stays short, and
every ```python block of README.md and docs/ runs as written from the repository root: as a
program of its own (empty globals, its own process, `python -c`'s argv and path), forked from a
server that has imported kzoo once, so 50-odd blocks do not pay TensorFlow's import 50 times.

A block that cannot run here (it needs the internet or a GPU) is marked by the line
`<!-- no-run: REASON -->` just before its fence; at most a tenth of the blocks may be.
"""

import concurrent.futures
import glob
import html
import importlib
import importlib.util
import multiprocessing
import os
import re
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_PACKAGES = ["layers", "models", "transfer", "serving", "tuning", "distribute", "data",
                "training", "optimizers", "initializers", "callbacks"]
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)")
NO_RUN = re.compile(r"^\s*<!-- no-run: (.+\S) -->\s*$")
BLOCK_TIMEOUT = 240
MIN_RUNNABLE = 15


def markdown_files():
    files = [os.path.join(ROOT, "README.md")]
    files += sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    return files


def fenced_blocks(path):
    """`(line, language, body lines, previous non-blank line)` of each fenced block of a
    Markdown file (line: the 1-based line of its opening fence; the body unindented by the
    fence's indentation)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = opening.groups()
        end = i + 1
        while end < len(lines) and not re.match(
                rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                for line in lines[i + 1:end]]
        blocks.append((i + 1, language, body, previous))
        i = end + 1
    return blocks


def python_blocks(path):
    """`(line, code, no_run_reason)` of each fenced ```python block of a Markdown file
    (line: the 1-based line of its opening fence)."""
    blocks = []
    for line, language, body, previous in fenced_blocks(path):
        if language in ("python", "py"):
            reason = NO_RUN.match(previous)
            blocks.append((line, "\n".join(body) + "\n", reason and reason.group(1)))
    return blocks


def all_blocks():
    return [(os.path.relpath(path, ROOT), line, code, reason)
            for path in markdown_files() for line, code, reason in python_blocks(path)]


BLOCKS = all_blocks()
RUNNABLE = {f"{path}:{line}": code for path, line, code, reason in BLOCKS if reason is None}


def _exec_block(code, log_path):
    """A block as the program `python -c CODE` would run it, in a process of its own forked
    from a server that has already imported kzoo (so TensorFlow's import is paid once, not
    once per block; the block's own `import` lines still run, and a name it forgets to
    import is still a NameError: it starts from empty globals)."""
    import traceback

    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(ROOT)
    sys.argv = ["-c"]
    sys.path[0:0] = [""]
    try:
        exec(compile(code, "<block>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_block(context, code, log_path):
    """`(exit code or None on a timeout, output, seconds)` of one block."""
    started = time.monotonic()
    process = context.Process(target=_exec_block, args=(code, log_path))
    process.start()
    process.join(BLOCK_TIMEOUT)
    if process.exitcode is None:
        process.kill()
        process.join()
        returncode = None
    else:
        returncode = process.exitcode
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return returncode, f.read(), time.monotonic() - started


def block_context():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["kzoo"])
    return context


@pytest.fixture(scope="session")
def block_results(request, tmp_path_factory):
    """Runs the selected blocks two at a time, each in a process of its own forked from a
    server that imported kzoo (and with it TensorFlow and Keras) beforehand."""
    selected = [item.callspec.params["block"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_python_block_runs"]
    logs = tmp_path_factory.mktemp("blocks")
    context = block_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run_block, context, RUNNABLE[key], str(logs / f"{i}.log"))
                   for i, key in enumerate(selected)}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("block", sorted(RUNNABLE))
def test_python_block_runs(block, block_results):
    returncode, output, seconds = block_results[block]
    if returncode is None:
        pytest.fail(f"{block}: the block did not finish in {BLOCK_TIMEOUT} s\n{output[-3000:]}")
    assert returncode == 0, f"{block}: the block failed (exit {returncode})\n{output[-3000:]}"


@pytest.mark.parametrize("code, returncode, output", [
    ("import numpy as np\nprint('sum', np.arange(4).sum())\n", 0, "sum 6"),
    ("print(kzoo.__version__)\n", 1, "NameError: name 'kzoo' is not defined"),
    ("import sys\nprint('leaving')\nsys.exit(3)\n", 3, "leaving"),
    ("import os\nprint(os.getcwd())\n", 0, ROOT),
    ("import kzoo\nkzoo.create_model('no such model')\n", 1, "ValueError"),
])
def test_block_runner_reports_what_a_fresh_program_would(tmp_path, code, returncode, output):
    # The runner forks blocks from a server that imported kzoo: a block still gets nothing it
    # does not import, its exit status and its output.
    got, text, _ = run_block(block_context(), code, str(tmp_path / "block.log"))
    assert got == returncode and output in text, text


def test_enough_blocks_run_and_few_are_marked():
    marked = [f"{path}:{line} ({reason})" for path, line, code, reason in BLOCKS if reason]
    assert len(RUNNABLE) >= MIN_RUNNABLE, (
        f"expected at least {MIN_RUNNABLE} runnable ```python blocks in README.md and docs/, "
        f"found {len(RUNNABLE)}")
    assert len(marked) * 10 <= len(BLOCKS), (
        f"at most a tenth of the ```python blocks may be marked no-run; {len(marked)} of "
        f"{len(BLOCKS)} are: {marked}")


def test_block_parser_reads_fences_markers_and_indentation(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "text", "```python", "print(1)", "```", "",
        "<!-- no-run: needs the internet -->", "", "```python", "download()", "```",
        "```bash", "echo no", "```",
        "- item", "    ```python", "    x = 1", "    ```",
        "````python", "```", "print('nested fence')", "````",
    ]) + "\n")
    assert python_blocks(str(page)) == [
        (2, "print(1)\n", None),
        (8, "download()\n", "needs the internet"),
        (15, "x = 1\n", None),
        (18, "```\nprint('nested fence')\n", None),
    ]


def test_readme_fits_on_a_screen():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        count = len(f.read().splitlines())
    assert count <= 300, f"README.md has {count} lines; it must stay at most 300"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once with `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    warnings = [line for line in (done.stdout + done.stderr).splitlines()
                if line.startswith(("WARNING", "ERROR"))]
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        warnings or (done.stdout + done.stderr).splitlines()[-40:])
    return out


def page_text(site, page):
    with open(os.path.join(site, page, "index.html"), encoding="utf-8") as f:
        return html.unescape(f.read())


@pytest.mark.parametrize("package", API_PACKAGES)
def test_api_reference_renders_every_public_name(site, package):
    module = importlib.import_module(f"kzoo.{package}")
    text = page_text(site, os.path.join("api", package))
    missing = [name for name in module.__all__ if f'id="kzoo.{package}.{name}"' not in text]
    assert not missing, f"api/{package}.md does not render {missing}"


def test_model_table_lists_every_registered_model(site):
    import kzoo

    from kzoo.models import registry

    text = page_text(site, "models")
    missing = [name for name in kzoo.list_models() if f"<code>{name}</code>" not in text]
    assert not missing, f"the model table misses {missing}"
    # The published ImageNet top-1 column: the registry's number in each model's row, or —.
    assert "ImageNet top-1 (<code>imagenet</code>, published)" in text
    for name in kzoo.list_models():
        row = re.search(rf"<tr>\s*<td><code>{name}</code></td>(.*?)</tr>", text, re.S).group(1)
        top1 = registry.get_entry(name).top1
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[5] == ("—" if top1 is None else f"{top1:.1f}%"), (name, cells)


def _hooks():
    spec = importlib.util.spec_from_file_location(
        "kzoo_mkdocs_hooks", os.path.join(ROOT, "scripts", "mkdocs_hooks.py"))
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_model_counts_file_has_every_model_at_its_default_input():
    """docs/model_counts.json (the table's parameters and FLOPs, counted once) names every
    registered model at its current default input, and agrees with fresh counts of a few
    cheap ones; the heavy test below recounts them all."""
    import kzoo
    from kzoo.models.registry import get_entry

    hooks = _hooks()
    counts = hooks.read_counts()
    stale = [name for name in kzoo.list_models() if name not in counts
             or counts[name]["input"] != hooks._input_key(get_entry(name).default_input_shape)]
    assert not stale, (f"docs/model_counts.json lacks {stale}: run "
                       "`python scripts/mkdocs_hooks.py --refresh-counts`")
    for name in ("lenet", "mobilenet_v3_small", "efficientnet_b0"):
        assert counts[name] == hooks.fresh_counts(name)


@pytest.mark.heavy
def test_model_counts_file_equals_fresh_counts_of_every_model():
    import kzoo

    hooks = _hooks()
    counts = hooks.read_counts()
    for name in kzoo.list_models():
        assert counts[name] == hooks.fresh_counts(name), name


def test_unknown_marker_stops_the_build():
    hooks = _hooks()

    class Page:
        class file:
            src_path = "x.md"

    with pytest.raises(ValueError, match="unknown kzoo marker"):
        hooks.on_page_markdown("<!-- kzoo:benchmark nonsense -->\n", Page, None, None)
    assert hooks.on_page_markdown("plain <!-- kzoo:nothing --> text\n", Page, None, None) == (
        "plain <!-- kzoo:nothing --> text\n")
