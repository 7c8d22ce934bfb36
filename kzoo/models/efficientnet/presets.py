"""Pretrained EfficientNet and EfficientNetV2 files: keras.applications' URLs and MD5 hashes.

One file with the classifier and one without per model, trained at the
model's default input size; the hashes are keras.applications'
`WEIGHTS_HASHES`, checked by `keras.utils.get_file` as keras.applications
checks them.
"""

from kzoo.models.weights import PretrainedWeights

V1_URL = "https://storage.googleapis.com/keras-applications/"
V2_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"

# keras.applications' file stem -> (MD5 with the top, MD5 without).
V1_HASHES = {
    "efficientnetb0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "efficientnetb1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "efficientnetb2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "efficientnetb3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "efficientnetb4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "efficientnetb5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "efficientnetb6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "efficientnetb7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
V2_HASHES = {
    "efficientnetv2-b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "efficientnetv2-b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "efficientnetv2-b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "efficientnetv2-b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "efficientnetv2-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "efficientnetv2-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "efficientnetv2-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def _files(base_url, stem, hashes):
    top_hash, notop_hash = hashes
    return PretrainedWeights(top_url=f"{base_url}{stem}.h5", top_hash=top_hash,
                             notop_url=f"{base_url}{stem}_notop.h5", notop_hash=notop_hash)


#: keras.applications' model name (its weight file's stem) -> {weights name -> PretrainedWeights}
PRESETS = {
    **{stem: {"imagenet": _files(V1_URL, stem, h)} for stem, h in V1_HASHES.items()},
    **{stem: {"imagenet": _files(V2_URL, stem, h)} for stem, h in V2_HASHES.items()},
}


def file_names(stem):
    """The base names of the model's keras.applications files (with and without the top)."""
    return {f"{stem}.h5", f"{stem}_notop.h5"}
