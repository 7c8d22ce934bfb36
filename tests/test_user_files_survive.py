"""Issue 30: a user's own files are never deleted or written into, by any writer of kzoo.

One row per writer: the row makes the user's files (or a folder another kzoo
command made) where the writer would write, runs the writer, and every one of
those files must survive byte-identical. `--overwrite` replaces only what the
same command made.

The writers (grep of kzoo/ for open(..., "w"), write_text, write_json, save,
savefig, rmtree, os.replace, os.remove) and their rules:

- `kzoo train` / `finetune` / `tune` (run directories; with them the reports,
  curves, confusion matrix, tuning results and the run's `EpochBackup`): only a
  new or empty folder or a run of the same command (`run.json` `kind`);
  `--overwrite` removes only such a run.
- `kzoo export`, `export_saved_model` (`BASE/NAME/VERSION`, `RUN/saved_model`):
  a new folder; `--overwrite` replaces only a folder whose kzoo.json is kzoo's
  export's; a leftover `.tmp-export-*` is removed only with kzoo's marker file.
- `kzoo predict --explain` (`DIR/<stem>_cam.png`): replaces only a heatmap kzoo
  wrote (its PNG text chunk); any other file of that name is kept and the
  heatmap written beside it.
- `kzoo publish` (`saved_models/NAME.keras`, `manifest.json`): a checkpoint of
  the same name only with `--overwrite`; never a file the manifest does not list.
- `kzoo activation-stats --output`: never over an existing file (refused);
  `EpochBackup(dir)` removes only its own `epoch-N.weights.h5`.
- Benchmarks write into `benchmarks/results/` or a runs folder of their own.
"""

import json
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kzoo.cli.main import main
from kzoo.models import pretrained
from kzoo.serving import export, export_saved_model, export_version
from kzoo.training import TrainConfig, publish, run_dir, train

USERS = b"the user's own bytes\n"


def _user_file(path, data=USERS):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _write_json(path, obj):
    return _user_file(path, json.dumps(obj).encode())


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A tiny CAM-able image classifier (8×8×1 → 10), as a model and a .keras file."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return model, str(path)


def _finished_run(path, model_file=None, kind="train"):
    """What `kzoo train` / `finetune` / `tune` leave (run.json, metrics.json, a model)."""
    config = {"model": "mlp", "dataset": "digits", "epochs": 1}
    record = {"config": config, "kzoo": "test", "command": "kzoo train mlp --dataset digits"}
    if kind == "finetune":
        record = {"config": {"base": "lenet_fashion_mnist", "dataset": "digits"}, "kzoo": "test",
                  "command": "kzoo finetune lenet_fashion_mnist --dataset digits",
                  "base": {"source": "lenet_fashion_mnist", "kind": "checkpoint",
                           "architecture": "lenet", "sha256": "0" * 64}}
    elif kind == "tune":
        record = {"config": {"model": "mlp", "space": {}}, "kzoo": "test", "kind": "tune"}
    paths = [_write_json(path / "run.json", record),
             _write_json(path / "metrics.json", {
                 "model": "mlp", "dataset": "digits", "input_shape": [8, 8, 1],
                 "class_names": [str(i) for i in range(10)], "params": 0,
                 "test_accuracy": 0.5}),
             _user_file(path / "notes.txt")]
    if model_file is not None:
        paths.append(_user_file(path / "model.keras", open(model_file, "rb").read()))
    return paths


# --------------------------------------------------------------------------- #
# The rows: (tmp, image_model) -> (run the writer, the error expected or None, files)
# --------------------------------------------------------------------------- #

ROWS = {}


def row(fn):
    ROWS[fn.__name__] = fn
    return fn


def _train(out, overwrite):
    return lambda: train(TrainConfig("mlp", "digits", epochs=1), str(out), overwrite=overwrite,
                         verbose=0)


@row
def train_into_a_users_folder(tmp, _):
    return _train(tmp / "out", True), "not a kzoo run", [_user_file(tmp / "out" / "notes.txt")]


@row
def train_overwrite_of_a_search(tmp, _):
    files = _finished_run(tmp / "search", kind="tune")
    return _train(tmp / "search", True), "`kzoo tune` folder", files


@row
def train_overwrite_of_a_finetune_run(tmp, _):
    files = _finished_run(tmp / "ft", kind="finetune")
    return _train(tmp / "ft", True), "`kzoo finetune` folder", files


@row
def tune_overwrite_of_a_training_run(tmp, _):
    from kzoo.tuning import search

    files = _finished_run(tmp / "run")
    return (lambda: search("mlp", dataset="digits", space="mlp", max_trials=1, epochs=1,
                           output_dir=str(tmp / "run"), overwrite=True),
            "`kzoo train` folder", files)


@row
def finetune_overwrite_of_a_training_run(tmp, _):
    from kzoo.transfer import FinetuneConfig, finetune

    files = _finished_run(tmp / "run")
    return (lambda: finetune(FinetuneConfig("lenet_fashion_mnist", "digits", epochs=1),
                             str(tmp / "run"), overwrite=True),
            "`kzoo train` folder", files)


@row
def export_overwrite_of_a_users_saved_model(tmp, model):
    version = tmp / "base" / "m" / "1"
    files = [_user_file(version / "saved_model.pb"), _user_file(version / "notes.txt"),
             _write_json(version / "assets" / "kzoo.json", {"mine": True})]
    return (lambda: export_version(model[0], "m", base=str(tmp / "base"), version=1,
                                   overwrite=True), "not a kzoo export", files)


@row
def export_overwrite_of_a_users_tflite_folder(tmp, model):
    files = [_user_file(tmp / "v" / "model.tflite"), _user_file(tmp / "v" / "kzoo.json")]
    return (lambda: export(model[0], str(tmp / "v"), format="tflite", overwrite=True),
            "not a kzoo export", files)


@row
def trainer_export_into_a_users_saved_model(tmp, model):
    files = [_user_file(tmp / "run" / "saved_model" / "saved_model.pb")]
    return (lambda: export_saved_model(model[0], str(tmp / "run" / "saved_model")),
            "not a kzoo export", files)


@row
def export_beside_a_users_tmp_export_folder(tmp, model):
    # Named like kzoo's leftovers, but without kzoo's marker: never removed.
    files = [_user_file(tmp / "base" / "m" / ".tmp-export-mine" / "data.bin")]
    return lambda: export_version(model[0], "m", base=str(tmp / "base")), None, files


@row
def predict_explain_over_a_users_png(tmp, model):
    image = tmp / "img.png"
    Image.fromarray(np.arange(64, dtype="uint8").reshape(8, 8)).save(image)
    files = [_user_file(tmp / "ex" / "img_cam.png", image.read_bytes()), image]

    def run():
        result = CliRunner().invoke(main, ["predict", model[1], str(image), "--explain-dir",
                                           str(tmp / "ex")])
        assert result.exit_code == 0, result.output
        assert "img_cam.png is not a heatmap kzoo wrote" in result.output, result.output
        assert os.path.isfile(tmp / "ex" / "img_2_cam.png")

    return run, None, files


@row
def publish_over_a_file_the_manifest_does_not_list(tmp, model):
    _finished_run(tmp / "run", model[1])
    files = [_user_file(tmp / "shelf" / "mlp_digits.keras")]
    return (lambda: publish(str(tmp / "run"), root=str(tmp / "shelf"), overwrite=True),
            "not a checkpoint kzoo published", files)


@row
def publish_over_a_checkpoint_without_overwrite(tmp, model):
    _finished_run(tmp / "run", model[1])
    files = [_user_file(tmp / "shelf" / "mlp_digits.keras"),
             _write_json(tmp / "shelf" / "manifest.json", {"checkpoints": [
                 {"name": "mlp_digits", "architecture": "mlp", "dataset": "digits",
                  "test_accuracy": 0.9, "file": "mlp_digits.keras"}]})]
    return (lambda: publish(str(tmp / "run"), root=str(tmp / "shelf")), "--overwrite", files)


@row
def publish_with_an_empty_name(tmp, model):
    _finished_run(tmp / "run", model[1])
    files = [_user_file(tmp / "shelf" / "mlp_digits.keras"),
             _write_json(tmp / "shelf" / "manifest.json", {"checkpoints": [
                 {"name": "mlp_digits", "architecture": "mlp", "dataset": "digits",
                  "test_accuracy": 0.9, "file": "mlp_digits.keras"}]})]
    return (lambda: publish(str(tmp / "run"), "", root=str(tmp / "shelf"), overwrite=True),
            "`name`", files)


@row
def activation_stats_over_a_users_file(tmp, _):
    files = [_user_file(tmp / "activation_stats.png")]

    def run():  # in the test's working directory, tmp
        CliRunner().invoke(main, ["activation-stats", "--layers", "2", "--units", "4",
                                  "--samples", "4"])

    return run, None, files


@row
def epoch_backup_beside_a_users_weights_file(tmp, model):
    from kzoo.distribute import EpochBackup

    files = [_user_file(tmp / "backup" / "mine.weights.h5")]

    def run():
        backup = EpochBackup(str(tmp / "backup"), write=True)
        backup.set_model(model[0])
        backup.on_epoch_end(0)

    return run, None, files


NOT_FIXED = {}  # writers that still clobber a user's file: none


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=NOT_FIXED[n]))
    if n in NOT_FIXED else n for n in ROWS])
def test_a_users_file_survives(name, tmp_path, image_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KZOO_SAVED_MODELS", str(tmp_path / "no_shelf"))  # never the repo's
    action, error, files = ROWS[name](tmp_path, image_model)
    before = {path: path.read_bytes() for path in files}
    if error is None:
        action()
    else:
        with pytest.raises(ValueError, match=error):
            action()
    assert {path: path.read_bytes() for path in files if path.exists()} == before


# --------------------------------------------------------------------------- #
# What --overwrite does replace: kzoo's own
# --------------------------------------------------------------------------- #


def test_publish_overwrite_replaces_kzoos_checkpoint_and_says_so(tmp_path, image_model,
                                                                 capsys):
    run = tmp_path / "run"
    _finished_run(run, image_model[1])
    shelf = str(tmp_path / "shelf")
    first = publish(str(run), root=shelf)
    assert first["tag"] == "digits" and first["url"].endswith(
        f"/mlp_digits-{first['sha256'][:12]}.keras")
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax")]).save(run / "model.keras")
    with pytest.raises(ValueError, match=r"test accuracy 0\.\d+.*--overwrite"):
        publish(str(run), root=shelf)
    second = publish(str(run), root=shelf, overwrite=True)
    assert second["sha256"] != first["sha256"] and second["url"] != first["url"]
    assert [e["name"] for e in pretrained.read_manifest(shelf)] == ["mlp_digits"]
    err = capsys.readouterr().err
    assert (f"replaced checkpoint 'mlp_digits': test accuracy {first['test_accuracy']} -> "
            f"{second['test_accuracy']}") in err, err


@pytest.mark.parametrize("tag, kind, error", [
    ("digits", "train", "already loads checkpoint 'mlp_digits'"),  # another name, same tag
    ("", "train", "`tag`"),
    ("digits", "finetune", "takes no tag"),
])
def test_publish_refuses_a_tag_create_model_would_not_load(tmp_path, image_model, tag, kind,
                                                           error):
    shelf = tmp_path / "shelf"
    pretrained.write_manifest([{"name": "mlp_digits", "tag": "digits", "architecture": "mlp",
                                "dataset": "digits", "file": "mlp_digits.keras"}], str(shelf))
    _finished_run(tmp_path / "run", image_model[1], kind=kind)
    with pytest.raises(ValueError, match=error):
        publish(str(tmp_path / "run"), "other", root=str(shelf), tag=tag)
    assert sorted(os.listdir(shelf)) == ["manifest.json"]


def test_each_command_overwrites_its_own_kind(tmp_path):
    for kind, config in (("train", {"model": "mlp"}), ("finetune", {"base": "x"}),
                         ("tune", {"model": "mlp", "space": {}})):
        _finished_run(tmp_path / kind, kind=kind)
        assert run_dir.run_kind(run_dir.read_run(str(tmp_path / kind))) == kind
        assert run_dir.prepare(str(tmp_path / kind), config, overwrite=True,
                               dry_run=True) == run_dir.NEW
    run_dir.start(str(tmp_path / "new"), {"config": {"base": "x"}, "kzoo": "test"})
    assert run_dir.read_run(str(tmp_path / "new"))["kind"] == "finetune"
