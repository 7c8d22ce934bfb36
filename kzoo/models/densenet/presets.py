"""Pretrained DenseNet files: keras.applications' URLs and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"


def _imagenet(name, top_hash, notop_hash):
    return PretrainedWeights(
        top_url=f"{BASE_URL}{name}_weights_tf_dim_ordering_tf_kernels.h5",
        top_hash=top_hash,
        notop_url=f"{BASE_URL}{name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        notop_hash=notop_hash,
    )


#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "densenet121": {"imagenet": _imagenet("densenet121", "9d60b8095a5708f2dcce2bca79d332c7",
                                          "30ee3e1110167f948a6b9946edeeb738")},
    "densenet169": {"imagenet": _imagenet("densenet169", "d699b8f76981ab1b30698df4c175e90b",
                                          "b8c4d4c20dd625c148057b9ff1c1176b")},
    "densenet201": {"imagenet": _imagenet("densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                                          "c13680b51ded0fb44dff2d8f86ac8bb1")},
}
