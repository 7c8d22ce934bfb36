"""`kzoo export SOURCE --name NAME`: TF Serving's BASE/NAME/VERSION layout, one-line errors."""

import json
import os

import pytest
from click.testing import CliRunner

from kzoo.cli.main import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET = os.path.join(REPO, "saved_models", "lenet_fashion_mnist.keras")


def _export(*args):
    return CliRunner().invoke(main, ["export", *args])


def _one_error_line(result):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def _no_leftovers(folder):
    if os.path.isdir(folder):
        assert not [n for n in os.listdir(folder) if n.startswith(".tmp")], os.listdir(folder)


def test_versions_refusal_and_overwrite(tmp_path):
    base = str(tmp_path / "serving")
    result = _export("lenet_fashion_mnist", "--name", "lenet", "--base", base)
    assert result.exit_code == 0, result.output
    assert os.path.join(base, "lenet", "1") in result.output
    assert "signatures serving_default, predict_images" in result.output
    result = _export(LENET, "--name", "lenet", "--base", base)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(os.path.join(base, "lenet"))) == ["1", "2"]
    with open(os.path.join(base, "lenet", "1", "assets", "kzoo.json")) as f:
        info = json.load(f)
    assert info["kind"] == "checkpoint" and info["test_accuracy"] == 0.9115

    before = os.stat(os.path.join(base, "lenet", "1", "saved_model.pb")).st_ino
    line = _one_error_line(_export(LENET, "--name", "lenet", "--base", base, "--version", "1"))
    assert "--overwrite" in line and "version" in line
    assert os.stat(os.path.join(base, "lenet", "1", "saved_model.pb")).st_ino == before

    result = _export(LENET, "--name", "lenet", "--base", base, "--version", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    assert os.stat(os.path.join(base, "lenet", "1", "saved_model.pb")).st_ino != before
    with open(os.path.join(base, "lenet", "1", "assets", "kzoo.json")) as f:
        assert json.load(f)["kind"] == "keras_file"
    assert sorted(os.listdir(os.path.join(base, "lenet"))) == ["1", "2"]
    _no_leftovers(os.path.join(base, "lenet"))


def test_default_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _export(LENET, "--name", "lenet", "--version", "3")
    assert result.exit_code == 0, result.output
    assert os.path.isfile(tmp_path / "saved_models" / "serving" / "lenet" / "3" / "saved_model.pb")


def test_run_directory_source(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(open(LENET, "rb").read())
    names = [f"class {i}" for i in range(10)]
    (run / "metrics.json").write_text(json.dumps({"model": "lenet", "class_names": names,
                                                  "test_accuracy": 0.9}))
    result = _export(str(run), "--name", "m", "--base", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    with open(tmp_path / "b" / "m" / "1" / "assets" / "labels.txt") as f:
        assert f.read().splitlines() == names


@pytest.mark.parametrize("args, word", [
    (["no_such_checkpoint", "--name", "m"], "source"),
    ([LENET, "--name", "a/b"], "name"),
    ([LENET, "--name", ".."], "name"),
    ([LENET, "--name", "m", "--version", "0"], "version"),
    ([LENET, "--name", "m", "--version", "abc"], "version"),
    ([LENET, "--name", "m", "--version", "-1"], "version"),
    ([LENET, "--name", "m", "--format", "coreml"], "format"),
    ([LENET, "--name", "m", "--format", "onnx", "--quantize", "int8"], "quantize"),
    ([LENET, "--name", "m", "--format", "tflite", "--quantize", "int8", "--input-type", "f"],
     "input_type"),
    ([LENET, "--name", "m", "--format", "tflite", "--quantize", "int8",
      "--calibration-data", "no/such/folder"], "calibration_data"),
])
def test_bad_input_is_one_error_line(tmp_path, args, word):
    base = tmp_path / "b"
    line = _one_error_line(_export(*args, "--base", str(base)))
    assert f"`{word}`" in line
    assert not base.exists() or all(not os.listdir(base / d) for d in os.listdir(base))


def test_base_that_is_a_file_and_foreign_folder(tmp_path):
    base = tmp_path / "file"
    base.write_text("x")
    assert "`base`" in _one_error_line(_export(LENET, "--name", "m", "--base", str(base)))
    foreign = tmp_path / "b" / "m" / "1"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("keep")
    line = _one_error_line(_export(LENET, "--name", "m", "--base", str(tmp_path / "b"),
                                   "--version", "1", "--overwrite"))
    assert "not a kzoo export" in line
    assert os.listdir(foreign) == ["mine.txt"]


def test_help_lists_export():
    result = CliRunner().invoke(main, ["--help"])
    assert "export" in result.output
    result = _export("--help")
    assert result.exit_code == 0 and "--overwrite" in result.output
