"""`kzoo.optimizers.get`: classes and defaults, hyperparameter errors, `.keras` round trips."""

import keras
import numpy as np
import pytest

import kzoo

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "nadam", "adamw"]


def test_names_are_the_contract():
    assert list(kzoo.optimizers.OPTIMIZERS) == NAMES


@pytest.mark.parametrize(
    "name, cls, attrs",
    [
        ("sgd", keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
        ("momentum", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
        ("adagrad", keras.optimizers.Adagrad, {"initial_accumulator_value": 0.0}),
        ("rmsprop", keras.optimizers.RMSprop, {"rho": 0.9, "momentum": 0.0, "centered": False}),
        ("adam", keras.optimizers.Adam, {"amsgrad": False}),
        ("amsgrad", keras.optimizers.Adam, {"amsgrad": True}),
        ("nadam", kzoo.optimizers.NAdam, {"momentum_decay": 0.004}),
        ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.004}),
    ],
)
def test_classes_and_defaults(name, cls, attrs):
    optimizer = kzoo.optimizers.get(name)
    assert type(optimizer) is cls
    for key, value in attrs.items():
        assert getattr(optimizer, key) == value, key


def test_get_is_case_insensitive_and_forwards_kwargs():
    optimizer = kzoo.optimizers.get("Momentum", learning_rate=0.25, momentum=0, clipnorm=1.0)
    assert optimizer.momentum == 0.0 and optimizer.clipnorm == 1.0
    assert float(optimizer.learning_rate) == 0.25
    assert kzoo.optimizers.get("nadam", momentum_decay=0.01).momentum_decay == 0.01


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: kzoo.optimizers.get("sgd", learning_rate=-0.1), "learning_rate"),
        (lambda: kzoo.optimizers.get("adam", learning_rate=float("nan")), "learning_rate"),
        (lambda: kzoo.optimizers.get("momentum", momentum=1.0), "momentum"),
        (lambda: kzoo.optimizers.get("nesterov", momentum=-0.1), "momentum"),
        (lambda: kzoo.optimizers.get("rmsprop", momentum=1.5), "momentum"),
        (lambda: kzoo.optimizers.get("rmsprop", rho=1.0), "rho"),
        (lambda: kzoo.optimizers.get("adam", beta_1=1.0), "beta_1"),
        (lambda: kzoo.optimizers.get("amsgrad", beta_2=-0.5), "beta_2"),
        (lambda: kzoo.optimizers.get("adamw", weight_decay=-1.0), "weight_decay"),
        (lambda: kzoo.optimizers.get("adagrad", epsilon=-1e-7), "epsilon"),
        (lambda: kzoo.optimizers.get("lbfgs"), "name"),
        (lambda: kzoo.optimizers.get(None), "name"),
        (lambda: kzoo.optimizers.NAdam(learning_rate=-1.0), "learning_rate"),
        (lambda: kzoo.optimizers.NAdam(beta_1=1.0), "beta_1"),
        (lambda: kzoo.optimizers.NAdam(beta_2=2.0), "beta_2"),
        (lambda: kzoo.optimizers.NAdam(momentum_decay=-0.004), "momentum_decay"),
    ],
)
def test_invalid_hyperparameters(call, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        call()


def test_schedules_and_callables_pass_the_learning_rate_check():
    schedule = kzoo.optimizers.schedules.StepDecay(0.1, factor=0.5, step_size=10)
    assert kzoo.optimizers.get("sgd", learning_rate=schedule).learning_rate is not None
    kzoo.optimizers.get("adam", learning_rate=lambda: 0.01)


def _tiny_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="tanh")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((32, 4)).astype("float32"), rng.integers(0, 3, 32)


# Two run by default (about 4 s each); every other optimizer with -m heavy.
@pytest.mark.parametrize("name", [n if n in ("adam", "sgd") else pytest.param(
    n, marks=pytest.mark.heavy) for n in NAMES])
def test_keras_file_round_trip_restores_optimizer_state(name, data, tmp_path):
    x, y = data
    model = _tiny_model()
    model.compile(
        optimizer=kzoo.optimizers.get(name, learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 4 steps
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: kzoo registered NAdam

    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == 4
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    # The state really is restored: one more identical step gives identical weights.
    model.train_on_batch(x[:8], y[:8])
    loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_nadam_saves_its_mu_product(data, tmp_path):
    x, y = data
    model = _tiny_model()
    model.compile(optimizer=kzoo.optimizers.get("nadam"), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    mu_product = [v for v in model.optimizer.variables if v.path.endswith("mu_product")]
    assert len(mu_product) == 1
    # prod_{t=1..4} 0.9 * (1 - 0.5 * 0.96 ** (0.004 t)), computed here independently
    expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (0.004 * t)) for t in range(1, 5)])
    np.testing.assert_allclose(float(mu_product[0].numpy()), expected, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    restored = [v for v in loaded.optimizer.variables if v.path.endswith("mu_product")][0]
    assert float(restored.numpy()) == float(mu_product[0].numpy())


def test_nadam_config_round_trip():
    optimizer = kzoo.optimizers.NAdam(learning_rate=0.002, momentum_decay=0.01, weight_decay=0.1)
    config = keras.optimizers.serialize(optimizer)
    assert config["registered_name"] == "kzoo>NAdam"
    clone = keras.optimizers.deserialize(config)
    assert isinstance(clone, kzoo.optimizers.NAdam)
    assert clone.get_config() == optimizer.get_config()
