"""`kzoo predict --explain`: class activation maps of the shipped checkpoints as PNG files."""

import os

import numpy as np
from click.testing import CliRunner
from PIL import Image

import kzoo
from kzoo.cli.main import main

SAVED = os.path.join(os.path.dirname(kzoo.__file__), "saved_models")
RESNET20 = os.path.join(SAVED, "resnet20_fashion_mnist.keras")


def _trousers(path, size=(28, 28), mode="L"):
    """A Fashion-MNIST-like image: two light legs on black."""
    pixels = np.zeros((28, 28), "uint8")
    pixels[3:26, 8:13] = pixels[3:26, 15:20] = 200
    pixels[3:8, 8:20] = 200
    Image.fromarray(pixels).convert(mode).resize(size).save(path)
    return str(path)


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_explain_writes_grad_cam_of_lenet_into_the_given_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    grey = _trousers(tmp_path / "a" / "trousers.png")
    rgb = _trousers(tmp_path / "b" / "trousers.png", size=(56, 40), mode="RGB")  # same stem
    out = str(tmp_path / "ex")
    result = CliRunner().invoke(main, ["predict", os.path.join(SAVED, "lenet_fashion_mnist.keras"),
                                       grey, rgb, "--top-k", "2", "--explain", "--explain-dir",
                                       out])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    files = [os.path.join(out, "trousers_cam.png"), os.path.join(out, "trousers_2_cam.png")]
    assert lines[0].startswith(f"{grey}: ") and lines[0].endswith(
        f"  [heatmap: {files[0]} (grad-cam)]"), lines
    assert lines[1].startswith(f"{rgb} (56×40 RGB → 28×28 grayscale): ") and lines[1].endswith(
        f"  [heatmap: {files[1]} (grad-cam)]"), lines
    for path in files:
        assert _is_png(path)
        with Image.open(path) as image:
            assert image.size == (400, 440)  # 4 × 4.4 inches at 100 dpi
    # Nothing beside the user's images.
    assert sorted(os.listdir(tmp_path / "a")) == ["trousers.png"]
    assert sorted(os.listdir(tmp_path / "b")) == ["trousers.png"]


def test_explain_uses_cam_for_resnet20_and_writes_to_explain_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = _trousers("trousers.png")
    result = CliRunner().invoke(main, ["predict", RESNET20, image, "--explain"])
    assert result.exit_code == 0, result.output
    expected = os.path.join("explain", "trousers_cam.png")
    assert result.output.rstrip().endswith(f"  [heatmap: {expected} (cam)]"), result.output
    assert _is_png(tmp_path / expected)
    result = CliRunner().invoke(main, ["predict", RESNET20, image])  # without --explain: no heatmap
    assert result.exit_code == 0 and "heatmap" not in result.output, result.output


def test_explain_errors_are_one_line(tmp_path):
    mlp = str(tmp_path / "mlp.keras")
    kzoo.create_model("mlp", input_shape=(28, 28, 1), hidden_units=[8]).save(mlp)
    image = _trousers(tmp_path / "trousers.png")
    (tmp_path / "file").write_text("not a folder")
    for args, message in [
        ([mlp, image, "--explain"], "cannot explain"),
        ([os.path.join(SAVED, "lenet_fashion_mnist.keras"), image, "--explain-dir",
          str(tmp_path / "file")], "is not a folder"),
    ]:
        result = CliRunner().invoke(main, ["predict", *args])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_explain_keeps_a_users_file_and_replaces_only_its_own(tmp_path):
    """Issue 30: a user's `<stem>_cam.png` survives byte-identical; the heatmap goes beside
    it, and a rerun replaces that heatmap (kzoo's, by its PNG text chunk) in place."""
    image = _trousers(tmp_path / "trousers.png")
    out = tmp_path / "ex"
    out.mkdir()
    users = out / "trousers_cam.png"
    users.write_bytes(open(image, "rb").read())  # a PNG, but not kzoo's heatmap
    (out / "trousers_2_cam.png").mkdir()  # a folder of that name: kept too
    lenet = os.path.join(SAVED, "lenet_fashion_mnist.keras")
    for _ in range(2):
        result = CliRunner().invoke(main, ["predict", lenet, image, "--explain-dir", str(out)])
        assert result.exit_code == 0, result.output
        assert f"{users} is not a heatmap kzoo wrote; it is kept" in result.output
        assert result.output.rstrip().endswith(
            f"[heatmap: {out / 'trousers_3_cam.png'} (grad-cam)]"), result.output
    assert users.read_bytes() == open(image, "rb").read()
    assert sorted(os.listdir(out)) == ["trousers_2_cam.png", "trousers_3_cam.png",
                                       "trousers_cam.png"]
    with Image.open(out / "trousers_3_cam.png") as heatmap:
        assert heatmap.text["kzoo"] == "predict --explain"
