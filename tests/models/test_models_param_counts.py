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
    # keras.applications' count_params() (Normalization's mean, variance and count included).
    "efficientnet_b0": ({}, 5_330_571),
    "efficientnet_b1": ({}, 7_856_239),
    "efficientnet_b2": ({}, 9_177_569),
    "efficientnet_b3": ({}, 12_320_535),
    "efficientnet_b4": ({}, 19_466_823),
    "efficientnet_b5": ({}, 30_562_527),
    "efficientnet_b6": ({}, 43_265_143),
    "efficientnet_b7": ({}, 66_658_687),
    "efficientnet_v2_b0": ({}, 7_200_312),
    "efficientnet_v2_b1": ({}, 8_212_124),
    "efficientnet_v2_b2": ({}, 10_178_374),
    "efficientnet_v2_b3": ({}, 14_467_622),
    "efficientnet_v2_s": ({}, 21_612_360),
    "efficientnet_v2_m": ({}, 54_431_388),
    "efficientnet_v2_l": ({}, 119_027_848),
    # keras.applications' ConvNeXt count_params() (its PreStem Normalization holds no weights).
    "convnext_tiny": ({}, 28_589_128),
    "convnext_small": ({}, 50_223_688),
    "convnext_base": ({}, 88_591_464),
    "convnext_large": ({}, 197_767_336),
    "convnext_xlarge": ({}, 350_196_968),
    # keras.applications' count_params() of the other families.
    "resnet50_v2": ({}, 25_613_800),
    "resnet101_v2": ({}, 44_675_560),
    "resnet152_v2": ({}, 60_380_648),
    "densenet121": ({}, 8_062_504),
    "densenet169": ({}, 14_307_880),
    "densenet201": ({}, 20_242_984),
    "xception": ({}, 22_910_480),
    "inception_resnet_v2": ({}, 55_873_736),
    "nasnet_mobile": ({}, 5_326_716),
    "nasnet_large": ({}, 88_949_818),
}
# Seconds to build each (the count needs the weights allocated and initialized): heavy.
# The default run keeps one per family (docs/model_counts.json is checked against all).
HEAVY = {"resnet152", "efficientnet_v2_b0", "convnext_tiny", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
         "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_b1",
         "efficientnet_v2_b2", "efficientnet_v2_b3", "efficientnet_v2_s",
         "efficientnet_v2_m", "efficientnet_v2_l",
         "convnext_small", "convnext_base", "convnext_large", "convnext_xlarge",
         "resnet50_v2", "resnet101_v2", "resnet152_v2", "densenet121", "densenet169",
         "densenet201", "xception",
         "inception_resnet_v2", "nasnet_mobile", "nasnet_large"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.heavy) if n in HEAVY else n for n in sorted(COUNTS)],
)
def test_parameter_count(name):
    kwargs, expected = COUNTS[name]
    # Building allocates and initializes the weights; nothing is run.
    assert kzoo.create_model(name, **kwargs).count_params() == expected


def test_mlp_count_from_hidden_units():
    model = kzoo.create_model("mlp", hidden_units=(2,), activation="tanh", input_shape=(2,),
                              classes=2)
    assert model.count_params() == (2 * 2 + 2) + (2 * 2 + 2)
