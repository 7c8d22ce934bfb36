"""Atomic writes: a crash or a kill never leaves a half-written file behind.

Each writer writes to a temporary file in the destination's folder and moves
it into place with `os.replace`, which is atomic on POSIX file systems.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile

#: The names `atomic_path` gives its temporary files (`tempfile.mkstemp`: ".tmp-", 8
#: characters, the destination's suffix).
TMP_FILE = re.compile(r"\.tmp-[a-z0-9_]{8}(\.[A-Za-z0-9_.]+)?")


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path`; on success it replaces `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        if os.path.isfile(tmp):
            # mkstemp makes 0600 files; give the usual permissions (umask applied).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.unlink(tmp)


def remove_temporary_files(folder):
    """Removes the temporary files of `atomic_path` left in `folder` and below by a write
    that a kill stopped (never read: only the final name is). Call it only where no other
    process is writing."""
    for root, _, names in os.walk(folder):
        for name in names:
            if TMP_FILE.fullmatch(name):
                try:
                    os.remove(os.path.join(root, name))
                except OSError:
                    pass


def write_text(path, text):
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def write_json(path, obj):
    """Writes `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def save_model(model, path):
    """`model.save(path)` (a `.keras` file) atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def sha256(path, chunk=1 << 20):
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def nearest_existing_parent(path):
    """The closest path above `path` that exists (it may be a file: callers refuse that)."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent
