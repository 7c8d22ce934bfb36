"""Export of a trained model for serving: a TF SavedModel that TF Serving loads.

`model.export(path, format="tf_saved_model")` writes `serve` and
`serving_default` signatures; the export is written to a temporary folder
beside `path` and moved into place, so a crash never leaves half a SavedModel.
"""

import os
import shutil
import tempfile


def export_saved_model(model, path):
    """Exports `model` as a TF SavedModel into `path`, replacing it whole.

    Args:
        model: a `keras.Model`.
        path: the SavedModel folder to write.

    Example:

    >>> kzoo.serving.export_saved_model(model, "exports/lenet/1")
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
    try:
        shutil.rmtree(tmp)
        model.export(tmp, format="tf_saved_model", verbose=False)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
