"""The accuracy options of `kzoo train`, each on its own (issue 13).

label smoothing, the weights' moving average (EMA), learning-rate warmup,
the optimizer's momentum, test-time augmentation, Mixup and CutMix (their
pixels: tests/data/test_mixing.py); each checked against a
NumPy formula or Keras itself, on scikit-learn's real 8x8 digits.
"""

import csv
import json
import os
import shlex

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kzoo.cli import main
from kzoo.training import TrainConfig, run_dir, train
from kzoo.training.evaluate import evaluate_model, predict_probabilities
from kzoo.training.trainer import load_data

CONFIG = dict(model="mlp", dataset="digits", epochs=2, batch_size=64, validation_size=200,
              learning_rate=0.01, model_kwargs={"hidden_units": [16]})


def _tiny_model():
    """Flatten + Dense on 8x8x1 raw pixels: not symmetric under a flip."""
    pixels = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(pixels))
    return keras.Model(pixels, keras.layers.Dense(10, activation="softmax")(x))


def _numpy_ema(raw_steps, momentum):
    """Keras's average: a copy of the weights at the first step, then m·a + (1 − m)·w."""
    average = [w.copy() for w in raw_steps[0]]
    for weights in raw_steps[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    return average


class _RawWeights(keras.callbacks.Callback):
    """Records the model's (raw) trainable weights after every optimizer step."""

    def __init__(self, steps, stop_after_epoch=None):
        super().__init__()
        self.steps, self.stop_after_epoch = steps, stop_after_epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([keras.ops.convert_to_numpy(w) for w in self.model.trainable_weights])

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_after_epoch:  # after the epoch's backup
            raise KeyboardInterrupt


# --------------------------------------------------------------------------- #
# Label smoothing
# --------------------------------------------------------------------------- #


def test_label_smoothing_loss_is_the_smoothed_cross_entropy(rng):
    assert TrainConfig(**CONFIG).make_loss() == "sparse_categorical_crossentropy"
    loss = TrainConfig(**{**CONFIG, "label_smoothing": 0.2}).check().make_loss()
    labels = rng.integers(0, 10, size=16)
    probabilities = rng.dirichlet(np.ones(10), size=16).astype("float32")
    targets = 0.8 * np.eye(10)[labels] + 0.2 / 10
    expected = np.mean(-np.sum(targets * np.log(probabilities), axis=-1))
    got = float(keras.ops.convert_to_numpy(loss(labels, probabilities)))
    assert got == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- #
# EMA of the weights
# --------------------------------------------------------------------------- #


def test_ema_is_kerass_average_of_the_weights_after_each_step(rng):
    # SGD on a tiny model, 6 steps: Keras's average copies the weights after the
    # first step (keras/src/optimizers/base_optimizer.py, momentum 0 while
    # iterations == 0), then a ← m·a + (1 − m)·w after each step; fit ends by
    # writing the average into the model (`finalize_variable_values`).
    model = _tiny_model()
    config = TrainConfig(**{**CONFIG, "optimizer": "sgd", "learning_rate": 0.5, "ema": 0.7})
    model.compile(optimizer=config.make_optimizer(steps_per_epoch=3), loss=config.make_loss())
    x = rng.integers(0, 17, size=(48, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=48)
    steps = []
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
              callbacks=[_RawWeights(steps)])
    assert len(steps) == 6
    assert not np.allclose(steps[-1][0], steps[-2][0])  # the weights do move
    for got, want in zip(model.get_weights(), _numpy_ema(steps, 0.7)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.heavy
def test_ema_run_validates_saves_and_resumes_the_average(tmp_path):
    config = TrainConfig(**{**CONFIG, "ema": 0.9})
    run = str(tmp_path / "run")
    steps = []
    with pytest.raises(KeyboardInterrupt):  # killed after epoch 0's backup
        train(config, run, verbose=0, callbacks=[_RawWeights(steps, stop_after_epoch=0)])
    metrics = train(config, run, verbose=0, callbacks=[_RawWeights(steps)])
    per_epoch = len(steps) // 2
    assert len(steps) == 2 * per_epoch == 2 * int(np.ceil((1438 - 200) / 64))
    # The average over both sessions: the resumed run continued it (the backup
    # holds the optimizer's variables, average and step count among them).
    saved = keras.saving.load_model(os.path.join(run, "model.keras"))
    average = _numpy_ema(steps, 0.9)
    for got, want in zip(saved.get_weights(), average):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(saved.get_weights()[0], steps[-1][0], atol=1e-3)
    # The last validation was of the averaged weights (the saved model), not the raw ones.
    data = load_data(config.resolved())
    images, labels = data.validation
    with open(os.path.join(run, "history.csv")) as f:
        last = list(csv.DictReader(f))[-1]
    val, _ = evaluate_model(saved, images, labels, data.spec.class_names)
    assert float(last["val_loss"]) == pytest.approx(val["test_loss"], rel=1e-4)
    assert float(last["val_accuracy"]) == pytest.approx(val["test_accuracy"], abs=1e-6)
    saved.set_weights(steps[-1])
    raw, _ = evaluate_model(saved, images, labels, data.spec.class_names)
    assert raw["test_loss"] != pytest.approx(val["test_loss"], rel=1e-3)
    test, _ = evaluate_model(keras.saving.load_model(os.path.join(run, "model.keras")),
                             *data.test, data.spec.class_names)
    assert metrics["test_accuracy"] == test["test_accuracy"]


# --------------------------------------------------------------------------- #
# Warmup, schedules, momentum
# --------------------------------------------------------------------------- #


def test_warmup_epochs_reach_the_schedule():
    optimizer = TrainConfig(**{**CONFIG, "warmup_epochs": 0.5}).make_optimizer(
        steps_per_epoch=10)
    lr = [float(optimizer._learning_rate(t)) for t in (0, 4, 5, 19)]
    np.testing.assert_allclose(lr, [0.01 / 5, 0.01, 0.01, 0.01], rtol=1e-6)
    cosine = TrainConfig(**{**CONFIG, "schedule": "cosine", "warmup_epochs": 1}).make_optimizer(
        steps_per_epoch=10)._learning_rate
    # Keras's own warmup: from 0.01/10 up to 0.01 at step 10, then a cosine to 0.
    assert float(cosine(0)) == pytest.approx(0.001) and float(cosine(10)) == pytest.approx(0.01)
    assert float(cosine(20)) < 1e-6
    from kzoo.cli.train import train_cmd

    choices = next(p for p in train_cmd.params if p.name == "schedule").type.choices
    assert "onecycle" in choices and "cosine" in choices


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop"])
def test_momentum_reaches_the_optimizer(optimizer):
    made = TrainConfig(**{**CONFIG, "optimizer": optimizer, "momentum": 0.5}).check()
    assert made.make_optimizer(steps_per_epoch=1).momentum == 0.5
    assert getattr(made.make_optimizer(1), "nesterov", False) == (optimizer == "nesterov")


# --------------------------------------------------------------------------- #
# Test-time augmentation
# --------------------------------------------------------------------------- #


def test_tta_is_the_mean_of_the_image_and_its_flip(rng, tmp_path):
    model = _tiny_model()
    images = rng.integers(0, 17, size=(37, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 10, size=37)
    plain = keras.ops.convert_to_numpy(model(images))
    flipped = keras.ops.convert_to_numpy(model(images[:, :, ::-1].copy()))
    assert not np.allclose(plain, flipped, atol=1e-3)
    np.testing.assert_allclose(predict_probabilities(model, images, 16, tta=True),
                               (plain + flipped) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(predict_probabilities(model, images, 16), plain, rtol=1e-5,
                               atol=1e-7)
    metrics, _ = evaluate_model(model, images, labels, [str(i) for i in range(10)], tta=True)
    assert metrics["test_accuracy"] == float((((plain + flipped) / 2).argmax(-1)
                                              == labels).mean())
    # `kzoo evaluate --tta` on a .keras file
    import kzoo

    test_images, test_labels, _ = kzoo.data.load_arrays("digits", "test")
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    both = (keras.ops.convert_to_numpy(model(test_images.astype("float32")))
            + keras.ops.convert_to_numpy(model(test_images[:, :, ::-1].astype("float32")))) / 2
    result = CliRunner().invoke(main, ["evaluate", path, "--dataset", "digits", "--tta"])
    assert result.exit_code == 0, result.output
    assert f"accuracy {(both.argmax(-1) == test_labels).mean():.4f}" in result.output


# --------------------------------------------------------------------------- #
# Checks, the command line, old run directories
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("field, value, message", [
    ("label_smoothing", 1.0, "label_smoothing.*in \\[0, 1\\)"),
    ("label_smoothing", -0.1, "label_smoothing"),
    ("ema", 1.0, "ema.*in \\[0, 1\\)"),
    ("ema", "0.9", "ema"),
    ("warmup_epochs", -1.0, "warmup_epochs.*>= 0"),
    ("warmup_epochs", 2.0, "warmup_epochs.*below the 2 epochs"),
    ("momentum", 1.5, "momentum.*in \\[0, 1\\)"),
    ("tta", "yes", "tta.*True or False"),
    ("mixup", -1.0, "mixup.*finite number >= 0"),
    ("cutmix", 2.0, "cutmix.*in \\[0, 1\\]"),
])
def test_bad_option_is_a_value_error_naming_it(field, value, message):
    with pytest.raises(ValueError, match=f"{message}.*Received: {field}="):
        TrainConfig(**{**CONFIG, field: value}).check()


def test_momentum_of_an_optimizer_without_one_is_refused():
    with pytest.raises(ValueError, match="`momentum` applies to the optimizers \\['sgd', "
                                         "'momentum', 'nesterov', 'rmsprop'\\]; 'adam'"):
        TrainConfig(**{**CONFIG, "optimizer": "adam", "momentum": 0.9}).check()
    with pytest.raises(ValueError, match="onecycle.*own warmup.*Received: warmup_epochs=0.5"):
        TrainConfig(**{**CONFIG, "schedule": "onecycle", "warmup_epochs": 0.5}).check()


def test_cli_options_are_recorded_and_the_command_reproduces_the_run(tmp_path):
    run = str(tmp_path / "run")
    args = ["train", "mlp", "--dataset", "digits", "--epochs", "1", "--validation-size", "100",
            "--model-arg", "hidden_units=[16]", "--optimizer", "nesterov", "--momentum", "0.8",
            "--schedule", "cosine", "--warmup-epochs", "0.5", "--label-smoothing", "0.1",
            "--ema", "0.9", "--tta", "--output", run]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with open(os.path.join(run, "run.json")) as f:
        record = json.load(f)
    assert {k: record["config"][k] for k in ("momentum", "warmup_epochs", "label_smoothing",
                                             "ema", "tta")} == {
        "momentum": 0.8, "warmup_epochs": 0.5, "label_smoothing": 0.1, "ema": 0.9, "tta": True}
    assert " --tta " in record["command"] and "False" not in record["command"]
    assert run_dir.read_metrics(run)["tta"] is True
    loss = keras.saving.load_model(os.path.join(run, "model.keras")).loss
    assert loss.label_smoothing == pytest.approx(0.1)
    # The recorded command is this run: rerun, it reports the run finished.
    again = CliRunner().invoke(main, shlex.split(record["command"])[1:])
    assert again.exit_code == 0 and "finished run" in again.output, again.output
    default = TrainConfig(**CONFIG).command("out")
    assert "--tta" not in default and "--momentum" not in default


@pytest.mark.heavy
def test_mixup_and_cutmix_train_on_mixed_label_rows(tmp_path):
    config = TrainConfig(**{**CONFIG, "mixup": 0.4, "cutmix": 1.0}).resolved()
    data = load_data(config)
    train_ds, validation_ds = data.pipelines(config)
    labels = np.concatenate([y.numpy() for _, y in train_ds])
    assert labels.shape == (len(data.train[0]), 10)
    np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-6)
    assert (labels.max(1) < 0.99).mean() > 0.3  # mixed rows
    validation = np.concatenate([y.numpy() for _, y in validation_ds])
    np.testing.assert_array_equal(validation, np.eye(10)[data.validation[1]])  # one-hot, unmixed
    epoch = np.concatenate([y.numpy() for _, y in data.epoch_pipeline(config, 0)])
    assert epoch.shape == labels.shape and (epoch.max(1) < 0.99).mean() > 0.3

    run = str(tmp_path / "run")
    args = ["train", "mlp", "--dataset", "digits", "--epochs", "1", "--validation-size", "100",
            "--model-arg", "hidden_units=[16]", "--mixup", "0.2", "--cutmix", "1.0",
            "--label-smoothing", "0.1", "--output", run]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with open(os.path.join(run, "run.json")) as f:
        record = json.load(f)
    assert (record["config"]["mixup"], record["config"]["cutmix"]) == (0.2, 1.0)
    assert "--mixup 0.2 --cutmix 1.0" in record["command"]
    loss = keras.saving.load_model(os.path.join(run, "model.keras")).loss
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    assert loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    metrics = run_dir.read_metrics(run)
    assert 0 <= metrics["best_val_accuracy"] <= 1 and metrics["test_accuracy"] > 0.1


def test_a_run_json_from_before_the_new_options_still_resumes_and_finishes(tmp_path):
    config = TrainConfig(**CONFIG).resolved()
    old = {k: v for k, v in config.to_dict().items()
           if k not in ("label_smoothing", "ema", "warmup_epochs", "momentum", "tta", "mixup",
                        "cutmix")}
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": old, "kzoo": "0.1"}))
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    defaults = TrainConfig.defaults()
    assert run_dir.prepare(str(run), config.to_dict(), defaults=defaults) == run_dir.RESUME
    (run / "metrics.json").write_text("{}")
    assert run_dir.prepare(str(run), config.to_dict(), defaults=defaults) == run_dir.FINISHED
    assert train(config, str(run), verbose=0) == {}  # finished: its metrics, nothing rerun
    with pytest.raises(ValueError, match="other settings.*ema: 0.0 there.*Received: ema=0.5"):
        train(TrainConfig(**{**CONFIG, "ema": 0.5}), str(run), verbose=0)


@pytest.mark.heavy
def test_ema_under_two_replicas_is_the_same_average(tmp_path):
    from kzoo.testing import two_replica_strategy

    # SwapEMAWeights swaps through the strategy (`extended.update`) under MirroredStrategy.
    steps = []
    train(TrainConfig(**{**CONFIG, "ema": 0.9}), str(tmp_path / "run"),
          strategy=two_replica_strategy(), verbose=0, callbacks=[_RawWeights(steps)])
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras")
    for got, want in zip(saved.get_weights(), _numpy_ema(steps, 0.9)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
