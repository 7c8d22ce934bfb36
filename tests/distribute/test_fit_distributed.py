"""kzoo.distribute.fit_distributed: the strategy.run loop trains as Keras's fit does.

In-process, on the default strategy and on the 2-replica MirroredStrategy of
tests/conftest.py's two logical CPUs; tests/distribute/test_multi_worker.py
runs it on 2 real worker processes.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.distribute import fit_distributed, get_strategy

BATCH = 64


def _model(strategy, initial=None, loss="sparse_categorical_crossentropy", metrics=None):
    with strategy.scope():
        pixels = keras.Input((8, 8, 1))
        x = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(pixels))
        x = kzoo.layers.BatchNorm()(x)
        model = keras.Model(pixels, keras.layers.Dense(10, activation="softmax")(x))
        if initial is not None:
            model.set_weights(initial)
        # Not Adam: its first steps, ~lr * sign(gradient), magnify the rounding of
        # near-zero gradients (8e-5 apart after one step here).
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss,
                      metrics=metrics)
    return model


def _largest_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.mark.parametrize("replicas", [1, 2])
def test_the_loop_equals_keras_fit_at_the_same_global_batch(digits, replicas):
    if replicas == 2 and len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs the two logical CPU devices of tests/conftest.py")
    # 500 examples: 7 full batches and a last one of 52 (26 per replica).
    x, y = digits[0][:500], digits[1][:500]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    reference = _model(tf.distribute.get_strategy())
    initial = reference.get_weights()
    fitted = reference.fit(dataset, epochs=2, verbose=0, shuffle=False).history

    strategy = get_strategy("mirrored", cpu_replicas=2) if replicas == 2 else \
        tf.distribute.get_strategy()
    model = _model(strategy, initial)
    # Per-epoch datasets (a function of the epoch) and one dataset give the same batches.
    history = fit_distributed(model, lambda epoch: dataset, epochs=2, verbose=0)
    assert _largest_difference(model.get_weights(), reference.get_weights()) <= 1e-5
    np.testing.assert_allclose(history["loss"], fitted["loss"], rtol=1e-5)
    assert set(history) == {"loss", "accuracy"} and len(history["loss"]) == 2


def test_the_loop_trains_on_mixed_label_rows_as_fit_does(digits):
    # Mixup's labels: 0.7 of each example's class and 0.3 of the next example's.
    x, y = digits[0][:256], digits[1][:256]
    onehot = np.eye(10, dtype="float32")[y]
    soft = 0.7 * onehot + 0.3 * np.roll(onehot, 1, axis=0)
    dataset = tf.data.Dataset.from_tensor_slices((x, soft)).batch(BATCH)
    reference = _model(tf.distribute.get_strategy(), loss="categorical_crossentropy",
                       metrics=["accuracy"])
    initial = reference.get_weights()
    fitted = reference.fit(dataset, epochs=2, verbose=0, shuffle=False).history
    model = _model(tf.distribute.get_strategy(), initial, loss="categorical_crossentropy")
    history = fit_distributed(model, dataset, epochs=2, verbose=0, validation_data=dataset)
    assert _largest_difference(model.get_weights(), reference.get_weights()) <= 1e-5
    np.testing.assert_allclose(history["loss"], fitted["loss"], rtol=1e-5)
    # Accuracy of the heavier class, as Keras's categorical_accuracy counts it.
    np.testing.assert_allclose(history["accuracy"], fitted["accuracy"], atol=1e-6)
    heavier = (model.predict(x, verbose=0).argmax(1) == y).mean()
    assert history["val_accuracy"][-1] == pytest.approx(heavier)


def test_callbacks_resume_and_stop_as_in_fit(digits, tmp_path):
    x, y = digits[0][:256], digits[1][:256]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    backup = str(tmp_path / "backup")

    class StopAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    model = _model(tf.distribute.get_strategy())
    initial = model.get_weights()
    history = fit_distributed(model, dataset, epochs=4, verbose=0,
                              callbacks=[kzoo.distribute.EpochBackup(backup),
                                         StopAfter()])
    assert len(history["loss"]) == 2  # stopped after epoch 1
    # A new process would start here: a fresh model resumes at epoch 2 from the backup.
    resumed = _model(tf.distribute.get_strategy(), initial)
    epochs = []
    seen = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))
    fit_distributed(resumed, dataset, epochs=4, verbose=0,
                    callbacks=[kzoo.distribute.EpochBackup(backup), seen])
    assert epochs == [2, 3]
    assert int(resumed.optimizer.iterations.numpy()) == 4 * 4  # 4 epochs of 4 steps


def test_a_loss_object_counts_per_example_and_an_uncompiled_model_is_refused(digits):
    x, y = digits[0][:128], digits[1][:128]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    by_name = _model(tf.distribute.get_strategy())
    initial = by_name.get_weights()
    by_object = _model(tf.distribute.get_strategy(), initial)
    by_object.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy())
    for model in (by_name, by_object):
        fit_distributed(model, dataset, epochs=1, verbose=0)
    assert _largest_difference(by_name.get_weights(), by_object.get_weights()) == 0.0
    with pytest.raises(ValueError, match="needs a compiled model"):
        fit_distributed(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), dataset,
                        epochs=1)
