"""Importing TensorFlow without its C++ start-up log, for the `kzoo` command.

TensorFlow 2.21 writes a few lines straight to file descriptor 2 while its
shared libraries load, before absl's logging is set up (`WARNING: All log
messages before absl::InitializeLog() ...`, the oneDNN and "Could not find
cuda drivers" `I0000` lines, twice: two libraries carry their own absl).
`TF_CPP_MIN_LOG_LEVEL` cannot reach them (tensorflow/tensorflow#100442), so
the first import runs with descriptor 2 captured, and every captured line
that is not such a log line (a Python warning, a traceback) is replayed.
Only the command line does this; a library user's process is left alone.
"""

import os
import re
import sys
import tempfile

#: TensorFlow's C++ log lines: absl's pre-initialization notice and glog-style lines.
TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\])"
)


def import_tensorflow_quietly():
    """Imports TensorFlow with `TF_CPP_MIN_LOG_LEVEL=3` and its start-up lines dropped."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    captured = tempfile.TemporaryFile()
    os.dup2(captured.fileno(), 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        captured.seek(0)
        text = captured.read().decode(errors="replace")
        captured.close()
        kept = [line for line in text.splitlines(True) if not TF_LOG_LINE.match(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
