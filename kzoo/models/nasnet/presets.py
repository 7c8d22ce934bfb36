"""Pretrained NASNet files: keras.applications' URLs, cache names and MD5 hashes."""

from kzoo.models.weights import PretrainedWeights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"

#: model name -> {weights name -> PretrainedWeights}
PRESETS = {
    "nasnet_mobile": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}NASNet-mobile.h5", top_hash="020fb642bf7360b370c678b08e0adf61",
            notop_url=f"{BASE_URL}NASNet-mobile-no-top.h5",
            notop_hash="1ed92395b5b598bdda52abe5c0dbfd63",
            top_file="nasnet_mobile.h5", notop_file="nasnet_mobile_no_top.h5",
        )
    },
    "nasnet_large": {
        "imagenet": PretrainedWeights(
            top_url=f"{BASE_URL}NASNet-large.h5", top_hash="11577c9a518f0070763c2b964a382f17",
            notop_url=f"{BASE_URL}NASNet-large-no-top.h5",
            notop_hash="d81d89dc07e6e56530c4e77faddd61b5",
            top_file="nasnet_large.h5", notop_file="nasnet_large_no_top.h5",
        )
    },
}
