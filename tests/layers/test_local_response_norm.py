"""kzoo LocalResponseNorm against the NumPy formula of Krizhevsky et al. (2012)."""

import numpy as np
import pytest
from numpy import testing as npt

from kzoo.layers import LocalResponseNorm
from kzoo.testing import run_layer_test


def lrn_reference(a, size, alpha, beta, k):
    """b_c = a_c / (k + alpha/size * sum of a_j^2 over the size channels around c)^beta."""
    channels = a.shape[-1]
    out = np.empty_like(a)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels, c + size // 2 + 1)
        out[..., c] = a[..., c] / (k + alpha / size * (a[..., lo:hi] ** 2).sum(-1)) ** beta
    return out


@pytest.mark.parametrize("size", [3, 5])
def test_equals_formula(size, rng):
    x = rng.standard_normal((2, 4, 4, 8)).astype("float32") * 3
    layer = LocalResponseNorm(size=size, alpha=0.5, beta=0.75, k=2.0)
    npt.assert_allclose(layer(x), lrn_reference(x, size, 0.5, 0.75, 2.0), rtol=1e-5, atol=1e-6)


def test_run_layer_test():
    run_layer_test(LocalResponseNorm, {"size": 3, "alpha": 0.1}, (2, 3, 3, 6),
                   expected_output_shape=(2, 3, 3, 6))


def test_bad_size():
    with pytest.raises(ValueError, match="size.*Received"):
        LocalResponseNorm(size=0)
