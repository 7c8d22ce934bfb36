"""`kzoo.transfer.finetune` and `kzoo finetune`: a resumable run directory with lineage."""

import csv
import hashlib
import json
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kzoo.cli import main
from kzoo.data import load_arrays
from kzoo.models import pretrained
from kzoo.training import publish
from kzoo.transfer import FinetuneConfig, finetune

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENET_FILE = os.path.join(REPOSITORY, "saved_models", "lenet_fashion_mnist.keras")
# The shipped lenet checkpoint on the 8×8 digits, 10 labels per class, a few epochs.
CONFIG = dict(base="lenet_fashion_mnist", dataset="digits", labels_per_class=10, mode="full",
              epochs=4, head_epochs=2, learning_rate=0.01, seed=0)


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C at the end of epoch `epoch` (after the checkpoint is written)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.seen = epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _history_epochs(run):
    with open(os.path.join(run, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_finetune_writes_a_run_directory_with_the_base_lineage(tmp_path):
    run = str(tmp_path / "run")
    metrics = finetune(FinetuneConfig(**CONFIG), run, verbose=0, export=True)
    for name in ("run.json", "history.csv", "model.keras", "metrics.json", "curves.png",
                 "confusion_matrix.png", "saved_model/saved_model.pb"):
        assert os.path.exists(os.path.join(run, name)), name
    assert os.listdir(os.path.join(run, "logs"))
    assert not os.path.exists(os.path.join(run, "checkpoint"))
    with open(os.path.join(run, "run.json")) as f:
        record = json.load(f)
    # The lineage names the base and the sha256 of the shipped file, read independently.
    assert record["base"]["source"] == "lenet_fashion_mnist"
    assert record["base"]["sha256"] == _sha256(LENET_FILE)
    assert record["command"].startswith("kzoo finetune lenet_fashion_mnist --dataset digits ")
    assert _history_epochs(run) == [0, 1, 2, 3]  # both phases, numbered on
    assert metrics["mode"] == "full" and metrics["labelled_examples"] == 100
    # The saved model takes raw pixels and reproduces the reported test accuracy.
    images, labels, _ = load_arrays("digits", "test")
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    accuracy = (model.predict(images.astype("float32"), verbose=0).argmax(-1) == labels).mean()
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    # 10 classes: chance is 0.1. Two head epochs at 1e-2, then two of phase 2 at a
    # tenth of that (FULL_PHASE_LR_FACTOR): 0.22 here (0.3+ when phase 2 ran at 1e-2).
    assert metrics["test_accuracy"] > 0.15

    # Published, the manifest entry carries the lineage; it is no `weights=` tag of lenet.
    root = tmp_path / "zoo"
    root.mkdir()
    entry = publish(run, "lenet_digits_ft", root=str(root))
    assert entry["base"]["source"] == "lenet_fashion_mnist"
    assert entry["architecture"] == "lenet"
    assert entry["command"].startswith("kzoo finetune ")
    assert pretrained.tags("lenet", root=str(root)) == []


@pytest.mark.heavy
def test_an_interrupted_finetune_resumes_in_its_phase(tmp_path):
    run = str(tmp_path / "run")
    first = _Interrupt(epoch=2)  # the first epoch of phase 2
    with pytest.raises(KeyboardInterrupt):
        finetune(FinetuneConfig(**CONFIG), run, verbose=0, callbacks=[first])
    assert first.seen == [0, 1, 2]
    assert not os.path.exists(os.path.join(run, "metrics.json"))
    second = _Interrupt(epoch=-1)
    metrics = finetune(FinetuneConfig(**CONFIG), run, verbose=0, callbacks=[second])
    assert second.seen == [3]  # phase 1 restored without training; phase 2 goes on
    assert _history_epochs(run) == [0, 1, 2, 3]
    # Same result as an uninterrupted run of the same seed (CPU runs are deterministic).
    whole = finetune(FinetuneConfig(**CONFIG), str(tmp_path / "whole"), verbose=0)
    assert metrics["test_accuracy"] == pytest.approx(whole["test_accuracy"], abs=0.02)


def test_cli_finetune_and_its_errors(tmp_path):
    runner = CliRunner()
    run = str(tmp_path / "cli")
    result = runner.invoke(main, ["finetune", "lenet_fashion_mnist", "--dataset", "digits",
                                  "--labels-per-class", "5", "--mode", "linear", "--epochs",
                                  "2", "--output", run])
    assert result.exit_code == 0, result.output
    assert "mode linear" in result.output
    for args, message in [
        (["finetune", "no_such_base", "--dataset", "digits"], "Argument `source`"),
        (["finetune", "lenet", "--dataset", "digits"], "needs weights="),
        (["finetune", "lenet_fashion_mnist", "--dataset", "digits", "--labels-per-class",
          "9999"], "labels_per_class"),
        (["finetune", "lenet_fashion_mnist", "--dataset", "nope"], "Received"),
        (["finetune", "lenet_fashion_mnist", "--classes", "a,b"], "classes"),
    ]:
        out = str(tmp_path / "x")
        result = runner.invoke(main, args + ["--output", out])
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and message in errors[0], result.output
        assert not os.path.exists(out)  # a failed start leaves nothing behind


def test_a_model_name_base_with_a_weights_file(tmp_path):
    # A model name plus weights= a file: the lineage records that file's sha256.
    source = keras.saving.load_model(LENET_FILE)
    path = str(tmp_path / "lenet.keras")
    source.save(path)
    config = FinetuneConfig(base="lenet", weights=path, dataset="digits", labels_per_class=5,
                            mode="linear", epochs=1)
    metrics = finetune(config, str(tmp_path / "run"), verbose=0)
    assert metrics["base"]["sha256"] == _sha256(path)
    assert np.isfinite(metrics["test_loss"])


def test_finetune_on_a_folder_of_images(tmp_path):
    from PIL import Image

    # Two classes a linear head separates: bright squares and dark ones, RGB 20×20 PNGs.
    rng = np.random.default_rng(0)
    for name, level in (("bright", 200), ("dark", 40)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(level + rng.normal(0, 10, (20, 20, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    config = FinetuneConfig(base="lenet_fashion_mnist", dataset=str(tmp_path / "data"),
                            mode="linear", epochs=3, learning_rate=0.05, batch_size=8)
    run = str(tmp_path / "run")
    metrics = finetune(config, run, verbose=0, export=True)
    assert metrics["class_names"] == ["bright", "dark"]
    # The SavedModel names the folder's classes (TF Serving's labels file).
    labels = (tmp_path / "run" / "saved_model" / "assets" / "labels.txt").read_text().split()
    assert labels == ["bright", "dark"]
    assert metrics["input_shape"] == [20, 20, 3]  # RGB in; converted to the base's grey
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    assert model.input_shape == (None, 20, 20, 3) and model.output_shape == (None, 2)
