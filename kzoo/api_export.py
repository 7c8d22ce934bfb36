"""The one export decorator: registers kzoo objects for Keras serialization.

Every kzoo layer, initializer, optimizer, schedule and model class is decorated
with `kzoo_export`, so a `.keras` file that contains it loads with
`keras.saving.load_model(path)` and no `custom_objects`, as soon as `kzoo` is
imported.
"""

import keras

PACKAGE = "kzoo"

#: Public name -> object, for every exported symbol (used by tests and docs).
EXPORTED = {}


def kzoo_export(path):
    """Register `obj` under `kzoo>ClassName` and record its public path.

    Args:
        path: public dotted path, e.g. `"kzoo.layers.Conv2D"`.

    Examples:
        >>> @kzoo_export("kzoo.layers.MyLayer")
        ... class MyLayer(keras.layers.Layer):
        ...     pass
    """

    def decorator(obj):
        registered = keras.saving.register_keras_serializable(package=PACKAGE)(obj)
        EXPORTED[path] = registered
        return registered

    return decorator
