"""Initializers: distributions against their formulas, gains, seeding, serialization."""

import math

import keras
import numpy as np
import pytest

import kzoo

inits = kzoo.initializers
SHAPE = (400, 300)  # fan_in 400, fan_out 300
FAN_IN, FAN_OUT = SHAPE


def sample(initializer, shape=SHAPE):
    return keras.ops.convert_to_numpy(initializer(shape, dtype="float64"))


@pytest.mark.parametrize(
    "nonlinearity, param, expected",
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("conv2d", None, 1.0),
        ("conv_transpose3d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3.0),
        ("relu", None, 2.0**0.5),
        ("ReLU", None, 2.0**0.5),
        ("leaky_relu", None, (2.0 / (1.0 + 0.01**2)) ** 0.5),
        ("leaky_relu", 0.2, (2.0 / 1.04) ** 0.5),
        ("leaky_relu", 0, 2.0**0.5),
        ("selu", None, 0.75),
        ("tanh", 3.0, 5.0 / 3.0),  # param ignored but allowed when numeric
    ],
)
def test_calculate_gain(nonlinearity, param, expected):
    assert inits.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "args, argument",
    [
        (("swish",), "nonlinearity"),
        ((None,), "nonlinearity"),
        (("leaky_relu", "0.2"), "param"),
        (("leaky_relu", True), "param"),
        (("relu", [1]), "param"),
        (("leaky_relu", float("nan")), "param"),
    ],
)
def test_calculate_gain_errors(args, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        inits.calculate_gain(*args)


def test_uniform_variants_are_keras_own():
    assert inits.GlorotUniform is inits.XavierUniform is keras.initializers.GlorotUniform
    assert inits.HeUniform is inits.KaimingUniform is keras.initializers.HeUniform
    assert inits.LecunUniform is keras.initializers.LecunUniform
    assert inits.XavierNormal is inits.GlorotNormal and inits.KaimingNormal is inits.HeNormal


@pytest.mark.parametrize(
    "cls, limit",
    [
        (keras.initializers.GlorotUniform, math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
        (keras.initializers.HeUniform, math.sqrt(6.0 / FAN_IN)),
        (keras.initializers.LecunUniform, math.sqrt(3.0 / FAN_IN)),
        (inits.FanInUniform, 1.0 / math.sqrt(FAN_IN)),
    ],
)
def test_uniform_bounds_and_variance(cls, limit):
    w = sample(cls(seed=1))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.999 * limit  # 120,000 draws fill the interval
    assert abs(w.mean()) < 0.01 * limit
    assert w.var() == pytest.approx(limit**2 / 3.0, rel=0.02)


@pytest.mark.parametrize(
    "cls, std",
    [
        (inits.GlorotNormal, math.sqrt(2.0 / (FAN_IN + FAN_OUT))),
        (inits.HeNormal, math.sqrt(2.0 / FAN_IN)),
        (inits.LecunNormal, math.sqrt(1.0 / FAN_IN)),
    ],
)
def test_normal_variants_are_untruncated_gaussians(cls, std):
    w = sample(cls(seed=2))
    assert w.std() == pytest.approx(std, rel=0.01)
    # P(|Z| > 2.5) = 1.24% for a Gaussian. Keras's truncated normal has the
    # same variance but stops at 2 / 0.8796 = 2.27 standard deviations.
    tail = np.mean(np.abs(w) > 2.5 * std)
    assert tail == pytest.approx(math.erfc(2.5 / math.sqrt(2)), abs=0.002)
    keras_twin = getattr(keras.initializers, cls.__name__)(seed=2)
    assert np.abs(sample(keras_twin)).max() <= 2.28 * std


@pytest.mark.parametrize(
    "kwargs, std",
    [
        (dict(nonlinearity="relu"), math.sqrt(2.0 / FAN_IN)),
        (dict(nonlinearity="tanh"), (5.0 / 3.0) / math.sqrt(FAN_IN)),
        (dict(nonlinearity="leaky_relu", param=0.2), math.sqrt(2.0 / 1.04 / FAN_IN)),
        (dict(nonlinearity="linear", mode="fan_out"), 1.0 / math.sqrt(FAN_OUT)),
        (
            dict(nonlinearity="tanh", mode="fan_avg"),
            (5.0 / 3.0) * math.sqrt(2.0 / (FAN_IN + FAN_OUT)),
        ),
        (dict(nonlinearity="selu", distribution="uniform"), 0.75 / math.sqrt(FAN_IN)),
        (dict(nonlinearity="relu", distribution="truncated_normal"), math.sqrt(2.0 / FAN_IN)),
    ],
)
def test_gain_scaling_variance_is_gain_squared_over_fan(kwargs, std):
    w = sample(inits.GainScaling(**kwargs, seed=3))
    assert w.std() == pytest.approx(std, rel=0.01)


def test_gain_scaling_errors():
    with pytest.raises(ValueError, match="Received: distribution='cauchy'"):
        inits.GainScaling("relu", distribution="cauchy")
    with pytest.raises(ValueError, match="Received: mode='fan'"):
        inits.GainScaling("relu", mode="fan")
    with pytest.raises(ValueError, match="Received: nonlinearity='gelu'"):
        inits.GainScaling("gelu")


ALL = [
    lambda seed: inits.GlorotNormal(seed=seed),
    lambda seed: inits.HeNormal(seed=seed),
    lambda seed: inits.LecunNormal(seed=seed),
    lambda seed: inits.FanInUniform(seed=seed),
    lambda seed: inits.GainScaling("leaky_relu", 0.1, mode="fan_avg", seed=seed),
    lambda seed: inits.GlorotUniform(seed=seed),
    lambda seed: inits.HeUniform(seed=seed),
    lambda seed: inits.LecunUniform(seed=seed),
]


@pytest.mark.parametrize("make", ALL)
def test_seeded(make):
    a, b, c = make(7), make(7), make(8)
    np.testing.assert_array_equal(sample(a, (20, 10)), sample(b, (20, 10)))
    np.testing.assert_array_equal(sample(a, (20, 10)), sample(a, (20, 10)))
    assert not np.array_equal(sample(a, (20, 10)), sample(c, (20, 10)))


@pytest.mark.parametrize("make", ALL)
def test_serializable(make):
    initializer = make(11)
    config = keras.initializers.serialize(initializer)
    clone = keras.initializers.deserialize(config)
    assert type(clone) is type(initializer)
    assert clone.get_config() == initializer.get_config()
    np.testing.assert_array_equal(sample(clone, (6, 4)), sample(initializer, (6, 4)))


def test_registered_and_loaded_without_custom_objects(tmp_path):
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(
        6, kernel_initializer=inits.FanInUniform(seed=0), bias_initializer="zeros"
    )(inputs)
    outputs = keras.layers.Dense(2, kernel_initializer=inits.GainScaling("tanh", seed=1))(hidden)
    model = keras.Model(inputs, outputs)
    kernel, bias = model.layers[1].get_weights()
    assert np.abs(kernel).max() <= 1 / math.sqrt(8) and not bias.any()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[1].kernel_initializer, inits.FanInUniform)
    assert isinstance(loaded.layers[2].kernel_initializer, inits.GainScaling)
    assert loaded.layers[2].kernel_initializer.get_config()["nonlinearity"] == "tanh"
