"""fine_tune(): linear on real digits with the shipped LeNet, head, full, auto, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from transfer_helpers import weight_bytes

import kzoo
from kzoo.transfer import LayerwiseOptimizer


def _digits_classifier(lenet_features):
    # 8×8 digits, resized to the checkpoint's 28×28 inside the model.
    return kzoo.transfer.classifier(lenet_features, 10, input_shape=(8, 8, 1), pooling="flatten")


def _base_layers(model):
    return [layer for layer in model.layers[:model.layers.index(model.get_layer("pooler"))]]


class _Snapshot(keras.callbacks.Callback):
    """Weight bytes of `layers` at the end of every epoch."""

    def __init__(self, layers):
        super().__init__()
        self.layers, self.epochs = layers, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(weight_bytes(self.layers))


def test_linear_on_real_digits_keeps_the_features_bit_for_bit(lenet_features, digits_pixels):
    (x, y), (x_test, y_test) = digits_pixels
    model = _digits_classifier(lenet_features)
    base = _base_layers(model)
    before = weight_bytes(base)
    head_before = weight_bytes([model.get_layer("predictions")])
    history = kzoo.transfer.fine_tune(model, (x, y), (x_test, y_test), mode="linear", epochs=3,
                                      learning_rate=1e-2, verbose=0)
    assert weight_bytes(base) == before
    assert weight_bytes([model.get_layer("predictions")]) != head_before
    assert history.mode == "linear"
    assert history.phases == [{"name": "linear", "epochs": 3, "trainable": ["predictions"]}]
    assert history.epoch == [0, 1, 2]
    # Ten classes: chance is 0.1; frozen Fashion-MNIST features separate the digits.
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)


def test_full_trains_the_head_first_then_recompiles_for_everything(lenet_features, digits_pixels):
    (x, y), _ = digits_pixels
    model = _digits_classifier(lenet_features)
    base = _base_layers(model)
    before = weight_bytes(base)
    snapshot = _Snapshot(base)
    history = kzoo.transfer.fine_tune(model, (x[:256], y[:256]), mode="full", epochs=2,
                                      head_epochs=1, callbacks=[snapshot], verbose=0)
    assert snapshot.epochs[0] == before  # phase 1: the head only
    assert snapshot.epochs[1] != before  # phase 2: the base trains too
    changed = {path.split("/")[0] for path in before if snapshot.epochs[1][path] != before[path]}
    assert changed == {"block1_conv", "block2_conv"}
    assert [p["name"] for p in history.phases] == ["head", "full"]
    assert history.phases[1]["trainable"] == ["block1_conv", "block2_conv", "predictions"]
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    # Recompiled: the base at learning_rate × base_lr_factor, the head at learning_rate.
    optimizer = model.optimizer
    assert isinstance(optimizer, LayerwiseOptimizer)
    assert optimizer.multipliers == {"block1_conv": 0.1, "block2_conv": 0.1}
    # After the head phase, "full" runs at a tenth of the head's 1e-2 (FULL_PHASE_LR_FACTOR).
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.get_compile_config()["loss"] == "sparse_categorical_crossentropy"
    assert model.get_compile_config()["metrics"] == ["accuracy"]


def test_head_mode_trains_the_last_stage_with_weights(lenet_features, digits_pixels):
    (x, y), _ = digits_pixels
    model = _digits_classifier(lenet_features)
    before = weight_bytes(_base_layers(model))
    history = kzoo.transfer.fine_tune(model, (x[:128], y[:128]), mode="head", epochs=1,
                                      verbose=0)
    # LeNet's last stage is block2_pool (no weights), so the boundary moves back to block1_pool.
    assert [p["name"] for p in history.phases] == ["top"]
    assert history.phases[0]["trainable"] == ["block2_conv", "predictions"]
    after = weight_bytes(_base_layers(model))
    changed = {path.split("/")[0] for path in before if after[path] != before[path]}
    assert changed == {"block2_conv"}


def test_layer_decay_multipliers_per_stage(lenet_features, rng):
    model = kzoo.transfer.classifier(lenet_features, 3)
    stages = [s["name"] for s in kzoo.models.features.find_stages(model)]
    assert stages == ["scale", "block1_conv", "block1_pool", "block2_conv", "block2_pool"]
    x, y = rng.uniform(0, 255, (16, 28, 28, 1)).astype("float32"), rng.integers(0, 3, 16)
    kzoo.transfer.fine_tune(model, (x, y), mode="full", epochs=1, layer_decay=0.5,
                            base_lr_factor=0.2, verbose=0)
    # Stage i of n = 5 gets base_lr_factor × 0.5 ** (5 - i); the head (stage 5) keeps 1.
    assert model.optimizer.multipliers == pytest.approx(
        {"block1_conv": 0.2 * 0.5 ** 4, "block2_conv": 0.2 * 0.5 ** 2})
    assert model.optimizer.multiplier(model.get_layer("predictions").kernel) == 1.0
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)  # no head phase ran


def test_auto_picks_full_for_two_labels_per_class(lenet_features, digits_pixels, capsys):
    (x, y), _ = digits_pixels
    picked = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(10)])
    dataset = tf.data.Dataset.from_tensor_slices((x[picked], y[picked])).batch(8)
    model = _digits_classifier(lenet_features)
    history = kzoo.transfer.fine_tune(model, dataset, mode="auto", epochs=1, verbose=0)
    assert "kzoo: fine_tune auto: 2 labels per class -> mode 'full'" in capsys.readouterr().err
    assert history.mode == "full" and history.labels_per_class == 2


def test_auto_picks_full_for_the_whole_training_split(lenet_features, digits_pixels, capsys):
    (x, y), _ = digits_pixels
    model = _digits_classifier(lenet_features)
    history = kzoo.transfer.fine_tune(model, (x, y), mode="auto", epochs=1, verbose=0)
    assert f"{len(y) / 10:.4g} labels per class -> mode 'full'" in capsys.readouterr().err
    assert history.mode == "full" and history.labels_per_class == len(y) / 10


def test_the_auto_rule():
    choose = kzoo.transfer.choose_mode
    # The measured rule (benchmarks/results/transfer.md): full at every count.
    assert [choose(n) for n in (1, 19.9, 20, 99, 100, 5000)] == ["full"] * 6
    for bad in (0, -3, float("nan")):
        with pytest.raises(ValueError, match="`per_class` must be a number > 0"):
            choose(bad)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "partial"}, "`mode` must be one of .*Received: mode='partial'"),
    ({"epochs": 0}, "`epochs` must be an int >= 1, at most 10,000. Received: epochs=0"),
    ({"learning_rate": 0.0},
     "`learning_rate` must be a finite number > 0. Received: learning_rate=0.0"),
    ({"learning_rate": -1e-3}, "Received: learning_rate=-0.001"),
    ({"base_lr_factor": 0}, "Received: base_lr_factor=0"),
    ({"layer_decay": 0.0}, "`layer_decay` must be a number \\(0, 1\\]. Received: layer_decay=0.0"),
    ({"layer_decay": 1.5}, "Received: layer_decay=1.5"),
    ({"epochs": 2, "head_epochs": 2}, "`head_epochs` must be an int in \\[0, 1\\]"),
    ({"optimizer": "lbfgs"}, "`optimizer` must be a name of kzoo.optimizers.get"),
])
def test_bad_arguments(lenet_features, rng, kwargs, match):
    model = kzoo.transfer.classifier(lenet_features, 3)
    data = (rng.uniform(0, 255, (4, 28, 28, 1)), rng.integers(0, 3, 4))
    with pytest.raises(ValueError, match=match):
        kzoo.transfer.fine_tune(model, data, verbose=0, **kwargs)


def test_bad_models_and_data(lenet_features, rng):
    with_top = kzoo.create_model("lenet")
    data = (rng.uniform(0, 255, (4, 28, 28, 1)), rng.integers(0, 3, 4))
    no_predictions = keras.Model(with_top.inputs, with_top.get_layer("fc1").output)
    with pytest.raises(ValueError, match="no `predictions` layer"):
        kzoo.transfer.fine_tune(no_predictions, data)
    model = kzoo.transfer.classifier(lenet_features, 3)
    with pytest.raises(ValueError, match="`train_data` must be a tf.data.Dataset"):
        kzoo.transfer.fine_tune(model, data[0])


def _tiny_classifier():
    pixels = keras.Input((8, 8, 1))
    return kzoo.transfer.classifier(keras.Model(pixels, keras.layers.Conv2D(4, 3)(pixels)), 3)


def _tiny_data(scale=1.0):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255 * scale, (12, 8, 8, 1)).astype("float32"), np.arange(12) % 3


def test_linear_warns_about_the_arguments_it_ignores():
    model = _tiny_classifier()
    with pytest.warns(UserWarning, match=r"Arguments `head_epochs`, `layer_decay` do nothing "
                                         r"with mode='linear'.*Received: head_epochs=1, "
                                         r"layer_decay=0.5, mode='linear'"):
        history = kzoo.transfer.fine_tune(model, _tiny_data(), mode="linear", epochs=2,
                                          head_epochs=1, layer_decay=0.5, verbose=0)
    assert history.stopped_early is None and [p["name"] for p in history.phases] == ["linear"]


@pytest.mark.filterwarnings("ignore:ExplosionGuard:RuntimeWarning")
def test_a_phase_stopped_by_the_explosion_guard_ends_the_fine_tuning(capsys):
    model = _tiny_classifier()
    guard = kzoo.callbacks.ExplosionGuard()
    history = kzoo.transfer.fine_tune(model, _tiny_data(1e6), mode="full", epochs=4,
                                      learning_rate=1e3, batch_size=2, callbacks=[guard],
                                      verbose=2)
    assert guard.stopped
    assert history.stopped_early == {"phase": "head", "epoch": 1, "reason": guard.reason,
                                     "exploded": True, "skipped": ["full"]}
    assert [p["name"] for p in history.phases] == ["head"] and history.epoch == [0]
    # Each epoch is labelled with its phase.
    assert "kzoo: phase 1/2: head, epoch 1/2" in capsys.readouterr().err


def test_the_phases_are_labelled(capsys):
    history = kzoo.transfer.fine_tune(_tiny_classifier(), _tiny_data(), mode="full", epochs=2,
                                      verbose=2)
    err = capsys.readouterr().err
    assert "kzoo: phase 1/2: head, epoch 1/1" in err and "kzoo: phase 2/2: full, epoch 1/1" in err
    assert history.stopped_early is None


def _nested_base():
    """A small base in ConvNeXt's shape: a nested Sequential stem, and a pooled
    LayerNormalization at the end (keras.applications' ConvNeXt without its top)."""
    inputs = keras.Input((16, 16, 3))
    stem = keras.Sequential([keras.layers.Conv2D(8, 4, strides=4, name="stem_conv"),
                             keras.layers.LayerNormalization(name="stem_ln")], name="stem")
    x = stem(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="block_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.LayerNormalization(name="pooled_ln")(x)
    return keras.Model(inputs, x, name="nested_base")


def test_layer_decay_on_a_nested_base_saves_and_loads_with_its_optimizer(tmp_path):
    # The walk to the feature map passes the pooled LayerNormalization; the layer-wise
    # optimizer's groups hold the nested stem's variables under either of their paths, so
    # the saved optimizer state loads back into the same groups.
    model = kzoo.transfer.classifier(_nested_base(), 3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 16, 16, 3)).astype("float32")
    y = np.arange(12) % 3
    kzoo.transfer.fine_tune(model, (x, y), mode="full", epochs=1, layer_decay=0.5,
                            batch_size=4, verbose=0)
    assert isinstance(model.optimizer, LayerwiseOptimizer)
    assert {"stem", "stem_conv", "stem_ln"} <= set(model.optimizer.multipliers)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    for saved, loaded in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(loaded))
