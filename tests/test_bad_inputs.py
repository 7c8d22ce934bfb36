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

import importlib
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
from kzoo.serving.export import load_source as export_source
from kzoo.serving import server as serving
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


def _damaged(tmp, relative, text):
    """Writes `text` (not JSON) to `tmp/relative`; returns the folder of its stage."""
    path = tmp / relative
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return str(tmp / relative.split("/")[0])


def _stage_space(stage_dir):
    """Stage 2's space of the search in `stage_dir`'s parent, read back from its space.json."""
    search = importlib.import_module("kzoo.tuning.search")  # the module, not the function
    space = kzoo.tuning.load_space("mlp", "mlp")
    return search._stage_space(os.path.dirname(stage_dir), kzoo.tuning.stages.Stage(2, 4, 2),
                               space, space, "single", 5, "mlp")


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


def _keras_file(tmp, name, damage):
    """A tiny model's .keras file, damaged: `"empty"`, `"truncated"`, `"no_config"`
    (the zip without config.json) or `"config_not_json"`."""
    import zipfile

    good = str(tmp / "good.keras")
    kzoo.create_model("mlp", input_shape=(8, 8, 1), hidden_units=[4]).save(good)
    path = tmp / name
    data = open(good, "rb").read()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    else:
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as out:
            for member in source.namelist():
                if member != "config.json":
                    out.writestr(member, source.read(member))
                elif damage == "config_not_json":
                    out.writestr(member, b'{"class_name": "Functio')
    return str(path)


def _tiny_classifier(classes=3):
    """A `kzoo.transfer.classifier` on a one-convolution base of 8x8 grey images."""
    pixels = keras.Input((8, 8, 1))
    base = keras.Model(pixels, keras.layers.Conv2D(4, 3, name="conv")(pixels))
    return kzoo.transfer.classifier(base, classes)


def _fine_tune(images=None, labels=None, classes=3, **kwargs):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (12, 8, 8, 1)).astype("float32") if images is None else images
    labels = np.arange(12) % 3 if labels is None else labels
    kwargs.setdefault("epochs", 1)
    return kzoo.transfer.fine_tune(_tiny_classifier(classes), (images, labels), verbose=0,
                                   **kwargs)


def _nan_images():
    images = np.full((12, 8, 8, 1), 128.0, "float32")
    images[3, 2, 2, 0] = np.nan
    return images


def _idx(path, array):
    """`array` (uint8) as an IDX file at `path`."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype("uint8").tobytes())


def _mnist_idx(tmp, monkeypatch, *, label=None, gz_not_gzip=False):
    """A small MNIST in IDX files under $KZOO_DATA_DIR (tensorflow-datasets out of the way):
    label 5 of the training split set to `label`; or a train-images .gz that is not gzip."""
    folder = tmp / "data" / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 300), ("test", 50)):
        images, labels = np.zeros((n, 28, 28), "uint8"), np.arange(n) % 10
        if split == "train" and label is not None:
            labels[5] = label
        stem_images, stem_labels = kzoo.data.catalog.IDX_FILES[split]
        _idx(folder / stem_images, images)
        _idx(folder / stem_labels, labels)
    if gz_not_gzip:
        (folder / "train-images-idx3-ubyte.gz").write_bytes(GARBAGE)
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp / "data"))
    monkeypatch.setattr(kzoo.data.sources, "from_tfds", lambda *args, **kwargs: None)


def _run_to_resume(tmp, *, history="epoch,loss\n0,1.5\n1,1.2\n2,1.1\n", metrics=None,
                   run_json=None):
    """A run directory of `_config()` as a session killed after 3 epochs leaves it, with its
    checkpoint lost; `history`, `metrics` (metrics.json) and `run_json` as given."""
    from kzoo.training import run_dir

    path = tmp / "run"
    run_dir.start(str(path), {"config": _config().resolved().to_dict(), "kzoo": "test"})
    if history is not None:
        (path / "history.csv").write_text(history)
    if metrics is not None:
        (path / "metrics.json").write_text(metrics)
    if run_json is not None:
        (path / "run.json").write_text(run_json)
    return str(path)


def _run_with_garbage_model(tmp):
    path = _run_to_resume(tmp)
    _garbage(tmp / "run", "model.keras")
    return path


def _utf16_space(tmp):
    path = tmp / "space.toml"
    path.write_bytes('[learning_rate]\ntype = "log_uniform"\nmin = 1e-4\nmax = 1e-2\n'
                     .encode("utf-16"))
    return str(path)


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
    # One .keras loader for load_base, export, evaluate and predict (issue 30)
    ("load-base-garbage-keras", lambda t, m: kzoo.transfer.load_base(_garbage(t, "x.keras")),
     V, r"Argument `source`: .*x\.keras' is not a \.keras file.*corrupt, truncated"),
    ("load-base-empty-keras", lambda t, m: kzoo.transfer.load_base(
        _keras_file(t, "x.keras", "empty")), V, r"Argument `source`: .*x\.keras'.*empty"),
    ("load-base-truncated-keras", lambda t, m: kzoo.transfer.load_base(
        _keras_file(t, "x.keras", "truncated")),
     V, r"Argument `source`: .*x\.keras'.*corrupt, truncated"),
    ("load-base-keras-without-config", lambda t, m: kzoo.transfer.load_base(
        _keras_file(t, "x.keras", "no_config")),
     V, r"Argument `source`: .*x\.keras'.*no config\.json.*Received: source="),
    ("load-base-keras-config-not-json", lambda t, m: kzoo.transfer.load_base(
        _keras_file(t, "x.keras", "config_not_json")),
     V, r"Argument `source`: .*x\.keras' is a damaged .keras file: its config\.json is not JSON"),
    ("load-base-run-with-garbage-model", lambda t, m: kzoo.transfer.load_base(
        _run_with_garbage_model(t)),
     V, r"Argument `source`: .*run/model\.keras' is not a \.keras file"),
    ("export-source-config-not-json", lambda t, m: export_source(
        _keras_file(t, "x.keras", "config_not_json")),
     V, r"Argument `source`: .*x\.keras'.*config\.json is not JSON"),
    ("evaluate-model-file-without-config", lambda t, m: kzoo.training.evaluate_model_file(
        _keras_file(t, "x.keras", "no_config"), "digits"),
     V, r"Argument `model_file`: .*x\.keras'.*no config\.json"),
    # fine_tune: the data, before training
    ("fine-tune-lengths-differ", lambda t, m: _fine_tune(labels=np.arange(5) % 3),
     V, r"Argument `train_data`.*as many.*Received: 12 images and 5 labels"),
    ("fine-tune-label-out-of-range", lambda t, m: _fine_tune(labels=np.r_[np.arange(11) % 3, 3]),
     V, r"Argument `train_data`.*\[0, 3\).*Received: labels\[11\]=3"),
    ("fine-tune-label-negative", lambda t, m: _fine_tune(labels=np.r_[-1, np.arange(11) % 3]),
     V, r"Argument `train_data`.*\[0, 3\).*Received: labels\[0\]=-1"),
    ("fine-tune-label-fractional", lambda t, m: _fine_tune(labels=np.arange(12) % 3 + 0.5),
     V, r"Argument `train_data`.*integer class indices.*Received: labels\[0\]=0\.5"),
    ("fine-tune-images-wrong-shape", lambda t, m: _fine_tune(
        images=np.zeros((12, 28, 28, 1), "float32")),
     V, r"Argument `train_data`.*\(N, \*\(8, 8, 1\)\).*Received: images of shape "
        r"\(12, 28, 28, 1\)"),
    ("fine-tune-images-nan", lambda t, m: _fine_tune(images=_nan_images()),
     V, r"Argument `train_data`.*finite.*Received: 1 NaN or infinite values"),
    ("fine-tune-one-class", lambda t, m: _fine_tune(labels=np.zeros(12, "int64"), classes=1),
     V, r"Argument `model` must classify into at least 2 classes.*with 1 class"),
    ("fine-tune-epochs-huge", lambda t, m: _fine_tune(epochs=10**23),
     V, r"Argument `epochs` must be an int >= 1, at most 10,000. Received: epochs=10{23}"),
    ("fine-tune-validation-nan", lambda t, m: _fine_tune(
        validation_data=(_nan_images(), np.arange(12) % 3)),
     V, r"Argument `validation_data`.*finite"),
    ("cam-images-nan", lambda t, m: kzoo.transfer.class_activation_map(
        _tiny_classifier(), _nan_images()), V, r"Argument `images` must be finite.*1 NaN"),
    ("finetune-config-one-class", lambda t, m: kzoo.transfer.finetune(
        kzoo.transfer.FinetuneConfig("lenet_fashion_mnist", "digits", classes="4"),
        str(t / "fresh")), V, r"Argument `classes` must keep at least 2 classes.*classes='4'"),
    # Counts bounded to what can finish
    ("config-epochs-huge", lambda t, m: _train(t, epochs=10**23),
     V, r"Argument `epochs` must be an int >= 1, at most 10,000. Received: epochs=10{23}"),
    ("config-batch-size-huge", lambda t, m: _train(t, batch_size=10**9),
     V, r"Argument `batch_size`.*at most 65,536.*Received: batch_size=1000000000"),
    ("config-seed-huge", lambda t, m: _train(t, seed=2**32),
     V, r"Argument `seed`.*at most 4,294,967,295.*Received: seed=4294967296"),
    # Data files
    ("idx-label-beyond-classes", lambda t, m: (_mnist_idx(t, m, label=12), _train(
        t, dataset="mnist")),
     V, r"Dataset 'mnist' has 10 classes.*IDX file .*train-labels-idx1-ubyte' holds label 12"),
    ("idx-gz-not-gzip", lambda t, m: (_mnist_idx(t, m, gz_not_gzip=True), _train(
        t, dataset="mnist")),
     V, r"IDX file .*train-images-idx3-ubyte\.gz' cannot be read.*Received: path="),
    ("space-utf16-toml", lambda t, m: kzoo.tuning.load_space(_utf16_space(t), "mlp"),
     V, r"Argument `space`: .*space\.toml is not a TOML text file.*UTF-16"),
    # Run files: named, said damaged, with the way out
    ("train-resume-checkpoint-lost", lambda t, m: train(_config(), _run_to_resume(t), verbose=0),
     V, r"run' cannot resume: its history\.csv records 3 completed epochs, but its checkpoint "
        r".* is missing.*--overwrite"),
    ("train-resume-history-damaged", lambda t, m: train(
        _config(), _run_to_resume(t, history="epoch,loss\n0,1.5\n1,\"unterminated"), verbose=0),
     V, r"Run file .*history\.csv' is damaged.*--overwrite"),
    ("train-finished-metrics-damaged", lambda t, m: train(
        _config(), _run_to_resume(t, metrics='{"test_accuracy": 0.9, "x": "unter'), verbose=0),
     V, r"Run file .*metrics\.json' is damaged \(not JSON: Unterminated.*--overwrite"),
    ("train-run-json-damaged", lambda t, m: train(
        _config(), _run_to_resume(t, run_json='{"config": {"model": "ml'), verbose=0),
     V, r"Run file .*run\.json' is damaged \(not JSON.*choose another --output"),
    # kzoo.serving: every numeric option finite and in range, before anything starts
    ("serve-poll-nan", lambda t, m: serving.serve(str(t), port=0, poll=float("nan")),
     V, r"Argument `poll` \(--poll-seconds\).*Received: poll=nan"),
    ("serve-batch-timeout-inf", lambda t, m: serving.serve(
        str(t), port=0, batching=True, batch_timeout_ms=float("inf")),
     V, r"Argument `batch_timeout_ms` \(--batch-timeout-ms\).*Received: batch_timeout_ms=inf"),
    ("serve-max-batch-size-negative-unbatched", lambda t, m: serving.serve(
        str(t), port=0, max_batch_size=-1),
     V, r"Argument `max_batch_size` \(--max-batch-size\).*Received: max_batch_size=-1"),
    ("serve-max-image-pixels-negative", lambda t, m: serving.serve(
        str(t), port=0, max_image_pixels=-1),
     V, r"Argument `max_image_pixels` \(--max-image-pixels\).*Received: max_image_pixels=-1"),
    ("model-server-max-body-inf", lambda t, m: serving.ModelServer(
        str(t), "127.0.0.1", 0, max_body=float("inf")),
     V, r"Argument `max_body` \(--max-body-mb\).*Received: max_body=inf"),
    ("model-server-port-too-big", lambda t, m: serving.ModelServer(str(t), "127.0.0.1", 70000),
     V, r"Argument `port` \(--port\).*0, 65535.*Received: port=70000"),
    ("batcher-timeout-nan", lambda t, m: serving.Batcher(timeout_ms=float("nan")),
     V, r"Argument `timeout_ms` \(--batch-timeout-ms\).*Received: timeout_ms=nan"),
    # kzoo.tuning: the counts bounded as in the CLI; damaged state files named
    ("search-max-trials-huge", lambda t, m: kzoo.tuning.search(
        "mlp", dataset="digits", space="mlp", max_trials=10**23, output_dir=str(t / "fresh")),
     V, r"Argument `max_trials` must be an int >= 1, at most 10,000. Received: max_trials=10{23}"),
    ("search-stages-huge", lambda t, m: kzoo.tuning.search(
        "mlp", dataset="digits", space="mlp", stages="4x2,99999x2", output_dir=str(t / "fresh")),
     V, r"Argument `stages` must have at most 10,000 trials.*stage 2: 99999x2"),
    ("search-trial-record-damaged", lambda t, m: kzoo.tuning.tuner.read_records(
        _damaged(t, "stage1/trial_0001/kzoo_trial.json", '{"trial_id": "00')),
     V, r"Run file .*kzoo_trial\.json' is damaged \(not JSON.*remove its trial folder .*"
        r"trial_0001'.*--overwrite"),
    ("search-space-json-damaged", lambda t, m: _stage_space(
        _damaged(t, "stage2/space.json", '{"parameters": [')),
     V, r"Run file .*stage2.space\.json' is damaged \(not JSON.*delete it.*--overwrite"),
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
    ("evaluate-batch-size-huge", ["evaluate", "{tmp}/garbage.keras", "--batch-size",
                                  "99999999999999999999999"], USAGE,
     r"Invalid value for '--batch-size'.*1<=x<=65536"),
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
    # issue 30: .keras files, counts, options that do nothing
    ("finetune-garbage-keras", ["finetune", "{tmp}/garbage.keras", "--dataset", "digits",
                                "--output", FRESH], 1,
     r"Argument `source`: .*garbage\.keras' is not a \.keras file.*corrupt, truncated"),
    ("export-garbage-keras", ["export", "{tmp}/garbage.keras", "--name", "x",
                              "--base", "{tmp}/fresh"], 1,
     r"Argument `source`: .*garbage\.keras' is not a \.keras file"),
    ("finetune-one-class", ["finetune", "lenet_fashion_mnist", "--dataset", "digits",
                            "--classes", "4", "--output", FRESH], 1,
     r"Argument `classes` must keep at least 2 classes.*Received: classes='4'"),
    ("finetune-epochs-huge", ["finetune", "lenet_fashion_mnist", "--dataset", "digits",
                              "--epochs", "99999999999999999999999", "--output", FRESH], 1,
     r"Argument `epochs` must be an int >= 1, at most 10,000"),
    ("finetune-head-epochs-all", ["finetune", "lenet_fashion_mnist", "--dataset", "digits",
                                  "--epochs", "4", "--head-epochs", "4", "--output", FRESH], 1,
     r"Argument `head_epochs` must be below `epochs` \(4\).*Received: head_epochs=4"),
    ("finetune-learning-rate-inf", ["finetune", "lenet_fashion_mnist", "--dataset", "digits",
                                    "--learning-rate", "inf", "--output", FRESH], 1,
     r"Argument `learning_rate` must be a finite number > 0. Received: learning_rate=inf"),
    ("train-epochs-huge", TRAIN + ["--epochs", "99999999999999999999999", "--output", FRESH], 1,
     r"Argument `epochs` must be an int >= 1, at most 10,000. Received: epochs=9{23}"),
    ("train-cpu-replicas-huge", TRAIN + ["--cpu-replicas", "100000", "--output", FRESH], USAGE,
     r"Invalid value for '--cpu-replicas': 100000 is not in the range x<=64"),
    ("tune-max-trials-huge", ["tune", "mlp", "--dataset", "digits", "--max-trials",
                              "99999999999999999999999", "--output", FRESH], 1,
     r"Argument `max_trials` \(--max-trials\) must be an int >= 1, at most 10,000"),
    ("tune-epochs-huge", ["tune", "mlp", "--dataset", "digits", "--epochs", "99999999",
                          "--output", FRESH], 1,
     r"Argument `epochs` \(--epochs\) must be an int >= 1, at most 10,000"),
    ("tune-stages-huge", ["tune", "mlp", "--dataset", "digits", "--stages", "4x2,99999999x2",
                          "--output", FRESH], 1,
     r"Argument `stages` \(--stages\).*at most 10,000 trials.*stage 2: 99999999x2"),
    ("tune-workers-huge", ["tune", "mlp", "--dataset", "digits", "--workers", "99999",
                           "--output", FRESH], 1, r"Argument `workers` \(--workers\).*at most 64"),
    ("tune-strategy-multi-worker", ["tune", "mlp", "--dataset", "digits", "--strategy",
                                    "multi_worker", "--output", FRESH], USAGE,
     r"Invalid value for '--strategy': 'multi_worker': .*--workers N.*KERASTUNER_"),
    ("unknown-command", ["fit", "mlp"], USAGE, r"No such command 'fit'"),
    # kzoo serve: every numeric option finite and in range, before anything starts
    ("serve-poll-seconds-inf", ["serve", "{tmp}", "--poll-seconds", "inf"], 1,
     r"Argument `poll` \(--poll-seconds\) must be a finite number.*Received: poll=inf"),
    ("serve-poll-seconds-nan", ["serve", "{tmp}", "--poll-seconds", "nan"], 1,
     r"Argument `poll` \(--poll-seconds\).*Received: poll=nan"),
    ("serve-max-body-mb-inf", ["serve", "{tmp}", "--max-body-mb", "inf"], 1,
     r"Argument `max_body_mb` \(--max-body-mb\).*Received: max_body_mb=inf"),
    ("serve-batch-timeout-ms-nan", ["serve", "{tmp}", "--batching", "--batch-timeout-ms",
                                    "nan"], 1,
     r"Argument `batch_timeout_ms` \(--batch-timeout-ms\).*Received: batch_timeout_ms=nan"),
    ("serve-batch-timeout-ms-inf-unbatched", ["serve", "{tmp}", "--batch-timeout-ms", "inf"],
     1, r"Argument `batch_timeout_ms` \(--batch-timeout-ms\).*Received: batch_timeout_ms=inf"),
    ("serve-max-batch-size-negative", ["serve", "{tmp}", "--batching", "--max-batch-size",
                                       "-4"], 1,
     r"Argument `max_batch_size` \(--max-batch-size\).*Received: max_batch_size=-4"),
    ("serve-num-batch-threads-0", ["serve", "{tmp}", "--num-batch-threads", "0"], 1,
     r"Argument `num_batch_threads` \(--num-batch-threads\).*Received: num_batch_threads=0"),
    ("serve-port-too-big", ["serve", "{tmp}", "--port", "70000"], 1,
     r"Argument `port` \(--port\).*Received: port=70000"),
    ("serve-max-image-pixels-negative", ["serve", "{tmp}", "--max-image-pixels", "-1"], 1,
     r"Argument `max_image_pixels` \(--max-image-pixels\).*Received: max_image_pixels=-1"),
    ("serve-config-poll-inf", ["serve", "--model-config-file", "{tmp}/none.config",
                               "--model-config-file-poll-wait-seconds", "inf"], 1,
     r"`model_config_file_poll_wait_seconds` \(--model-config-file-poll-wait-seconds\)"
     r".*Received: model_config_file_poll_wait_seconds=inf"),
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


def test_options_that_do_nothing_are_named(workspace):
    # Each warning names the option and the one that makes it do nothing; the search then
    # fails on its dataset, before anything is written.
    tune = ["tune", "mlp", "--dataset", "nope", "--output", str(workspace / "fresh")]
    result = CliRunner().invoke(main, tune + ["--stages", "2x1", "--max-trials", "5",
                                              "--epochs", "3"])
    assert result.exit_code == 1, result.output
    assert "kzoo: warning: --max-trials does nothing with --stages" in result.output
    assert "kzoo: warning: --epochs does nothing with --stages" in result.output
    result = CliRunner().invoke(main, tune + ["--top-k", "3"])
    assert "kzoo: warning: --top-k does nothing without --stages" in result.output
    result = CliRunner().invoke(main, tune + ["--stages", "2x1"])  # nothing given in vain
    assert "warning" not in result.output
    assert not (workspace / "fresh").exists()


def test_predict_names_a_damaged_metrics_file(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "metrics.json").write_text('{"class_names": ["0", "1')
    result = CliRunner().invoke(main, ["predict", str(run), _png(tmp_path)])
    assert result.exit_code == 0, result.output
    assert re.search(r"kzoo: warning: Run file .*metrics\.json' is damaged \(not JSON",
                     result.output), result.output


def test_tune_does_not_offer_multi_worker():
    text = " ".join(CliRunner().invoke(main, ["tune", "--help"]).output.split())
    assert "[auto|default|one_device|mirrored]" in text
    assert "'multi_worker' is not offered here" in text


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
