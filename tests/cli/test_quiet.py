"""The `kzoo` command prints no TensorFlow log lines on stderr.

Each command runs as a real subprocess whose environment does NOT set
`TF_CPP_MIN_LOG_LEVEL` (tests/conftest.py sets it for the test process, so it
is removed here): the command must quiet TensorFlow itself, on both paths
(`python -m kzoo` and the `kzoo` console script). kzoo's own `kzoo: ...`
progress lines and Keras's per-epoch lines are allowed.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TIMEOUT = 180  # seconds per command; each takes ~5-10 s on a CPU

# Markers of TensorFlow / absl / CUDA C++ log lines.
TF_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} "             # absl/glog prefix: I0000 00:00:1796149180.836223 ...
    r"|cudart|cuda_|oneDNN"
    r"|absl::InitializeLog"      # WARNING: All log messages before absl::InitializeLog() ...
    r"|cpu_feature_guard"
    r"|Unable to register"       # duplicate cuDNN/cuFFT/cuBLAS factory registration
)


def _environment():
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def _run(command, cwd=REPO):
    return subprocess.run(command, cwd=cwd, env=_environment(), capture_output=True,
                          text=True, timeout=TIMEOUT)


def _assert_quiet(command, result):
    shown = " ".join(str(part) for part in command)
    assert result.returncode == 0, (f"`{shown}` exited with {result.returncode}.\n"
                                    f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}")
    noisy = [line for line in result.stderr.splitlines() if TF_LOG_LINE.search(line)]
    assert not noisy, (f"`{shown}` printed {len(noisy)} TensorFlow log line(s) on stderr:\n"
                       + "\n".join(noisy) + f"\n--- full stderr ---\n{result.stderr}")


# Heavy (about 6-10 s each; moved out of the default run to keep it under 15 minutes on 2
# cores; test_console_script_is_quiet stays there): `./scripts/run test-heavy` runs them.
@pytest.mark.heavy
@pytest.mark.parametrize("args", [["list"], ["info", "lenet"]], ids=["list", "info"])
def test_python_m_kzoo_is_quiet(args):
    command = [sys.executable, "-m", "kzoo", *args]
    _assert_quiet(command, _run(command))


# Heavy (about 9 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_train_is_quiet(tmp_path):
    # digits: scikit-learn's bundled 8x8 digits, no download.
    command = [sys.executable, "-m", "kzoo", "train", "mlp", "--dataset", "digits",
               "--epochs", "1", "--validation-size", "100", "--output", str(tmp_path / "run")]
    _assert_quiet(command, _run(command))


def test_console_script_is_quiet():
    script = Path(sys.executable).parent / ("kzoo.exe" if os.name == "nt" else "kzoo")
    if not script.exists():
        pytest.skip(f"no `kzoo` console script next to {sys.executable} (package not installed)")
    command = [str(script), "list"]
    _assert_quiet(command, _run(command))
