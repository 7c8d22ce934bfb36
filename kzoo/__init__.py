"""kzoo: a TensorFlow / Keras 3 model zoo and reusable layer package.

Importing kzoo registers every kzoo layer, initializer, optimizer and model for
Keras serialization, so `.keras` files that use them load without
`custom_objects`.
"""

from kzoo import data
from kzoo import layers
from kzoo import initializers, optimizers, callbacks, training
from kzoo import models
from kzoo import zoo
from kzoo.models.registry import create_model, list_models, model_info
from kzoo.version import __version__

__all__ = ["data", "layers", "models", "create_model", "list_models", "model_info", "__version__",
           "initializers", "optimizers", "callbacks", "training", "zoo"]
