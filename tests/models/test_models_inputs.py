"""Input shapes: any size at or above the minimum, any channel count; below it, an error."""

import numpy as np
import pytest

import kzoo
from kzoo.models.registry import get_entry

SPATIAL = [n for n in kzoo.list_models() if len(get_entry(n).default_input_shape) == 3]


@pytest.mark.parametrize("name", SPATIAL)
def test_below_minimum_raises_stating_it(name):
    size = get_entry(name).min_input_size
    shape = (size - 1, size + 3, 3)
    with pytest.raises(ValueError, match=rf"at least {size}x{size}.*Received: input_shape="
                                         rf"\({size - 1}, {size + 3}, 3\)"):
        kzoo.create_model(name, input_shape=shape, classes=2)


@pytest.mark.parametrize("name, shape, kwargs", [
    ("lenet", (30, 17, 2), {}),
    ("lenet5", (16, 40, 4), {}),
    ("alexnet", (70, 64, 1), {}),
    ("resnet18", (33, 47, 1), {}),
    ("resnet50", (40, 35, 5), {"include_top": False, "pooling": "max"}),
    ("resnet20", (9, 13, 7), {}),
    ("vgg11", (37, 32, 2), {}),
    ("googlenet", (50, 33, 4), {}),
    ("maxout_net", (8, 11, 1), {}),
    ("inception_v3", (75, 90, 2), {"include_top": False, "pooling": "avg"}),
])
def test_any_shape_at_or_above_minimum(name, shape, kwargs, rng):
    model = kzoo.create_model(name, input_shape=shape, classes=4, **kwargs)
    out = model(rng.uniform(0, 1, (1, *shape)).astype("float32"))
    assert np.isfinite(np.asarray(out)).all()
    assert out.shape[0] == 1


def test_unknown_spatial_size_without_flatten(rng):
    model = kzoo.create_model("resnet20", input_shape=(None, None, 3))
    for size in (8, 21):
        assert model(rng.uniform(0, 1, (1, size, size, 3)).astype("float32")).shape == (1, 10)


def test_flatten_head_needs_known_size():
    with pytest.raises(ValueError, match="Received: input_shape"):
        kzoo.create_model("vgg11", input_shape=(None, None, 3))


def test_bad_rank_and_bad_pooling():
    with pytest.raises(ValueError, match="Received: input_shape"):
        kzoo.create_model("resnet18", input_shape=(64, 64))
    with pytest.raises(ValueError, match="Received: pooling='mean'"):
        kzoo.create_model("resnet20", include_top=False, pooling="mean")


def test_input_tensor(rng):
    import keras

    tensor = keras.Input((24, 24, 3))
    model = kzoo.create_model("resnet20", input_tensor=tensor, classes=3)
    assert model.inputs[0] is tensor
    assert model.output.shape == (None, 3)


def test_googlenet_auxiliary_heads_and_naive_modules(rng):
    model = kzoo.create_model("googlenet", aux_logits=True, classes=3, input_shape=(65, 65, 3))
    outputs = model(rng.uniform(0, 1, (1, 65, 65, 3)).astype("float32"))
    assert [tuple(o.shape) for o in outputs] == [(1, 3)] * 3
    with pytest.raises(ValueError, match="at least 65x65"):
        kzoo.create_model("googlenet", aux_logits=True, input_shape=(64, 64, 3))
    naive = kzoo.create_model("googlenet", reduction=False, input_shape=(32, 32, 3), classes=3)
    assert "inception_3a_3x3_reduce" not in [layer.name for layer in naive.layers]


def test_builder_inputs_example_and_check_order():
    """`common.builder_inputs` (every image builder's preamble): its docstring example
    runs, and the arguments are checked in the builders' order, conv_impl first."""
    import doctest

    from kzoo.models import common

    failed, attempted = doctest.testmod(common, verbose=False)
    assert attempted >= 2 and failed == 0
    args = dict(conv_impl="native", pooling=None, include_top=True, classes=10, weights=None,
                presets={}, input_shape=None, input_tensor=None, default_shape=(32, 32, 3),
                min_size=8, require_flatten=False)
    for bad, match in [(dict(conv_impl="fft", pooling="sum"), "conv_impl"),
                       (dict(pooling="sum", classes=0), "pooling"),
                       (dict(classes=0, input_shape=(4, 4, 3)), "classes"),
                       (dict(input_shape=(4, 4, 3)), "at least 8x8")]:
        with pytest.raises(ValueError, match=match):
            common.builder_inputs("demo", **{**args, **bad})
