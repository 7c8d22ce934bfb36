"""The parameter counts of issue 4's table, exactly (Keras `count_params()`)."""

import pytest

import kzoo

# name -> (builder kwargs, count); ImageNet models at their default input, 1000 classes.
COUNTS = {
    "lenet5": ({"input_shape": (32, 32, 1), "classes": 10}, 61_706),
    "lenet": ({"input_shape": (28, 28, 1), "classes": 10}, 431_080),
    "vgg16": ({}, 138_357_544),
    "vgg19": ({}, 143_667_240),
    "inception_v3": ({}, 23_851_784),
    "mobilenet": ({}, 4_253_864),
    "mobilenet_v2": ({}, 3_538_984),
    "mobilenet_v3_small": ({}, 2_554_968),
    "mobilenet_v3_large": ({}, 5_507_432),
    "resnet50": ({}, 25_636_712),
    "resnet101": ({}, 44_707_176),
    "resnet152": ({}, 60_419_944),
    "resnet20": ({"input_shape": (32, 32, 3), "classes": 10}, 274_442),
    "resnet32": ({"input_shape": (32, 32, 3), "classes": 10}, 470_218),
    "resnet44": ({"input_shape": (32, 32, 3), "classes": 10}, 665_994),
    "resnet56": ({"input_shape": (32, 32, 3), "classes": 10}, 861_770),
    "resnet110": ({"input_shape": (32, 32, 3), "classes": 10}, 1_742_762),
    # Page's ResNet-9: 6,573,120 trainable + 4,480 BatchNorm statistics.
    "resnet9": ({"input_shape": (32, 32, 3), "classes": 10}, 6_577_600),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_count(name):
    kwargs, expected = COUNTS[name]
    # Building allocates and initializes the weights; nothing is run.
    assert kzoo.create_model(name, **kwargs).count_params() == expected


def test_mlp_count_from_hidden_units():
    model = kzoo.create_model("mlp", hidden_units=(2,), activation="tanh", input_shape=(2,),
                              classes=2)
    assert model.count_params() == (2 * 2 + 2) + (2 * 2 + 2)
