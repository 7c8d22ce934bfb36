"""Pretrained Xception files: keras.applications' URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"

#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "xception": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}xception_weights_tf_dim_ordering_tf_kernels.h5",
            top_hash="0a58e3b7378bc2990ea3b43d5981f1f6",
            notop_url=f"{BASE_URL}xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
            notop_hash="b0042744bf5b25fce3cb969f33bebb97",
        )
    },
}
