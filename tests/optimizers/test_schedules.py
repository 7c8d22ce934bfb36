"""Learning-rate schedules against their formulas, computed here with NumPy."""

import keras
import numpy as np
import pytest

import kzoo

schedules = kzoo.optimizers.schedules
STEPS = np.array([0, 1, 2, 9, 10, 11, 99, 100, 101, 250, 999, 1000, 4321])


def _values(schedule, steps=STEPS):
    return np.array([float(schedule(int(t))) for t in steps])


def test_step_decay():
    schedule = schedules.StepDecay(0.1, factor=0.5, step_size=100)
    np.testing.assert_allclose(_values(schedule), 0.1 * 0.5 ** np.floor(STEPS / 100), rtol=1e-6)


def test_exponential_decay_is_exp_minus_kt():
    schedule = schedules.ExponentialDecay(0.1, k=1e-3)
    np.testing.assert_allclose(_values(schedule), 0.1 * np.exp(-1e-3 * STEPS), rtol=1e-6)


def test_inverse_time_decay_is_one_over_one_plus_kt():
    schedule = schedules.InverseTimeDecay(0.1, k=0.01)
    assert isinstance(schedule, keras.optimizers.schedules.InverseTimeDecay)
    np.testing.assert_allclose(_values(schedule), 0.1 / (1 + 0.01 * STEPS), rtol=1e-6)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.StepDecay(0.1, factor=0.1, step_size=7),
        schedules.ExponentialDecay(0.05, k=0.02),
        schedules.InverseTimeDecay(0.05, k=0.5),
    ],
)
def test_serialization(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    assert config["registered_name"].startswith("kzoo>")
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(schedule)
    assert clone.get_config() == schedule.get_config()
    np.testing.assert_array_equal(_values(clone), _values(schedule))


def test_schedule_drives_the_optimizer_and_survives_saving(tmp_path):
    schedule = schedules.StepDecay(0.1, factor=0.5, step_size=2)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=kzoo.optimizers.get("momentum", learning_rate=schedule), loss="mse")
    x = np.ones((20, 3), "float32")
    model.fit(x, np.zeros((20, 1)), batch_size=4, epochs=1, verbose=0)  # 5 steps
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer._learning_rate, schedules.StepDecay)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**2)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: schedules.StepDecay(-0.1, 0.5, 10), "initial_learning_rate"),
        (lambda: schedules.StepDecay(0.1, 0.0, 10), "factor"),
        (lambda: schedules.StepDecay(0.1, 0.5, 0), "step_size"),
        (lambda: schedules.ExponentialDecay(0.1, k=-1.0), "k"),
        (lambda: schedules.InverseTimeDecay(-1.0, k=0.1), "initial_learning_rate"),
    ],
)
def test_invalid_arguments(call, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        call()
