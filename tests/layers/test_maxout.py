"""kzoo Maxout against the NumPy formula of the tensorflow-addons semantics."""

import numpy as np
import pytest
from numpy import testing as npt

from kzoo.layers import Maxout
from kzoo.testing import run_layer_test


def maxout_reference(x, num_units, axis):
    """Output unit j = max over channels j, j + n, j + 2n, ... (a NumPy loop)."""
    x = np.moveaxis(x, axis, -1)
    channels = x.shape[-1]
    out = np.stack(
        [x[..., list(range(j, channels, num_units))].max(axis=-1) for j in range(num_units)],
        axis=-1,
    )
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("shape, num_units, axis", [
    ((3, 12), 4, -1), ((3, 12), 12, -1), ((3, 12), 1, -1),
    ((2, 5, 5, 6), 3, -1), ((2, 6, 5, 5), 2, 1), ((2, 4, 6, 3), 2, 2),
])
def test_equals_reference(shape, num_units, axis, rng):
    x = rng.standard_normal(shape).astype("float32")
    npt.assert_array_equal(Maxout(num_units, axis=axis)(x), maxout_reference(x, num_units, axis))


def test_documented_example():
    x = np.array([[1.0, 5.0, 3.0, 2.0]], dtype="float32")
    npt.assert_array_equal(Maxout(2)(x), [[3.0, 5.0]])


def test_run_layer_test():
    run_layer_test(Maxout, {"num_units": 2}, (4, 3, 3, 6), expected_output_shape=(4, 3, 3, 2),
                   check_distribution=True)


def test_channels_not_a_multiple_is_a_value_error(rng):
    with pytest.raises(ValueError, match="multiple of num_units=4.*Received"):
        Maxout(4)(rng.standard_normal((2, 10)).astype("float32"))


@pytest.mark.parametrize("kwargs", [{"num_units": 0}, {"num_units": -2},
                                    {"num_units": 2, "axis": 1.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        Maxout(**kwargs)


def test_batch_axis_is_refused(rng):
    with pytest.raises(ValueError, match="axis"):
        Maxout(2, axis=0)(rng.standard_normal((4, 4)).astype("float32"))
