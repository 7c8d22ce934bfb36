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


def _at(schedule, steps):
    return np.array([float(schedule(t)) for t in steps])


def test_linear_warmup_then_the_shifted_schedule():
    after = schedules.StepDecay(0.1, factor=0.5, step_size=3)
    warm = schedules.LinearWarmup(after, warmup_steps=4)
    t = np.arange(12)
    expected = np.where(t < 4, 0.1 * (t + 1) / 4, 0.1 * 0.5 ** ((t - 4) // 3))
    np.testing.assert_allclose(_at(warm, t), expected, rtol=1e-6)
    np.testing.assert_allclose(_at(schedules.LinearWarmup(0.2, 5), [0, 4, 9]),
                               [0.04, 0.2, 0.2], rtol=1e-6)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(warm))
    np.testing.assert_allclose(_at(clone, t), expected, rtol=1e-6)


def test_onecycle_follows_smiths_schedule_with_fastais_defaults():
    lr = schedules.make_schedule("onecycle", 0.1, epochs=10, steps_per_epoch=10)  # 100 steps
    climb = 30  # 30% of the run, from lr/25 up to lr
    np.testing.assert_allclose(_at(lr, [0, 15, climb]), [0.004, 0.004 + 0.096 * 15 / 30, 0.1],
                               rtol=1e-5)
    final = 0.1 / 1e4
    t = np.array([climb, 50, 65, 100])
    cosine = final + (0.1 - final) * 0.5 * (1 + np.cos(np.pi * (t - climb) / (100 - climb)))
    np.testing.assert_allclose(_at(lr, t), cosine, rtol=1e-5)


def test_warmup_epochs_before_any_schedule():
    for name in ("constant", "cosine", "step", "exponential", "inverse_time"):
        lr = schedules.make_schedule(name, 0.1, epochs=10, steps_per_epoch=10, warmup_epochs=2)
        values = _at(lr, range(100))
        assert values[0] == pytest.approx(0.1 / 20, rel=1e-5), name
        assert np.all(np.diff(values[:20]) > 0) and values[20] == pytest.approx(0.1, rel=1e-5)
    cosine = schedules.make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=10,
                                     warmup_epochs=2)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-7)  # decays over the other 80
    for bad in (-1, 10, True):
        with pytest.raises(ValueError, match="`warmup_epochs` must be a number >= 0"):
            schedules.make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=10,
                                    warmup_epochs=bad)
    with pytest.raises(ValueError, match="has its own warmup"):
        schedules.make_schedule("onecycle", 0.1, epochs=10, steps_per_epoch=10, warmup_epochs=1)
