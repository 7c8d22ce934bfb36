"""Pretrained VGG files: the keras.applications URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "vgg16": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            top_hash="64373286793e3c8b2b4e3219cbf3544b",
            notop_url=f"{BASE_URL}vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            notop_hash="6d6bbae143d832006294945121d1f1fc",
        )
    },
    "vgg19": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
            top_hash="cbe5617147190e668d6c5d5026f83318",
            notop_url=f"{BASE_URL}vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            notop_hash="253f8cb515780f3b799900260a226db6",
        )
    },
}
