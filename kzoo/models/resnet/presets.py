"""Pretrained ResNet files: the keras.applications URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


def _imagenet(name, top_hash, notop_hash):
    return PretrainedWeights(
        top_url=f"{BASE_URL}{name}_weights_tf_dim_ordering_tf_kernels.h5",
        top_hash=top_hash,
        notop_url=f"{BASE_URL}{name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        notop_hash=notop_hash,
    )


#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "resnet50": {
        "imagenet": _imagenet(
            "resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"
        )
    },
    "resnet101": {
        "imagenet": _imagenet(
            "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"
        )
    },
    "resnet152": {
        "imagenet": _imagenet(
            "resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"
        )
    },
    "resnet50_v2": {
        "imagenet": _imagenet(
            "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"
        )
    },
    "resnet101_v2": {
        "imagenet": _imagenet(
            "resnet101v2", "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"
        )
    },
    "resnet152_v2": {
        "imagenet": _imagenet(
            "resnet152v2", "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"
        )
    },
}
