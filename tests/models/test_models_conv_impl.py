"""`conv_impl="im2col"` and `"native"` builds with the same weights agree."""

import numpy as np
import pytest

import kzoo
from model_helpers import min_input_shape, randomize_statistics

# One or two members of each family, at small inputs (im2col is the slow path).
CASES = {
    "lenet": None,
    "lenet5": None,
    "alexnet": None,
    "maxout_net": (16, 16, 3),
    "resnet20": (16, 16, 3),
    "resnet18": (32, 32, 3),
    "vgg11_bn": (32, 32, 3),
    "googlenet": (32, 32, 3),
    "inception_v3": None,
    "resnet50": (32, 32, 3),
}


# inception_v3 at its smallest input is heavy (about 6 s; the default run's budget):
# googlenet keeps the inception blocks in the default run.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.heavy)
                                  if n == "inception_v3" else n for n in sorted(CASES)])
def test_im2col_matches_native(name, rng):
    shape = CASES[name] or min_input_shape(name)
    native = randomize_statistics(kzoo.create_model(name, input_shape=shape, classes=5,
                                                    classifier_activation=None))
    im2col = kzoo.create_model(name, input_shape=shape, classes=5, classifier_activation=None,
                               conv_impl="im2col")
    im2col.set_weights(native.get_weights())
    implementations = {
        layer.implementation for layer in im2col.layers if hasattr(layer, "implementation")
    }
    assert implementations == {"im2col"}
    x = rng.uniform(0, 1, (2, *shape)).astype("float32")
    np.testing.assert_allclose(im2col(x, training=False), native(x, training=False), atol=1e-4)


def test_unknown_conv_impl_raises():
    with pytest.raises(ValueError, match="Received: conv_impl='fft'"):
        kzoo.create_model("lenet", conv_impl="fft")
