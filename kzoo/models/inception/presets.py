"""Pretrained Inception files: the keras.applications URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"

#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "inception_v3": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            top_hash="9a0d58056eeedaa3f26cb7ebd46da564",
            notop_url=f"{BASE_URL}inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            notop_hash="bcbd6486424b2319ff4ef7d526e38f63",
        )
    },
}
