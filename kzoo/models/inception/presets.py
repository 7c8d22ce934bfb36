"""Pretrained Inception files: the keras.applications URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
IRV2_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"

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
    "inception_resnet_v2": {
        "imagenet": PretrainedWeights(
            top_url=f"{IRV2_URL}inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
            top_hash="e693bd0210a403b3192acc6073ad2e96",
            notop_url=(f"{IRV2_URL}inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_"
                       "notop.h5"),
            notop_hash="d19885ff4a710c122648d3b5c3b684e4",
        )
    },
}
