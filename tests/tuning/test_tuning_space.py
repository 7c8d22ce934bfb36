"""Search spaces and coarse-to-fine stages: parsing, checks, narrowing (no training)."""

import math

import keras_tuner
import pytest

import kzoo
from kzoo.tuning import Parameter, Space, load_space, narrow, parse_stages


def _write(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return str(path)


def test_the_issue_example_file_becomes_keras_tuner_hyperparameters(tmp_path):
    path = _write(tmp_path, """
[learning_rate]
type = "log_uniform"
min = 1e-5
max = 1e-1

[optimizer]
type = "choice"
values = ["sgd", "momentum", "adam"]

[dropout]
type = "uniform"
min = 0.0
max = 0.5

[batch_size]
type = "int"
min = 16
max = 256
""")
    space = load_space(path, "mlp")
    assert space.names == ["learning_rate", "optimizer", "dropout", "batch_size"]
    hp = keras_tuner.HyperParameters()
    values = space.declare(hp)
    lr = hp._hps["learning_rate"][0]
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-5, 1e-1, "log")
    assert hp._hps["optimizer"][0].values == ["sgd", "momentum", "adam"]
    assert hp._hps["dropout"][0].sampling == "linear"
    assert isinstance(values["batch_size"], int) and 16 <= values["batch_size"] <= 256
    # Log sampling: KerasTuner's prob -> value is the log-uniform quantile.
    assert math.isclose(lr.prob_to_value(0.5), math.sqrt(1e-5 * 1e-1), rel_tol=1e-9)


def test_every_family_has_a_preset_that_loads_for_its_models():
    families = {kzoo.models.registry.get_entry(m).family: m for m in kzoo.list_models()}
    assert sorted(families) == kzoo.tuning.list_spaces()
    for family, model in families.items():
        assert load_space(family, model).names
        assert load_space(model, model).names == load_space(family, model).names


def test_every_problem_is_reported_at_once_before_any_trial(tmp_path):
    path = _write(tmp_path, """
[learnin_rate]
type = "log_uniform"
min = 1e-3
max = 1e-1

[learning_rate]
type = "log_uniform"
min = 0
max = 1e-1

[weight_decay]
type = "uniform"
min = 0.1
max = 0.1

[optimizer]
type = "choice"
values = ["sgd", "adamax"]

[batch_size]
type = "int"
min = 0
max = 64

[dropout]
type = "normal"
""")
    with pytest.raises(ValueError) as e:
        load_space(path, "mlp")
    message = str(e.value)
    assert "has 6 problems" in message
    for part in ("learnin_rate: not an option of `kzoo train` nor an argument of the 'mlp'",
                 "learning_rate: a log range needs `min` > 0, got min=0",
                 "weight_decay: empty range",
                 "optimizer: 'adamax' is refused",
                 "batch_size: 0 is refused: Argument `batch_size` must be an int >= 1",
                 "dropout: `type` must be one of"):
        assert part in message


@pytest.mark.parametrize("space, match", [
    ("no_such_preset", "must be a preset .*or an existing TOML file"),
    (42, "must be a preset name, a TOML file, a dict"),
    ({}, "at least one hyperparameter"),
    ({"model": {"type": "choice", "values": ["lenet", "nonet"]}}, "'nonet' is not a registered"),
    ({"epochs": {"type": "int", "min": 1, "max": 3}}, "epochs: not an option"),
    ({"optimizer": {"type": "choice", "values": []}}, "non-empty list"),
    ({"learning_rate": {"type": "log_uniform", "min": 1e-3, "max": 1e-1, "step": 1}},
     "`step` must be"),
])
def test_bad_spaces(space, match):
    with pytest.raises(ValueError, match=match):
        load_space(space, "lenet")


def test_bad_toml_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_space(_write(tmp_path, "[learning_rate\ntype = 1"), "lenet")


def test_a_builder_argument_must_fit_every_model_the_space_chooses():
    load_space({"model": {"type": "choice", "values": ["resnet20", "resnet32"]},
                "width": {"type": "int", "min": 1, "max": 2}}, "resnet20")
    with pytest.raises(ValueError, match="width: not an option"):
        load_space({"model": {"type": "choice", "values": ["resnet20", "lenet"]},
                    "width": {"type": "int", "min": 1, "max": 2}}, "resnet20")


def test_stages():
    assert [(s.trials, s.epochs) for s in parse_stages("40x2,10x8")] == [(40, 2), (10, 8)]
    assert [(s.trials, s.epochs) for s in parse_stages(None, max_trials=5, epochs=3)] == [(5, 3)]
    for bad in ("40x2,", "40*2", "0x2", "4x0", "x2"):
        with pytest.raises(ValueError, match="TRIALSxEPOCHS"):
            parse_stages(bad)
    with pytest.raises(ValueError, match="`max_trials` must be an int >= 1"):
        parse_stages(None, max_trials=0, epochs=2)


def test_the_search_eta_counts_the_trials_left_and_the_later_stages():
    import importlib

    search = importlib.import_module("kzoo.tuning.search")  # the module, not the function
    stages = parse_stages("4x2,2x8")
    done = [{"seconds": 10.0, "epochs": 2}, {"seconds": 30.0, "epochs": 2}]
    # Stage 1: 2 trials left x 20 s, then stage 2: 2 trials x 8 epochs x 10 s per epoch.
    assert search.search_eta(done, stages, stages[0], 2) == pytest.approx(40 + 160)
    assert search.search_eta(done, stages, stages[1], 2) == 0
    assert search.search_eta([], stages, stages[0], 0) is None


def test_narrowing_around_the_top_trials():
    space = Space((Parameter("learning_rate", "log_uniform", min=1e-5, max=1e-1),
                   Parameter("dropout", "uniform", min=0.0, max=0.8),
                   Parameter("width", "int", min=1, max=9),
                   Parameter("optimizer", "choice", values=("sgd", "momentum", "adam"))))
    top = [{"learning_rate": 1e-3, "dropout": 0.2, "width": 3, "optimizer": "adam"},
           {"learning_rate": 3e-3, "dropout": 0.3, "width": 4, "optimizer": "sgd"}]
    fine = narrow(space, top)
    f = 10 ** (4 / 8)  # an eighth of the four decades
    lr = fine["learning_rate"]
    assert math.isclose(lr.min, 1e-3 / f) and math.isclose(lr.max, 3e-3 * f)
    assert (fine["dropout"].min, fine["dropout"].max) == pytest.approx((0.1, 0.4))
    assert (fine["width"].min, fine["width"].max) == (2, 5)
    assert fine["optimizer"].values == ("sgd", "adam")  # cut to the top's, in order
    # Never outside the first stage's range.
    edge = narrow(space, [{"learning_rate": 1e-5, "dropout": 0.0, "width": 1,
                           "optimizer": "sgd"}])
    assert edge["learning_rate"].min == 1e-5 and edge["dropout"].min == 0.0
    assert edge["width"].min == 1
    with pytest.raises(ValueError, match="completed no trial"):
        narrow(space, [])


def test_momentum_is_searchable_and_applies_to_the_optimizers_that_take_one():
    space = load_space({"optimizer": {"type": "choice", "values": ["sgd", "adam"]},
                        "momentum": {"type": "uniform", "min": 0.5, "max": 0.99}}, "mlp")
    from kzoo.training import TrainConfig
    from kzoo.tuning import ZooHyperModel

    hm = ZooHyperModel(TrainConfig("mlp", "digits"), space, None)
    assert hm.config_for({"optimizer": "sgd", "momentum": 0.9}).momentum == 0.9
    assert hm.config_for({"optimizer": "adam", "momentum": 0.9}).momentum is None
    with pytest.raises(ValueError, match="momentum: 1.5 is refused"):
        load_space({"momentum": {"type": "uniform", "min": 0.5, "max": 1.5}}, "mlp")
