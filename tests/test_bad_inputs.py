"""The bad-input sweep: what a new user gets for a wrong argument, in the API and the CLI.

The contract: in the API every bad input is a `ValueError` (or a subclass;
`FileNotFoundError` only for a missing file) whose message names the
argument, what was expected and what was received; never a bare
TypeError/KeyError/AttributeError traceback, never a silent accept. In the
CLI every bad input exits non-zero with exactly one `Error:` line naming the
option or argument, and no traceback. A failed `kzoo train` leaves nothing
behind.

Each table row is `(callable-or-args, expected exception type or exit code,
regex the message must match)`, with an id.
"""

import json
import os
import re
import shutil

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kzoo
from kzoo.cli import main
from kzoo.data.images import read_image
from kzoo.models.weights import PretrainedWeights
from kzoo.optimizers.schedules import make_schedule
from kzoo.training import TrainConfig, train

# --------------------------------------------------------------------------- #
# Files a user might hand over by mistake
# --------------------------------------------------------------------------- #

GARBAGE = b"this is not a model, an image or an HDF5 file\x00\x01\x02" * 20


def _garbage(tmp, name):
    path = tmp / name
    path.write_bytes(GARBAGE)
    return str(path)


def _other_architecture(tmp, suffix):
    """A file of lenet5's weights (another architecture than lenet's)."""
    path = str(tmp / f"lenet5{suffix}")
    model = kzoo.create_model("lenet5")
    if suffix == ".weights.h5":
        model.save_weights(path)
    else:
        model.save(path)  # .keras, or a legacy full-model .h5
    return path


def _png(tmp, name="digit.png", size=(8, 8)):
    from PIL import Image

    path = str(tmp / name)
    Image.fromarray(np.zeros(size, "uint8")).save(path)
    return path


def _offline_imagenet(monkeypatch, tmp):
    """resnet50's "imagenet" file at a URL that cannot be fetched (as when offline)."""
    from kzoo.models.resnet import presets

    missing = f"file:///nonexistent/kzoo_offline_{os.getpid()}.h5"
    monkeypatch.setitem(presets.PRESETS["resnet50"], "imagenet",
                        PretrainedWeights(missing, None, missing, None))


# A TrainConfig that trains in seconds (never reached by the failing rows).
OK_CONFIG = dict(model="mlp", dataset="digits", epochs=1, batch_size=64, validation_size=100,
                 model_kwargs={"hidden_units": [8]})


def _config(**changes):
    return TrainConfig(**{**OK_CONFIG, **changes})


def _train(tmp, **changes):
    return train(_config(**changes), str(tmp / "fresh"), verbose=0)


def _builder_returning(shape, classes):
    def build(config):
        pixels = keras.Input(shape)
        x = keras.layers.Flatten()(pixels)
        return keras.Model(pixels, keras.layers.Dense(classes, activation="softmax")(x))
    return build


# --------------------------------------------------------------------------- #
# The API table: (id, fn(tmp, monkeypatch), exception type, message regex)
# --------------------------------------------------------------------------- #

V = ValueError
API_CASES = [
    # create_model: zoo checkpoints
    ("checkpoint-other-size", lambda t, m: kzoo.create_model(
        "lenet", weights="fashion_mnist", input_shape=(32, 32, 1)),
     V, r"include_top=True.*`weights='fashion_mnist'`.*Received: input_shape=\(32, 32, 1\)"),
    ("checkpoint-other-channels", lambda t, m: kzoo.create_model(
        "lenet", weights="fashion_mnist", input_shape=(28, 28, 3)),
     V, r"Received: input_shape=\(28, 28, 3\)"),
    ("checkpoint-other-classes", lambda t, m: kzoo.create_model(
        "lenet", weights="fashion_mnist", classes=5),
     V, r"`classes` should be 10.*Received: classes=5"),
    ("checkpoint-include-top-no", lambda t, m: kzoo.create_model(
        "lenet", weights="fashion_mnist", include_top="no"),
     V, r"Argument `include_top` must be True or False.*Received: include_top='no'"),
    ("include-top-no", lambda t, m: kzoo.create_model("lenet", include_top="no"),
     V, r"Argument `include_top`.*Received: include_top='no'"),
    # create_model: weights=
    ("weights-unknown-tag", lambda t, m: kzoo.create_model("lenet", weights="no_such_tag"),
     V, r"`weights` of 'lenet'.*\['fashion_mnist'\].*Received: weights='no_such_tag'"),
    ("weights-missing-file", lambda t, m: kzoo.create_model("lenet", weights="missing.h5"),
     V, r"`weights` of 'lenet'.*no such file 'missing.h5'.*\['fashion_mnist'\]"),
    ("weights-not-a-string", lambda t, m: kzoo.create_model("lenet", weights=5),
     V, r"Argument `weights`.*Received: weights=5"),
    ("weights-garbage-h5", lambda t, m: kzoo.create_model(
        "lenet", weights=_garbage(t, "x.h5")), V, r"Argument `weights`.*x\.h5"),
    ("weights-garbage-weights-h5", lambda t, m: kzoo.create_model(
        "lenet", weights=_garbage(t, "x.weights.h5")), V, r"Argument `weights`.*x\.weights\.h5"),
    ("weights-garbage-keras", lambda t, m: kzoo.create_model(
        "lenet", weights=_garbage(t, "x.keras")),
     V, r"Argument `weights`.*x\.keras.*not a \.keras"),
    ("weights-other-architecture-weights-h5", lambda t, m: kzoo.create_model(
        "lenet", weights=_other_architecture(t, ".weights.h5")),
     V, r"Argument `weights`.*lenet5\.weights\.h5.*does not fit"),
    ("weights-other-architecture-keras", lambda t, m: kzoo.create_model(
        "lenet", weights=_other_architecture(t, ".keras")),
     V, r"Argument `weights`.*lenet5\.keras.*does not fit"),
    ("weights-other-architecture-legacy-h5", lambda t, m: kzoo.create_model(
        "lenet", weights=_other_architecture(t, ".h5")),
     V, r"Argument `weights`.*lenet5\.h5.*does not fit"),
    ("weights-imagenet-classes", lambda t, m: kzoo.create_model(
        "resnet50", weights="imagenet", classes=10),
     V, r"`weights='imagenet'`.*`classes` should be 1000.*Received: classes=10"),
    ("weights-imagenet-offline", lambda t, m: (_offline_imagenet(m, t), kzoo.create_model(
        "resnet50", weights="imagenet", include_top=False)),
     kzoo.models.weights.WeightsDownloadError,
     r"'imagenet' weights of 'resnet50'.*weights='/path/to/.*Received: weights='imagenet'"),
    # create_model: builder arguments
    ("model-unknown", lambda t, m: kzoo.create_model("nope"),
     V, r"model.*Received: .*='nope'"),
    ("model-unknown-argument", lambda t, m: kzoo.create_model("lenet", foo=1),
     V, r"Argument `foo`.*'lenet'.*Received: foo=1"),
    ("pooling-mean", lambda t, m: kzoo.create_model(
        "resnet20", pooling="mean", include_top=False),
     V, r"Argument `pooling`.*Received: pooling='mean'"),
    ("input-shape-2d", lambda t, m: kzoo.create_model("resnet18", input_shape=(64, 64)),
     V, r"Argument `input_shape`.*Received: input_shape=\(64, 64\)"),
    ("input-shape-int", lambda t, m: kzoo.create_model("lenet", input_shape=5),
     V, r"Argument `input_shape`.*Received: input_shape=5"),
    ("input-shape-below-minimum", lambda t, m: kzoo.create_model(
        "vgg16", input_shape=(8, 8, 3)),
     V, r"Argument `input_shape`.*at least 32x32.*Received: input_shape=\(8, 8, 3\)"),
    ("classes-0", lambda t, m: kzoo.create_model("mlp", classes=0),
     V, r"Argument `classes`.*Received: classes=0"),
    ("conv-impl-fft", lambda t, m: kzoo.create_model("lenet", conv_impl="fft"),
     V, r"Argument `conv_impl`.*Received: conv_impl='fft'"),
    ("mlp-hidden-units-int", lambda t, m: kzoo.create_model("mlp", hidden_units=5),
     V, r"Argument `hidden_units`.*Received: hidden_units=5"),
    ("mlp-dropout-string", lambda t, m: kzoo.create_model("mlp", dropout="x"),
     V, r"Argument `dropout`.*Received: dropout='x'"),
    ("mlp-input-shape-int", lambda t, m: kzoo.create_model("mlp", input_shape=5),
     V, r"Argument `input_shape`.*Received: input_shape=5"),
    ("classifier-activation-unknown", lambda t, m: kzoo.create_model(
        "lenet", classifier_activation="nope"),
     V, r"activation.*Received: .*activation='nope'"),
    # registry
    ("list-models-int", lambda t, m: kzoo.list_models(5),
     V, r"Argument `pattern`.*Received: pattern=5"),
    ("model-info-unknown", lambda t, m: kzoo.model_info("nope"),
     V, r"`name`.*Received: name='nope'"),
    # training: TrainConfig fields, through train()
    ("config-epochs-0", lambda t, m: _train(t, epochs=0), V, r"Argument `epochs`.*epochs=0"),
    ("config-epochs-string", lambda t, m: _train(t, epochs="3"),
     V, r"Argument `epochs`.*epochs='3'"),
    ("config-batch-size-negative", lambda t, m: _train(t, batch_size=-1),
     V, r"Argument `batch_size`.*batch_size=-1"),
    ("config-learning-rate-negative", lambda t, m: _train(t, learning_rate=-1),
     V, r"Argument `learning_rate`.*learning_rate=-1"),
    ("config-weight-decay-nan", lambda t, m: _train(t, weight_decay=float("nan")),
     V, r"Argument `weight_decay`.*weight_decay=nan"),
    ("config-seed-negative", lambda t, m: _train(t, seed=-1), V, r"Argument `seed`.*seed=-1"),
    ("config-optimizer-adamax", lambda t, m: _train(t, optimizer="adamax"),
     V, r"Argument `optimizer`.*optimizer='adamax'"),
    ("config-schedule-warmup", lambda t, m: _train(t, schedule="warmup"),
     V, r"Argument `schedule`.*schedule='warmup'"),
    ("config-augment-rotate", lambda t, m: _train(t, augment="rotate"),
     V, r"augment.*Received: augment='rotate'"),
    ("config-normalize", lambda t, m: _train(t, normalize="zscore"),
     V, r"Argument `normalize`.*normalize='zscore'"),
    ("config-conv-impl", lambda t, m: _train(t, conv_impl="fft"),
     V, r"Argument `conv_impl`.*conv_impl='fft'"),
    ("config-dataset-imagenet", lambda t, m: _train(t, dataset="imagenet"),
     V, r"dataset.*Received: dataset='imagenet'"),
    ("config-model-unknown", lambda t, m: _train(t, model="nope"),
     V, r"Unknown model name.*`model`.*Received: model='nope'"),
    ("config-images-too-small-for-model", lambda t, m: _train(t, model="lenet", model_kwargs={}),
     V, r"Argument `input_shape`.*'lenet'.*at least 16x16.*Received: input_shape=\(8, 8, 1\)"),
    ("config-validation-size-too-big", lambda t, m: _train(t, validation_size=99999),
     V, r"Argument `validation_size`.*Received: validation_size=99999"),
    ("config-validation-size-negative", lambda t, m: _train(t, validation_size=-1),
     V, r"Argument `validation_size`.*validation_size=-1"),
    ("config-model-kwargs-unknown", lambda t, m: _train(t, model_kwargs={"foo": 1}),
     V, r"Argument `model_kwargs`.*'foo'.*Received: model_kwargs="),
    ("config-model-kwargs-trainer-argument", lambda t, m: _train(t, model_kwargs={"classes": 3}),
     V, r"Argument `model_kwargs`.*'classes'"),
    ("config-model-kwargs-wrong-type", lambda t, m: _train(t, model_kwargs={"hidden_units": 5}),
     V, r"hidden_units.*Received: .*hidden_units.*5"),
    ("config-model-kwargs-not-dict", lambda t, m: _train(t, model_kwargs="hidden_units=5"),
     V, r"Argument `model_kwargs` must be a dict"),
    # training: train()'s own arguments
    ("train-not-a-config", lambda t, m: train("notaconfig", str(t / "fresh")),
     V, r"Argument `config`.*Received: config='notaconfig'"),
    ("train-strategy-string", lambda t, m: train(_config(), str(t / "fresh"),
                                                 strategy="mirrored"),
     V, r"Argument `strategy`.*Received: strategy='mirrored'"),
    ("train-build-model-int", lambda t, m: train(_config(), str(t / "fresh"), build_model=5),
     V, r"Argument `build_model`.*Received: build_model=5"),
    ("train-build-model-wrong-classes", lambda t, m: train(
        _config(), str(t / "fresh"), build_model=_builder_returning((8, 8, 1), 3), verbose=0),
     V, r"Argument `build_model`.*3 outputs.*10 classes"),
    ("train-build-model-wrong-input", lambda t, m: train(
        _config(), str(t / "fresh"), build_model=_builder_returning((28, 28, 1), 10), verbose=0),
     V, r"Argument `build_model`.*\(28, 28, 1\).*\(8, 8, 1\)"),
    ("train-build-model-not-a-model", lambda t, m: train(
        _config(), str(t / "fresh"), build_model=lambda config: "model", verbose=0),
     V, r"Argument `build_model` must return a keras.Model"),
    ("train-output-is-a-file", lambda t, m: train(
        _config(), _garbage(t, "afile.txt"), verbose=0),
     V, r"Argument `output_dir`.*names a file.*afile\.txt"),
    ("publish-not-a-run", lambda t, m: kzoo.training.publish(str(t)),
     V, r"Argument `run_path`.*finished kzoo run.*Received: run_path="),
    ("evaluate-model-file-garbage", lambda t, m: kzoo.training.evaluate_model_file(
        _garbage(t, "x.keras"), "digits"),
     V, r"model_file.*x\.keras.*Received: model_file="),
    ("evaluate-model-file-missing", lambda t, m: kzoo.training.evaluate_model_file(
        str(t / "missing.keras"), "digits"),
     FileNotFoundError, r"No model file.*Received: model_file=.*missing\.keras"),
    # data
    ("load-unknown-dataset", lambda t, m: kzoo.data.load("nope", "train", 32),
     V, r"Unknown dataset.*`name`.*Received: name='nope'"),
    ("load-bad-split", lambda t, m: kzoo.data.load("digits", "val", 32),
     V, r"split.*Received: split='val'"),
    ("load-batch-size-0", lambda t, m: kzoo.data.load("digits", "train", 0),
     V, r"Argument `batch_size`.*Received: batch_size=0"),
    ("load-normalize", lambda t, m: kzoo.data.load("digits", "train", 32, normalize="zscore"),
     V, r"Argument `normalize`.*Received: normalize='zscore'"),
    ("load-arrays-validation-split", lambda t, m: kzoo.data.load_arrays("digits", "validation"),
     V, r"split.*Received: split='validation'"),
    ("read-image-channels", lambda t, m: read_image(_png(t), (8, 8), 2),
     V, r"Argument `channels`.*Received: channels=2"),
    ("read-image-missing", lambda t, m: read_image(str(t / "missing.png"), (8, 8), 1),
     FileNotFoundError, r"Argument `path`.*No image file.*missing\.png"),
    ("read-image-garbage", lambda t, m: read_image(_garbage(t, "x.png"), (8, 8), 1),
     V, r"Argument `path`.*unreadable or corrupt.*Received: path=.*x\.png"),
    # optimizers and schedules
    ("optimizer-learning-rate-negative", lambda t, m: kzoo.optimizers.get(
        "adam", learning_rate=-1), V, r"Argument `learning_rate`.*Received: learning_rate=-1"),
    ("optimizer-unknown", lambda t, m: kzoo.optimizers.get("nope"),
     V, r"Argument `name`.*Received: name='nope'"),
    ("optimizer-beta-1", lambda t, m: kzoo.optimizers.get("adam", beta_1=1.5),
     V, r"Argument `beta_1`.*Received: beta_1=1.5"),
    ("schedule-unknown", lambda t, m: make_schedule("warmup", 0.1, epochs=1, steps_per_epoch=1),
     V, r"schedule.*Received: .*'warmup'"),
    ("schedule-epochs-0", lambda t, m: make_schedule("cosine", 0.1, epochs=0, steps_per_epoch=1),
     V, r"Argument `epochs`.*Received: epochs=0"),
    # layers and initializers
    ("conv2d-filters-0", lambda t, m: kzoo.layers.Conv2D(0, 3),
     V, r"Argument `filters`.*Received: filters=0"),
    ("conv2d-implementation-fft", lambda t, m: kzoo.layers.Conv2D(8, 3, implementation="fft"),
     V, r"Argument `implementation`.*Received: implementation='fft'"),
    ("conv2d-activation-unknown", lambda t, m: kzoo.layers.Conv2D(8, 3, activation="nope"),
     V, r"Argument `activation`.*Received: activation='nope'"),
    ("maxout-0", lambda t, m: kzoo.layers.Maxout(0),
     V, r"Argument `num_units`.*Received: num_units=0"),
    ("affine-negative", lambda t, m: kzoo.layers.Affine(-1),
     V, r"Argument `units`.*Received: units=-1"),
    ("batch-norm-momentum-2", lambda t, m: kzoo.layers.BatchNorm(momentum=2),
     V, r"Argument `momentum`.*Received: momentum=2"),
    ("calculate-gain-unknown", lambda t, m: kzoo.initializers.calculate_gain("nope"),
     V, r"Argument `nonlinearity`.*Received: nonlinearity='nope'"),
    ("overfit-check-model-optimizer", lambda t, m: kzoo.training.overfit_check_model(
        "mlp", n=5, epochs=1, optimizer="adamax"),
     V, r"Argument `optimizer`.*Received: optimizer='adamax'"),
]


@pytest.mark.parametrize("call, error, pattern", [c[1:] for c in API_CASES],
                         ids=[c[0] for c in API_CASES])
def test_api_bad_input(call, error, pattern, tmp_path, monkeypatch):
    with pytest.raises(Exception) as info:
        call(tmp_path, monkeypatch)
    assert isinstance(info.value, error), (
        f"{type(info.value).__name__} instead of {error.__name__}: {info.value}")
    if isinstance(info.value, FileNotFoundError):
        assert "missing" in str(info.value)  # only for a missing file
    message = str(info.value)
    assert re.search(pattern, message, re.S), message
    # No Keras dump of objects it skipped, no talk of kzoo's internal RGB retry.
    assert "could not be loaded" not in message
    assert not re.search(r"3-channel (copy|twin)|RGB (copy|twin)", message), message
    assert not (tmp_path / "fresh").exists()  # a failed start leaves nothing behind


# --------------------------------------------------------------------------- #
# Things that looked like bad input but must work
# --------------------------------------------------------------------------- #


def test_create_model_takes_a_name():
    assert kzoo.create_model("lenet", name="mynet").name == "mynet"
    assert kzoo.create_model("lenet", weights="fashion_mnist", name="mynet").name == "mynet"


def test_checkpoint_with_an_input_tensor():
    pixels = keras.Input((28, 28, 1))
    model = kzoo.create_model("lenet", weights="fashion_mnist", input_tensor=pixels)
    assert model.inputs[0] is pixels and model.output_shape == (None, 10)
    reference = kzoo.create_model("lenet", weights="fashion_mnist")
    x = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                               atol=1e-6)


# --------------------------------------------------------------------------- #
# The CLI
# --------------------------------------------------------------------------- #

TRAIN = ["train", "mlp", "--dataset", "digits", "--epochs", "1"]
FRESH = "{tmp}/fresh"  # a new --output: must not exist after a failed start


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny finished run (an MLP on digits, one epoch) for evaluate/predict/publish."""
    run = str(tmp_path_factory.mktemp("shared") / "run")
    result = CliRunner().invoke(main, TRAIN + ["--model-arg", "hidden_units=[16]",
                                               "--output", run])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The files the CLI rows refer to, and a working directory of their own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KZOO_SAVED_MODELS", str(tmp_path / "saved_models"))
    (tmp_path / "afile.txt").write_text("a user's file\n")
    _garbage(tmp_path, "garbage.png")
    _garbage(tmp_path, "garbage.keras")
    _png(tmp_path, "digit.png")
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "notes.txt").write_text("my notes\n")
    (tmp_path / "notarun").mkdir()
    return tmp_path


USAGE = 2  # click's usage errors
CLI_CASES = [
    # kzoo train: --output
    ("train-output-is-a-file", TRAIN + ["--output", "{tmp}/afile.txt"], 1,
     r"`output_dir` \(--output\) names a file.*afile\.txt"),
    ("train-output-is-a-file-overwrite", TRAIN + ["--output", "{tmp}/afile.txt", "--overwrite"],
     1, r"`output_dir` \(--output\) names a file.*afile\.txt"),
    ("train-output-under-a-file", TRAIN + ["--output", "{tmp}/afile.txt/run"], 1,
     r"`output_dir` \(--output\) lies under .*afile\.txt"),
    ("train-output-users-folder", TRAIN + ["--output", "{tmp}/userdir"], 1,
     r"`output_dir` \(--output\) is a non-empty folder that is not a kzoo run"),
    ("train-output-users-folder-overwrite", TRAIN + ["--output", "{tmp}/userdir", "--overwrite"],
     1, r"`output_dir` \(--output\) is a non-empty folder that is not a kzoo run.*--overwrite"),
    # kzoo train: --model-arg
    ("train-model-arg-unknown", TRAIN + ["--model-arg", "foo=1", "--output", FRESH], 1,
     r"`model_kwargs`.*no argument 'foo'"),
    ("train-model-arg-wrong-type", TRAIN + ["--model-arg", "hidden_units=5", "--output", FRESH],
     1, r"hidden_units.*Received: .*hidden_units.*5"),
    ("train-model-arg-bad-dropout", TRAIN + ["--model-arg", "dropout=2", "--output", FRESH], 1,
     r"Argument `dropout`.*Received: dropout=2"),
    ("train-model-arg-no-value", TRAIN + ["--model-arg", "novalue", "--output", FRESH], 1,
     r"--model-arg takes KEY=VALUE.*'novalue'"),
    ("train-model-arg-no-key", TRAIN + ["--model-arg", "=1", "--output", FRESH], 1,
     r"--model-arg takes KEY=VALUE.*'=1'"),
    ("train-model-arg-trainer-argument", TRAIN + ["--model-arg", "classes=3", "--output", FRESH],
     1, r"`model_kwargs` cannot set 'classes'"),
    ("train-model-arg-include-top", TRAIN + ["--model-arg", "include_top=false",
                                             "--output", FRESH],
     1, r"`model_kwargs` cannot set 'include_top'"),
    # kzoo train: the other options
    ("train-validation-size-too-big", TRAIN + ["--validation-size", "99999", "--output", FRESH],
     1, r"Argument `validation_size`.*Received: validation_size=99999"),
    ("train-validation-size-negative", TRAIN + ["--validation-size", "-1", "--output", FRESH],
     1, r"Argument `validation_size`.*Received: validation_size=-1"),
    ("train-epochs-0", TRAIN + ["--epochs", "0", "--output", FRESH], 1,
     r"Argument `epochs`.*Received: epochs=0"),
    ("train-epochs-not-int", TRAIN + ["--epochs", "many", "--output", FRESH], USAGE,
     r"Invalid value for '--epochs'"),
    ("train-batch-size-negative", TRAIN + ["--batch-size", "-1", "--output", FRESH], 1,
     r"Argument `batch_size`.*Received: batch_size=-1"),
    ("train-learning-rate-negative", TRAIN + ["--learning-rate", "-1", "--output", FRESH], 1,
     r"Argument `learning_rate`.*Received: learning_rate=-1"),
    ("train-learning-rate-nan", TRAIN + ["--learning-rate", "nan", "--output", FRESH], 1,
     r"Argument `learning_rate`.*Received: learning_rate=nan"),
    ("train-weight-decay-negative", TRAIN + ["--weight-decay", "-0.1", "--output", FRESH], 1,
     r"Argument `weight_decay`.*Received: weight_decay=-0.1"),
    ("train-seed-negative", TRAIN + ["--seed", "-1", "--output", FRESH], 1,
     r"Argument `seed`.*Received: seed=-1"),
    ("train-augment-rotate", TRAIN + ["--augment", "rotate", "--output", FRESH], 1,
     r"augment.*Received: augment='rotate'"),
    ("train-dataset-imagenet", ["train", "mlp", "--dataset", "imagenet", "--output", FRESH], 1,
     r"dataset.*Received: dataset='imagenet'"),
    ("train-model-unknown", ["train", "nope", "--dataset", "digits", "--output", FRESH], 1,
     r"Unknown model name.*`model`.*Received: model='nope'"),
    ("train-images-too-small-for-model", ["train", "lenet", "--dataset", "digits",
                                          "--output", FRESH], 1,
     r"Argument `input_shape`.*'lenet'.*at least 16x16.*Received: input_shape=\(8, 8, 1\)"),
    ("train-no-model", ["train", "--dataset", "digits", "--output", FRESH], USAGE,
     r"Missing argument 'MODEL'"),
    ("train-schedule-warmup", TRAIN + ["--schedule", "warmup", "--output", FRESH], USAGE,
     r"Invalid value for '--schedule'.*'warmup'"),
    ("train-optimizer-adamax", TRAIN + ["--optimizer", "adamax", "--output", FRESH], USAGE,
     r"Invalid value for '--optimizer'.*'adamax'"),
    ("train-normalize", TRAIN + ["--normalize", "zscore", "--output", FRESH], USAGE,
     r"Invalid value for '--normalize'"),
    ("train-conv-impl", TRAIN + ["--conv-impl", "fft", "--output", FRESH], USAGE,
     r"Invalid value for '--conv-impl'"),
    # kzoo info / list
    ("info-unknown", ["info", "nope"], 1, r"model.*Received: name='nope'"),
    # kzoo evaluate
    ("evaluate-missing", ["evaluate", "{tmp}/missing"], 1,
     r"RUN_OR_MODEL_FILE.*No model file at .*missing"),
    ("evaluate-garbage-keras", ["evaluate", "{tmp}/garbage.keras", "--dataset", "digits"], 1,
     r"garbage\.keras.*not a \.keras"),
    ("evaluate-unknown-dataset", ["evaluate", "{run}", "--dataset", "nope"], 1,
     r"dataset.*Received: dataset='nope'"),
    ("evaluate-other-dataset", ["evaluate", "{run}", "--dataset", "fashion_mnist"], 1,
     r"\(8, 8, 1\).*\(28, 28, 1\).*Received: dataset='fashion_mnist'"),
    ("evaluate-batch-size-0", ["evaluate", "{run}", "--batch-size", "0"], USAGE,
     r"Invalid value for '--batch-size'"),
    ("evaluate-not-a-run", ["evaluate", "{tmp}/notarun", "--dataset", "digits"], 1,
     r"RUN_OR_MODEL_FILE.*No model file"),
    # kzoo predict
    ("predict-missing-image", ["predict", "{run}", "{tmp}/missing.png"], 1,
     r"IMAGES.*No image file.*missing\.png"),
    ("predict-garbage-image", ["predict", "{run}", "{tmp}/garbage.png"], 1,
     r"IMAGES.*garbage\.png.*unreadable or corrupt"),
    ("predict-missing-model", ["predict", "{tmp}/missing", "{tmp}/digit.png"], 1,
     r"MODEL_FILE.*No model file"),
    ("predict-garbage-model", ["predict", "{tmp}/garbage.keras", "{tmp}/digit.png"], 1,
     r"garbage\.keras.*not a \.keras"),
    ("predict-not-an-image-model", ["predict", "{flat_model}", "{tmp}/digit.png"], 1,
     r"MODEL_FILE.*takes inputs of shape \(64,\), not images"),
    ("predict-no-images", ["predict", "{run}"], USAGE, r"Missing argument 'IMAGES"),
    ("predict-top-k-0", ["predict", "{run}", "{tmp}/digit.png", "--top-k", "0"], USAGE,
     r"Invalid value for '--top-k'"),
    # kzoo publish
    ("publish-not-a-run", ["publish", "{tmp}/notarun"], 1,
     r"RUN_DIR.*finished kzoo run.*notarun"),
    ("publish-bad-name", ["publish", "{run}", "--name", "my net!"], 1,
     r"Argument `name`.*Received: name='my net!'"),
    # kzoo overfit-check
    ("overfit-check-unknown-model", ["overfit-check", "nope"], 1, r"model.*Received: .*'nope'"),
    ("overfit-check-n-0", ["overfit-check", "mlp", "--n", "0"], USAGE, r"Invalid value for '--n'"),
    ("overfit-check-n-too-big", ["overfit-check", "mlp", "--n", "99999"], 1,
     r"Argument `n`.*Received: n=99999"),
    ("overfit-check-unknown-dataset", ["overfit-check", "mlp", "--dataset", "nope"], 1,
     r"`dataset`.*Received: dataset='nope'"),
    ("overfit-check-unknown-optimizer", ["overfit-check", "mlp", "--optimizer", "adamax"], 1,
     r"optimizer.*Received: optimizer='adamax'"),
    ("overfit-check-learning-rate-negative", ["overfit-check", "mlp", "--learning-rate", "-1"],
     1, r"Argument `learning_rate`.*Received: learning_rate=-1"),
    # kzoo activation-stats / demo
    ("activation-stats-layers-0", ["activation-stats", "--layers", "0"], USAGE,
     r"Invalid value for '--layers'"),
    ("demo-epochs-0", ["demo", "--epochs", "0"], USAGE, r"Invalid value for '--epochs'"),
    ("unknown-command", ["fit", "mlp"], USAGE, r"No such command 'fit'"),
]


@pytest.fixture
def flat_model(workspace):
    """A .keras model whose input is not an image."""
    path = str(workspace / "flat.keras")
    kzoo.create_model("mlp", input_shape=(64,), hidden_units=[4]).save(path)
    return path


def _needs(args, name):
    return any("{%s}" % name in a for a in args)


@pytest.mark.parametrize("args, exit_code, pattern", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(args, exit_code, pattern, workspace, request):
    run = request.getfixturevalue("trained_run") if _needs(args, "run") else None
    flat = request.getfixturevalue("flat_model") if _needs(args, "flat_model") else None
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, [a.format(tmp=workspace, run=run, flat_model=flat)
                                       for a in args])
    output = result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no crash
    assert result.exit_code == exit_code, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert re.search(pattern, errors[0]), errors[0]
    assert not (workspace / "fresh").exists(), "a failed start left its --output behind"
    after = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing removed


def test_users_folder_survives_overwrite(workspace):
    user = workspace / "userdir"
    (user / "data.bin").write_bytes(bytes(range(256)))
    (user / "sub").mkdir()
    (user / "sub" / "run.json").write_text('{"not": "kzoo"}')  # not kzoo's run.json either
    before = {p.relative_to(user): p.read_bytes() for p in user.rglob("*") if p.is_file()}
    for extra in ([], ["--overwrite"]):
        result = CliRunner().invoke(main, TRAIN + ["--output", str(user)] + extra)
        assert result.exit_code == 1 and "not a kzoo run" in result.output, result.output
    after = {p.relative_to(user): p.read_bytes() for p in user.rglob("*") if p.is_file()}
    assert after == before


def test_default_validation_size_trains(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, TRAIN + ["--model-arg", "hidden_units=[8]",
                                               "--output", str(run)])
    assert result.exit_code == 0, result.output
    with open(run / "run.json") as f:
        assert json.load(f)["config"]["validation_size"] == 1438 // 10


def test_overwrite_restarts_a_kzoo_run(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    with open(run / "metrics.json") as f:
        metrics = json.load(f)
    (run / "metrics.json").write_text(json.dumps({**metrics, "marker": True}))
    command = TRAIN + ["--model-arg", "hidden_units=[16]", "--output", str(run)]
    again = CliRunner().invoke(main, command)  # same command: reports the finished run
    assert again.exit_code == 0 and "marker" in (run / "metrics.json").read_text()
    result = CliRunner().invoke(main, command + ["--overwrite"])
    assert result.exit_code == 0, result.output
    assert "marker" not in (run / "metrics.json").read_text()  # trained afresh
    assert (run / "model.keras").is_file()


def test_a_failed_start_does_not_block_the_corrected_command(trained_run, tmp_path):
    # What a start that failed after validation leaves: only run.json (of other settings).
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(os.path.join(trained_run, "run.json"), run / "run.json")
    result = CliRunner().invoke(main, TRAIN + ["--model-arg", "hidden_units=[8]",
                                               "--output", str(run)])
    assert result.exit_code == 0, result.output
    with open(run / "run.json") as f:
        assert json.load(f)["config"]["model_kwargs"] == {"hidden_units": [8]}
    assert (run / "metrics.json").is_file()


def test_the_table_is_big_enough():
    assert len(API_CASES) + len(CLI_CASES) >= 60
    for table in (API_CASES, CLI_CASES):
        ids = [case[0] for case in table]
        assert len(set(ids)) == len(ids)
