"""kzoo.training.train and the train/evaluate/predict commands, on real digits."""

import csv
import json
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kzoo
from kzoo.cli import main
from kzoo.training import TrainConfig, train

# A small MLP on scikit-learn's real 8x8 digits: seconds per run.
CONFIG = dict(model="mlp", dataset="digits", epochs=3, batch_size=64, validation_size=200,
              learning_rate=0.01,
              model_kwargs={"hidden_units": [32]})


def _weights(run_dir):
    return keras.saving.load_model(os.path.join(run_dir, "model.keras")).get_weights()


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C in `epoch`: at its end (after the checkpoint), or after batch `batch`."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.seen = epoch, batch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self.seen[-1] == self.epoch and batch == self.batch:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch and self.batch is None:
            raise KeyboardInterrupt


def test_run_directory_holds_every_artifact(tmp_path):
    run = str(tmp_path / "run")
    metrics = train(TrainConfig(**CONFIG), run, verbose=0, export=True)
    for name in ("run.json", "history.csv", "model.keras", "metrics.json", "curves.png",
                 "confusion_matrix.png", "saved_model/saved_model.pb"):
        assert os.path.exists(os.path.join(run, name)), name
    assert os.listdir(os.path.join(run, "logs"))  # TensorBoard
    assert not os.path.exists(os.path.join(run, "checkpoint"))  # finished: removed
    assert metrics["test_accuracy"] > 0.8  # an MLP on digits; chance is 0.1
    with open(os.path.join(run, "metrics.json")) as f:
        assert json.load(f)["test_accuracy"] == metrics["test_accuracy"]
    # The model carries its preprocessing: raw pixels 0-255 in.
    images, labels, _ = kzoo.data.load_arrays("digits", "test")
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    accuracy = (model.predict(images.astype("float32"), verbose=0).argmax(-1) == labels).mean()
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)


@pytest.mark.heavy
def test_same_seed_gives_identical_weights(tmp_path):
    a = train(TrainConfig(**{**CONFIG, "epochs": 2}), str(tmp_path / "a"), verbose=0)
    b = train(TrainConfig(**{**CONFIG, "epochs": 2}), str(tmp_path / "b"), verbose=0)
    for wa, wb in zip(_weights(tmp_path / "a"), _weights(tmp_path / "b")):
        np.testing.assert_array_equal(wa, wb)
    assert a["test_accuracy"] == b["test_accuracy"]
    c = train(TrainConfig(**{**CONFIG, "epochs": 2, "seed": 1}), str(tmp_path / "c"), verbose=0)
    assert not all(np.array_equal(x, y) for x, y in zip(_weights(tmp_path / "a"),
                                                         _weights(tmp_path / "c")))
    assert c["seed"] == 1


def test_interrupted_run_resumes_from_last_completed_epoch(tmp_path):
    run = str(tmp_path / "run")
    first = _Interrupt(epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[first])
    assert first.seen == [0, 1]
    assert os.path.exists(os.path.join(run, "checkpoint"))
    assert not os.path.exists(os.path.join(run, "metrics.json"))
    second = _Interrupt(epoch=-1)
    train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[second])
    assert second.seen == [2]  # nothing recomputed
    with open(os.path.join(run, "history.csv")) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2]  # nothing lost


def test_ctrl_c_mid_epoch_keeps_the_checkpoint_and_resumes(tmp_path):
    run = str(tmp_path / "run")
    first = _Interrupt(epoch=1, batch=3)  # half-way through epoch 1
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[first])
    assert first.seen == [0, 1]
    assert os.path.exists(os.path.join(run, "checkpoint"))
    second = _Interrupt(epoch=-1)
    metrics = train(TrainConfig(**CONFIG), run, verbose=0, callbacks=[second])
    assert second.seen == [1, 2]  # the interrupted epoch again, from its start
    with open(os.path.join(run, "history.csv")) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2]  # no half epoch in the history
    assert metrics["test_accuracy"] > 0.8


def test_run_directory_of_another_model_is_refused(tmp_path):
    run = str(tmp_path / "run")
    train(TrainConfig(**{**CONFIG, "epochs": 1}), run, verbose=0)
    with pytest.raises(ValueError, match="model: 'mlp' there.*Received: model='lenet5'"):
        train(TrainConfig(**{**CONFIG, "model": "lenet5", "model_kwargs": {}}), run, verbose=0)
    with pytest.raises(ValueError, match="other settings.*Received: epochs=5"):
        train(TrainConfig(**{**CONFIG, "epochs": 5}), run, verbose=0)


@pytest.mark.parametrize("field, value", [
    ("model", "resnet9000"), ("dataset", "imagenet"), ("epochs", 0), ("batch_size", -1),
    ("schedule", "warmup"), ("optimizer", "adamax"), ("learning_rate", -0.1),
    ("augment", "rotate"),
])
def test_bad_configuration_is_a_value_error(tmp_path, field, value):
    with pytest.raises(ValueError, match="Received"):
        train(TrainConfig(**{**CONFIG, field: value}), str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(tmp_path / "run")


def test_cli_train_evaluate_predict(tmp_path):
    from PIL import Image

    runner = CliRunner()
    run = str(tmp_path / "run")
    result = runner.invoke(main, ["train", "mlp", "--dataset", "digits", "--epochs", "2",
                                  "--validation-size", "100", "--model-arg", "hidden_units=[32]",
                                  "--output", run])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    result = runner.invoke(main, ["evaluate", run, "--dataset", "digits"])
    assert result.exit_code == 0 and "accuracy" in result.output, result.output

    images, labels, _ = kzoo.data.load_arrays("digits", "test")
    png = str(tmp_path / "digit.png")
    Image.fromarray(images[0, :, :, 0]).resize((32, 32)).save(png)  # resized back to 8x8
    result = runner.invoke(main, ["predict", run, png, "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{png} (32×32 L → 8×8 grayscale): "), result.output
    assert result.output.count(",") == 1
    rgb = str(tmp_path / "digit.jpg")  # an RGB JPEG of the model's own size
    Image.fromarray(images[1, :, :, 0]).convert("RGB").save(rgb)
    result = runner.invoke(main, ["predict", run, png, rgb])
    assert result.exit_code == 0, result.output
    assert f"{rgb} (8×8 RGB → 8×8 grayscale): " in result.output

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    for args, message in [
        (["predict", run, str(bad)], "unreadable or corrupt"),
        (["predict", run, str(tmp_path / "missing.png")], "No image file"),
        (["evaluate", run, "--dataset", "fashion_mnist"], "Received: dataset='fashion_mnist'"),
        (["evaluate", str(tmp_path / "nowhere")], "No model file"),
        (["train", "nosuchnet", "--output", str(tmp_path / "x")], "Unknown model name"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code != 0
        assert message in result.output and "Traceback" not in result.output, result.output


def _two_replicas():
    from kzoo.testing import two_replica_strategy

    # The process's one strategy: a second MirroredStrategy's collectives collide.
    return two_replica_strategy()


@pytest.mark.heavy
def test_train_takes_a_strategy_and_a_model_builder(tmp_path):
    import tensorflow as tf

    strategy = _two_replicas()
    seen = {}

    def build(config):
        # The trainer calls this inside strategy.scope().
        seen["strategy"] = tf.distribute.get_strategy()
        pixels = keras.Input((8, 8, 1))
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(pixels))
        x = keras.layers.Dense(32, activation="relu")(x)
        seen["model"] = keras.Model(pixels, keras.layers.Dense(10, activation="softmax")(x),
                                    name="my_head")
        return seen["model"]

    config = TrainConfig(**{**CONFIG, "epochs": 2})
    mirrored = train(config, str(tmp_path / "two"), strategy=strategy, build_model=build,
                     verbose=0)
    assert seen["strategy"] is strategy
    model = seen["model"]
    for variable in model.weights + model.optimizer.variables:
        assert isinstance(variable.value, tf.distribute.DistributedValues), variable.path
    assert mirrored["test_accuracy"] > 0.8
    saved = keras.saving.load_model(tmp_path / "two" / "model.keras")
    assert saved.name == "my_head"
    # One replica at the same global batch and seed starts from the same weights; a step of
    # both is the same mean gradient, but tf.data's seeded shuffle draws another order once
    # the strategy distributes the dataset (measured here: identical weights without the
    # shuffle), so the two runs agree in accuracy, not bit for bit.
    single = train(config, str(tmp_path / "one"), build_model=build, verbose=0)
    assert abs(single["test_accuracy"] - mirrored["test_accuracy"]) <= 0.03
