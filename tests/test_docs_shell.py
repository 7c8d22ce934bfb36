"""The documentation's shell blocks: every ```bash, ```sh, ```shell and ```console block of
README.md and docs/ runs as written, in a fresh shell, after the README's set-up
(`./scripts/run setup`, then `source .venv/bin/activate`).

How a block runs: `bash -eo pipefail -c BLOCK` (a console block: its `$ ` lines), in a
process of its own, with the environment a user has after the set-up (`.venv/bin` first on
PATH, VIRTUAL_ENV set, TF_CPP_MIN_LOG_LEVEL=3). Each block is self-contained: it needs only
the repository and what it creates itself, never another block. Its current directory is a
copy of the repository root (the tracked top-level entries as symbolic links, `saved_models/`
as a real copy of the shipped checkpoints) in a temporary folder, with HOME and
`$KZOO_SAVED_MODELS` there too, so what it writes (`runs/`, `saved_models/serving/`,
`kzoo publish`'s checkpoints) is thrown away; the test checks that `git status` of the
repository shows no new file, folder or deletion after the blocks. Blocks run two at a
time; those that use localhost:8501 one after another. Whatever a block leaves running in
the background (a `kzoo serve &` it forgot to kill) is killed with its process group.

Markers, on the line just before a block's fence:

- `<!-- heavy: takes N s -->`: the block runs in `./scripts/run test-heavy`
  (`pytest -m heavy`), not in the default run (the budget of the default run's blocks is
  about a minute);
- `<!-- no-run: REASON -->`: the block never runs (it sets up the environment, runs the test
  suite, takes many minutes, serves until stopped, or needs the internet, Docker or another
  machine). At least a third of the blocks (and at least MIN_RUNNABLE) must run.

Every block, marked or not, has its commands checked in the default run without running
them: each `kzoo ...` line is parsed by kzoo's own command-line parser (a wrong command,
option name or option value fails), each `./scripts/run X` names a job of scripts/run, each
`python -m benchmarks NAME` / `./scripts/run bench NAME` a benchmark, and each
`python path/to/script.py --flag` a script that exists and has that flag.
"""

import concurrent.futures
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time

import pytest

from test_docs import ROOT, fenced_blocks, markdown_files

SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
MARKER = re.compile(r"^\s*<!-- (no-run|heavy): (.+\S) -->\s*$")
BLOCK_TIMEOUT = 240
HEAVY_TIMEOUT = 1200
MIN_RUNNABLE = 14
REDIRECTIONS = {">", ">>", "<", "2>", "&>", "2>&1", ">&"}


def shell_blocks(path):
    """`(line, language, code, marker)` of each fenced shell block of a Markdown file (line:
    the 1-based line of its opening fence; marker: None, ("heavy", TEXT) or
    ("no-run", REASON)). A console block's code is its `$ ` lines, without the prompt."""
    blocks = []
    for line, language, body, previous in fenced_blocks(path):
        if language not in SHELL_LANGUAGES:
            continue
        marker = MARKER.match(previous)
        if language == "console":
            body = [text[2:] for text in body if text.startswith("$ ")]
        blocks.append((line, language, "\n".join(body) + "\n",
                       marker and (marker.group(1), marker.group(2))))
    return blocks


def all_shell_blocks():
    return {f"{os.path.relpath(path, ROOT)}:{line}": (code, marker)
            for path in markdown_files() for line, _, code, marker in shell_blocks(path)}


BLOCKS = all_shell_blocks()
RUNNABLE = {key: code for key, (code, marker) in BLOCKS.items()
            if marker is None or marker[0] == "heavy"}
HEAVY = {key for key, (code, marker) in BLOCKS.items() if marker and marker[0] == "heavy"}


def commands(code):
    """The simple commands of a shell block: lists of words, without leading `NAME=value`
    assignments, redirections and comments."""
    # A comment swallows its newline in shlex: each newline doubled keeps one as a separator.
    text = code.replace("\\\n", " ").replace("\n", "\n\n")
    lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    found, current, skip = [], [], False
    for token in lexer:
        if skip:
            skip = False
            continue
        if set(token) <= set("();|&\n"):  # ;, &, &&, |, ||, newlines, ( and )
            if current:
                found.append(current)
            current = []
        elif token in REDIRECTIONS:
            skip = True
        elif not current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            continue
        else:
            current.append(token)
    if current:
        found.append(current)
    return found


def scripts_run_jobs():
    """The jobs of scripts/run: the labels of its `case "$cmd" in` statement."""
    with open(os.path.join(ROOT, "scripts", "run"), encoding="utf-8") as f:
        text = f.read()
    body = text[text.index('case "$cmd" in'):]
    return {label for labels in re.findall(r"^\s*([\w|-]+)\)", body, re.M)
            for label in labels.split("|")}


def check_kzoo(args):
    """Parses `kzoo ARGS` with kzoo's click parser (no command runs): a click error names
    what is wrong."""
    import click

    from kzoo.cli.main import main

    if not args or args[0].startswith("-"):
        try:
            main.make_context("kzoo", list(args))
        except click.exceptions.Exit:
            pass
        return
    command = main.get_command(click.Context(main), args[0])
    if command is None:
        raise click.UsageError(f"no such command {args[0]!r}")
    try:
        command.make_context(args[0], list(args[1:]), parent=click.Context(main,
                                                                           info_name="kzoo"))
    except click.exceptions.Exit:  # --help
        pass


def check_benchmark(name):
    from benchmarks.__main__ import BENCHMARKS

    assert name in BENCHMARKS, f"no benchmark {name!r}; there are {BENCHMARKS}"


def check_script(args):
    """`python SCRIPT --flag ...`: SCRIPT exists in the repository and mentions each flag."""
    path = os.path.join(ROOT, args[0])
    assert os.path.isfile(path), f"{args[0]} does not exist"
    with open(path, encoding="utf-8") as f:
        source = f.read()
    for word in args[1:]:
        flag = word.split("=")[0]
        if flag.startswith("--"):
            assert re.search(rf"""["']{re.escape(flag)}["']""", source), (
                f"{args[0]} has no option {flag}")


def check_command(words):
    """Raises if a command of a block names a kzoo command, option or value, a scripts/run
    job, a benchmark or a script that does not exist."""
    program, args = words[0], words[1:]
    if program == "kzoo" or program.endswith("/kzoo"):
        check_kzoo(args)
    elif program in ("./scripts/run", "scripts/run"):
        assert args and args[0] in scripts_run_jobs(), (
            f"scripts/run has no job {args[:1]}; it has {sorted(scripts_run_jobs())}")
        if args[0] == "bench" and len(args) > 1 and not args[1].startswith("-"):
            check_benchmark(args[1])
    elif re.fullmatch(r"(.*/)?python(3(\.\d+)?)?", program) and args:
        if args[:2] == ["-m", "benchmarks"]:
            if len(args) > 2 and not args[2].startswith("-"):
                check_benchmark(args[2])
        elif args[0].endswith(".py"):
            check_script(args)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_shell_block_commands_parse(block):
    code, _ = BLOCKS[block]
    for words in commands(code):
        try:
            check_command(words)
        except Exception as e:  # noqa: BLE001 - the message is the report
            pytest.fail(f"{block}: `{shlex.join(words)}`: {type(e).__name__}: {e}")


def sandbox(tmp):
    """A throw-away copy of the repository root under `tmp`: its tracked top-level entries
    (and .venv) as symbolic links, saved_models/ as a real copy of its tracked files."""
    work = os.path.join(tmp, "kzoo")
    os.makedirs(work)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\n")
    tops = {path.split("/")[0] for path in tracked if path} | {".venv"}
    for top in sorted(tops):
        if top == "saved_models":
            os.makedirs(os.path.join(work, top))
            for path in tracked:
                if path.startswith("saved_models/"):
                    target = os.path.join(work, path)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy2(os.path.join(ROOT, path), target)
        elif os.path.lexists(os.path.join(ROOT, top)):
            os.symlink(os.path.join(ROOT, top), os.path.join(work, top))
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    return work, home


def block_environment(work, home):
    """The environment after `./scripts/run setup` and `source .venv/bin/activate`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "KZOO_", "VIRTUAL_ENV", "PYTHON"))}
    venv = os.path.join(ROOT, ".venv")
    env.update(PATH=os.path.join(venv, "bin") + os.pathsep + env.get("PATH", ""),
               VIRTUAL_ENV=venv, HOME=home, TF_CPP_MIN_LOG_LEVEL="3",
               KZOO_SAVED_MODELS=os.path.join(work, "saved_models"))
    return env


def run_shell_block(code, tmp, timeout):
    """`(exit code or None on a timeout, output, seconds)` of one block, run in a sandbox
    under `tmp`; whatever it leaves running is killed."""
    work, home = sandbox(tmp)
    log_path = os.path.join(tmp, "block.log")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["bash", "-eo", "pipefail", "-c", code], cwd=work,
                                   env=block_environment(work, home), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return returncode, f.read(), time.monotonic() - started


def repository_state():
    """`git status` of the repository, ignored files and folders included (but not caches).
    Run the test with nobody else editing the working tree: their edits count too."""
    done = subprocess.run(["git", "status", "--porcelain", "--ignored=matching",
                           "--untracked-files=all"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted(line for line in done.stdout.splitlines()
                  if "__pycache__" not in line and ".pytest_cache" not in line)


@pytest.fixture(scope="session")
def shell_results(request, tmp_path_factory):
    """Runs the selected blocks two at a time (those using port 8501 one at a time), and
    `git status` before and after."""
    selected = [item.callspec.params["block"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_shell_block_runs"]
    before = repository_state()
    port = threading.Lock()

    def run(i, key):
        code = RUNNABLE[key]
        tmp = str(tmp_path_factory.mktemp(f"shell{i}"))
        timeout = HEAVY_TIMEOUT if key in HEAVY else BLOCK_TIMEOUT
        if "8501" in code or "kzoo serve" in code:
            with port:
                return run_shell_block(code, tmp, timeout)
        return run_shell_block(code, tmp, timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run, i, key) for i, key in enumerate(selected)}
        results = {key: future.result() for key, future in futures.items()}
    return results, before, repository_state()


# The first selected block's set-up runs them all: in the heavy run, well past the 900 s
# default of pytest-timeout.
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("block", [
    pytest.param(key, marks=pytest.mark.heavy) if key in HEAVY else key
    for key in sorted(RUNNABLE)])
def test_shell_block_runs(block, shell_results):
    returncode, output, seconds = shell_results[0][block]
    limit = HEAVY_TIMEOUT if block in HEAVY else BLOCK_TIMEOUT
    if returncode is None:
        pytest.fail(f"{block}: the block did not finish in {limit} s\n{output[-3000:]}")
    assert returncode == 0, (f"{block}: the block failed (exit {returncode}, {seconds:.0f} s)\n"
                             f"{output[-3000:]}")
    test_shell_blocks_leave_the_repository_as_it_was(shell_results)


def test_shell_blocks_leave_the_repository_as_it_was(shell_results):
    # What a block could leave behind: new untracked or ignored files and folders, or a
    # tracked file deleted. (Tracked files edited meanwhile are someone's work in progress:
    # the blocks reach the repository only through the sandbox's links, and write new files.)
    _, before, after = shell_results
    left = sorted(line for line in set(after) - set(before)
                  if line.startswith(("??", "!!")) or "D" in line[:2])
    assert not left, f"the blocks changed the repository (git status): {left}"


def test_every_no_run_block_says_why_and_few_are_unchecked():
    assert len(BLOCKS) >= 20
    for key, (code, marker) in BLOCKS.items():
        if marker:
            assert marker[0] == "heavy" or marker[1].strip(), key
    assert len(RUNNABLE) >= MIN_RUNNABLE and len(RUNNABLE) * 3 >= len(BLOCKS), (
        f"only {len(RUNNABLE)} of {len(BLOCKS)} shell blocks run (at least {MIN_RUNNABLE} and "
        "a third must)")


def test_shell_block_parser_reads_fences_markers_and_console_prompts(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "text", "```bash", "echo 1", "```", "",
        "<!-- no-run: needs the internet -->", "", "```sh", "curl example.org", "```",
        "```python", "print(1)", "```",
        "<!-- heavy: takes 90 s -->", "```console", "$ kzoo list", "lenet", "$ ls", "```",
        "- item", "    ```shell", "    echo 2", "    ```",
    ]) + "\n")
    assert shell_blocks(str(page)) == [
        (2, "bash", "echo 1\n", None),
        (8, "sh", "curl example.org\n", ("no-run", "needs the internet")),
        (15, "console", "kzoo list\nls\n", ("heavy", "takes 90 s")),
        (21, "shell", "echo 2\n", None),
    ]


def test_commands_are_split_as_the_shell_does():
    code = ("A=1 B='x y' kzoo train lenet \\\n    --epochs 2  # a comment\n"
            "kzoo serve s & curl -s localhost | grep x > out.txt; kill %1\n"
            "TF_CONFIG='{\"a\":\n 1}' \\\n  kzoo tune lenet\n")
    assert commands(code) == [["kzoo", "train", "lenet", "--epochs", "2"], ["kzoo", "serve", "s"],
                              ["curl", "-s", "localhost"], ["grep", "x"], ["kill", "%1"],
                              ["kzoo", "tune", "lenet"]]


@pytest.mark.parametrize("words, error", [
    (["kzoo", "train", "lenet", "--epoch", "2"], "No such option"),
    (["kzoo", "trian", "lenet"], "no such command"),
    (["kzoo", "train", "lenet", "--epochs", "two"], "not a valid integer"),
    (["kzoo", "export", "lenet_fashion_mnist"], "Missing"),
    (["./scripts/run", "benchmark"], "no job"),
    (["./scripts/run", "bench", "nope"], "no benchmark"),
    (["python", "-m", "benchmarks", "nope"], "no benchmark"),
    (["python", "applications/no_such_script.py"], "does not exist"),
])
def test_command_check_catches_wrong_names(words, error):
    with pytest.raises(Exception, match=error):
        check_command(words)


def test_command_check_accepts_right_ones():
    for words in (["kzoo", "train", "lenet", "--epochs", "2", "--schedule", "cosine"],
                  ["kzoo", "--help"], ["kzoo", "serve", "--help"],
                  ["./scripts/run", "bench", "speed", "--help"], ["tensorboard", "--x"]):
        check_command(words)


def test_run_shell_block_reports_failure_and_kills_what_is_left(tmp_path):
    code = "sleep 300 &\necho started\nfalse\necho never\n"
    returncode, output, seconds = run_shell_block(code, str(tmp_path), 60)
    assert returncode == 1 and "started" in output and "never" not in output
    assert seconds < 30
