"""kzoo: a TensorFlow / Keras 3 model zoo and reusable layer package.

Importing kzoo registers every kzoo layer, initializer, optimizer and model for
Keras serialization, so `.keras` files that use them load without
`custom_objects`.
"""

import os as _os
import sys as _sys

# The `kzoo` command (console script or `python -m kzoo`) imports this package
# before its own module runs, so TensorFlow's C++ start-up log is quieted here,
# before TensorFlow loads, and the training commands' oneDNN default is set
# (kzoo.utils.runtime); a library user's process is left alone.
if _sys.argv and (_os.path.basename(_sys.argv[0]) == "kzoo" or _sys.argv[0] == "-m"):
    from kzoo.utils.quiet import import_tensorflow_quietly as _quiet_import
    from kzoo.utils import runtime as _runtime

    # The training commands turn TensorFlow's oneDNN kernels on (about 2x faster on
    # CPUs where TensorFlow leaves them off), unless TF_ENABLE_ONEDNN_OPTS is set.
    if len(_sys.argv) > 1 and _sys.argv[1] in _runtime.TRAINING_COMMANDS:
        _runtime.prefer_onednn()
    _quiet_import()

from kzoo import data  # noqa: E402
from kzoo import distribute  # noqa: E402
from kzoo import layers  # noqa: E402
from kzoo import initializers, losses, optimizers, callbacks, training  # noqa: E402
from kzoo import transfer  # noqa: E402
from kzoo import models  # noqa: E402
from kzoo import serving  # noqa: E402
from kzoo import tuning  # noqa: E402
from kzoo.models.registry import create_model, list_models, model_info  # noqa: E402
from kzoo.version import __version__  # noqa: E402

__all__ = ["data", "distribute", "layers", "models", "create_model", "list_models", "model_info",
           "__version__", "initializers", "losses", "optimizers", "callbacks", "training",
           "transfer", "serving", "tuning"]
