"""feature_extractor: stage outputs with their reduction and channels."""

import keras
import numpy as np
import pytest

import kzoo


def test_resnet50_stages(rng):
    backbone = kzoo.create_model("resnet50", include_top=False, input_shape=(64, 64, 3))
    features = kzoo.models.feature_extractor(backbone, stages=[1, 2, 3, 4])
    info = [(f["name"], f["reduction"], f["channels"]) for f in features.feature_info]
    assert info == [
        ("conv2_block3_out", 4, 256),
        ("conv3_block4_out", 8, 512),
        ("conv4_block6_out", 16, 1024),
        ("conv5_block3_out", 32, 2048),
    ]
    outputs = features(rng.uniform(0, 1, (2, 64, 64, 3)).astype("float32"))
    assert [tuple(o.shape) for o in outputs] == [
        (2, 16, 16, 256), (2, 8, 8, 512), (2, 4, 4, 1024), (2, 2, 2, 2048)
    ]


def test_all_stages_and_names():
    model = kzoo.create_model("vgg11", include_top=False, input_shape=(32, 32, 3))
    features = kzoo.models.feature_extractor(model)
    assert [f["reduction"] for f in features.feature_info] == [1, 2, 4, 8, 16, 32]
    by_name = kzoo.models.feature_extractor(model, stages=["block3_pool", "block2_conv1", -1])
    assert [(f["name"], f["reduction"], f["channels"]) for f in by_name.feature_info] == [
        ("block3_pool", 8, 256), ("block2_conv1", 2, 128), ("block5_pool", 32, 512)
    ]


def test_invalid_stages_raise():
    model = kzoo.create_model("resnet20", include_top=False)
    with pytest.raises(ValueError, match="out of range.*Received: stages=\\[7\\]"):
        kzoo.models.feature_extractor(model, stages=[7])
    with pytest.raises(ValueError, match="Unknown stage 'nope'"):
        kzoo.models.feature_extractor(model, stages=["nope"])
    with pytest.raises(ValueError, match="Received"):
        kzoo.models.feature_extractor(kzoo.create_model("mlp"))


def test_count_flops_matches_hand_count():
    model = kzoo.create_model("lenet5")
    macs = (28 * 28 * 6 * 25 * 1 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * 10)
    assert kzoo.models.count_flops(model) == 2 * macs


def test_count_flops_counts_depthwise_and_separable_convolutions():
    inputs = keras.Input((8, 8, 3))
    depthwise = kzoo.layers.DepthwiseConv2D(3, depth_multiplier=2)(inputs)  # (6, 6, 6)
    separable = kzoo.layers.SeparableConv2D(5, 3, depth_multiplier=2)(inputs)  # (6, 6, 5)
    model = keras.Model(inputs, [depthwise, separable])
    # Depthwise: one input channel per output channel. Separable: that, then 1×1 from 6 to 5.
    macs = 6 * 6 * 6 * 9 + (6 * 6 * 6 * 9 + 6 * 6 * 6 * 5)
    assert kzoo.models.count_flops(model) == 2 * macs
