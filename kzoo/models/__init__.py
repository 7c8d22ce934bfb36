"""Model builders (`kzoo.models`) and the registry that names them.

Importing this package registers every built-in family; reach a model by
name with `kzoo.create_model("resnet50")`, list them with
`kzoo.list_models("resnet*")`, and read its metadata with
`kzoo.model_info("resnet50")`.
"""

from kzoo.models.registry import (create_model, list_models, model_info, register_model,
                                  unregister_model)
from kzoo.models.weights import adapt_input_conv
from kzoo.models.flops import count_flops
from kzoo.models.features import feature_extractor

# Importing the families registers their builders.
from kzoo.models import (alexnet, convnext, densenet, efficientnet, inception, lenet,  # noqa: F401
                         maxout, mlp, mobilenet, nasnet, resnet, vgg, xception)
from kzoo.layers import LocalResponseNorm  # re-exported for compatibility

__all__ = [
    "adapt_input_conv",
    "count_flops",
    "create_model",
    "feature_extractor",
    "LocalResponseNorm",
    "list_models",
    "model_info",
    "register_model",
    "unregister_model",
]
