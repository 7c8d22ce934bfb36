"""The initialization experiment: qualitative outcome with a fixed seed, and first-layer numbers.

The first layer's statistics are checked against values computed here
independently: with unit-Gaussian inputs of width 500 and W = s * N(0, 1),
a pre-activation is N(0, 500 s^2); relu of N(0, sigma^2) has mean
sigma / sqrt(2 pi) and std sigma * sqrt(1/2 - 1/(2 pi)); tanh's second
moment is integrated numerically.
"""

import math

import numpy as np
import pytest

import kzoo


@pytest.fixture(scope="module")
def stats():
    return kzoo.initializers.activation_statistics(seed=0)


def std(stats, scheme, act):
    return stats.stds[scheme, act]


def test_shape_of_the_result(stats):
    assert stats.num_layers == 10 and stats.units == 500 and stats.num_samples == 1000
    assert len(stats.keys) == 8
    for key in stats.keys:
        assert stats.means[key].shape == stats.stds[key].shape == (10,)


def test_small_weights_with_tanh_collapse(stats):
    s = std(stats, "small", "tanh")
    assert np.all(np.diff(s) < 0)
    assert s[-1] < 1e-5 * s[0]


def test_unit_weights_with_tanh_saturate(stats):
    s = std(stats, "unit", "tanh")
    np.testing.assert_allclose(s, 0.98, atol=0.01)


def test_xavier_with_tanh_decays_slowly(stats):
    s = std(stats, "xavier", "tanh")
    assert np.all(np.diff(s) < 0)
    assert 0.2 <= s[-1] <= 0.3
    assert s[0] > 0.6


def test_xavier_with_relu_collapses(stats):
    s = std(stats, "xavier", "relu")
    assert s[-1] < 0.1 * s[0]


def test_he_with_relu_keeps_its_scale(stats):
    s = std(stats, "he", "relu")
    assert np.all((s > 0.75 * s[0]) & (s < 1.33 * s[0]))


def _tanh_std(sigma):
    # sqrt(E[tanh(sigma Z)^2]), Z ~ N(0, 1), by the trapezoid rule on [-10, 10]
    z = np.linspace(-10, 10, 200_001)
    density = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    return math.sqrt(np.trapezoid(np.tanh(sigma * z) ** 2 * density, z))


SIGMA = {  # std of a first-layer pre-activation: sqrt(500) * scale
    "small": 0.01 * math.sqrt(500),
    "unit": math.sqrt(500),
    "xavier": 1.0,
    "he": math.sqrt(2.0),
}


@pytest.mark.parametrize("scheme", list(SIGMA))
def test_first_layer_matches_theory(stats, scheme):
    sigma = SIGMA[scheme]
    relu_mean = sigma / math.sqrt(2 * math.pi)
    relu_std = sigma * math.sqrt(0.5 - 1 / (2 * math.pi))
    assert stats.means[scheme, "relu"][0] == pytest.approx(relu_mean, rel=0.05)
    assert stats.stds[scheme, "relu"][0] == pytest.approx(relu_std, rel=0.05)
    assert stats.stds[scheme, "tanh"][0] == pytest.approx(_tanh_std(sigma), rel=0.03)
    assert abs(stats.means[scheme, "tanh"][0]) < 0.02


def test_seeded_and_subsettable():
    a = kzoo.initializers.activation_statistics(num_layers=3, units=50, num_samples=100, seed=5)
    b = kzoo.initializers.activation_statistics(
        num_layers=3, units=50, num_samples=100, schemes=("he",), activations=("relu",), seed=5
    )
    np.testing.assert_array_equal(a.stds["he", "relu"], b.stds["he", "relu"])
    c = kzoo.initializers.activation_statistics(num_layers=3, units=50, num_samples=100, seed=6)
    assert not np.array_equal(a.stds["he", "relu"], c.stds["he", "relu"])


def test_table_and_plot(stats, tmp_path):
    table = stats.table()
    assert len(table.splitlines()) == 1 + 8 * 10
    assert "Xavier" in table and "He" in table
    path = stats.plot(str(tmp_path / "activations.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(num_layers=0), "num_layers"),
        (dict(units=2.5), "units"),
        (dict(schemes=("orthogonal",)), "schemes"),
        (dict(activations=("gelu",)), "activations"),
        (dict(seed=-1), "seed"),
    ],
)
def test_errors(kwargs, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        kzoo.initializers.activation_statistics(**kwargs)
