"""The wheel ships the zoo's checkpoints, and an installed kzoo loads them.

The checkpoints' one copy in git is `saved_models/` at the repository root;
`kzoo/saved_models` is a relative symlink to it and pyproject.toml declares
its `*.keras` files and `manifest.json` as package data, so a wheel carries
them at `kzoo/saved_models/` (real files) and an editable checkout sees them
at the same place through the link.

- `test_wheel_holds_the_manifest_checkpoints`: the wheel built from this
  checkout (`pip wheel . --no-build-isolation`, hence setuptools>=77 and
  wheel in the dev extra) holds `kzoo/saved_models/manifest.json` and every
  file the manifest lists, byte for byte (sha256 as in the manifest), and
  nothing else there (no training runs).
- `test_installed_wheel_loads_shipped_checkpoint`: that wheel installed
  non-editable into a temporary folder and imported from there in a fresh
  interpreter run outside the repository (so neither the repository nor the
  editable install of .venv can supply kzoo or the checkpoints, and no
  cache or download either) builds `create_model("lenet",
  weights="fashion_mnist")` from the shipped file, with the predictions of
  the repository's checkpoint.

The wheel is built once for the module (a few seconds).
"""

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(REPO, "saved_models", "manifest.json")
PACKAGE_DIR = "kzoo/saved_models/"


def manifest_entries():
    with open(MANIFEST) as f:
        return json.load(f)["checkpoints"]


def run(cmd, *, timeout, **kwargs):
    """Runs `cmd`; a non-zero exit fails the test with its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited with {result.returncode}:\n"
                    f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The path of a wheel built from this checkout (once per module)."""
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.fail(f"building the wheel without build isolation needs setuptools>=77 "
                    f"(the dev extra; run ./scripts/run setup); found {setuptools.__version__}")
    out = tmp_path_factory.mktemp("wheel")
    scratch = tmp_path_factory.mktemp("build")
    # setuptools' build/ and kzoo.egg-info/ go to a fresh scratch folder, not the
    # checkout: a stale build/lib there would leak deleted files into the wheel,
    # and concurrent runs would share it.
    scratch_dirs = ["build", f"--build-base={scratch}", "egg_info", f"--egg-base={scratch}"]
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), *(f"-C--build-option={a}" for a in scratch_dirs)],
        cwd=REPO, timeout=300)
    wheels = sorted(out.glob("kzoo-*.whl"))
    assert len(wheels) == 1, f"expected one kzoo wheel in {out}: {os.listdir(out)}"
    return wheels[0]


def test_wheel_holds_the_manifest_checkpoints(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert PACKAGE_DIR + "manifest.json" in names, sorted(names)
        with open(MANIFEST, "rb") as f:
            assert z.read(PACKAGE_DIR + "manifest.json") == f.read()
        entries = manifest_entries()
        assert entries, "the manifest lists no checkpoints"
        for entry in entries:
            member = PACKAGE_DIR + entry["file"]
            assert member in names, f"{member} is missing from {wheel.name}"
            digest = hashlib.sha256(z.read(member)).hexdigest()
            assert digest == entry["sha256"], f"{member}: sha256 {digest} != manifest's"
        shipped = {n for n in names if n.startswith(PACKAGE_DIR) and not n.endswith("/")}
        expected = {PACKAGE_DIR + "manifest.json"} | {PACKAGE_DIR + e["file"] for e in entries}
        assert shipped == expected, f"unexpected files: {sorted(shipped - expected)}"


# Runs in a fresh interpreter with only the installed wheel providing kzoo.
CHILD = r"""
import importlib.resources, os, sys
import numpy as np

site, out = sys.argv[1], sys.argv[2]
import kzoo

def inside(path):
    return os.path.realpath(path).startswith(os.path.realpath(site) + os.sep)

assert inside(kzoo.__file__), f"kzoo imported from {kzoo.__file__}, not from {site}"
shipped = importlib.resources.files("kzoo") / "saved_models" / "lenet_fashion_mnist.keras"
assert shipped.is_file() and inside(os.fspath(shipped)), f"no shipped checkpoint at {shipped}"

model = kzoo.create_model("lenet", weights="fashion_mnist")
pixels = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1)).astype("float32")
np.save(out, np.asarray(model.predict(pixels, verbose=0)))
"""


def test_installed_wheel_loads_shipped_checkpoint(wheel, tmp_path):
    site = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--target", str(site), str(wheel)], timeout=300)
    elsewhere = tmp_path / "cwd"  # outside the repository: '' on sys.path is not the repo
    elsewhere.mkdir()
    out = tmp_path / "predictions.npy"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "KZOO_SAVED_MODELS")}
    # PYTHONPATH comes before site-packages, and the editable install's finder
    # in .venv is appended to sys.meta_path, after the path finder: the wheel's
    # kzoo wins (the child checks). An empty KZOO_HOME: no cached checkpoints.
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="3",
               KZOO_HOME=str(tmp_path / "kzoo_home"), PYTHONNOUSERSITE="1")
    run([sys.executable, "-s", "-c", CHILD, str(site), str(out)],
        cwd=elsewhere, env=env, timeout=300)
    predictions = np.load(out)

    import keras

    import kzoo  # noqa: F401  (registers the custom layers of the checkpoint)

    reference = keras.saving.load_model(os.path.join(REPO, "saved_models",
                                                     "lenet_fashion_mnist.keras"))
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1)).astype("float32")
    expected = np.asarray(reference.predict(pixels, verbose=0))
    assert predictions.shape == expected.shape == (4, 10)
    np.testing.assert_allclose(predictions, expected, rtol=0, atol=1e-6)
