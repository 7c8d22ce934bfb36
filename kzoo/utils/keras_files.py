"""Reading a `.keras` model file: every way it can be broken is a `ValueError` naming it.

`keras.saving.load_model` answers a truncated, garbage or empty file with
"File not found ... Please ensure the file is an accessible .keras zip file"
(though the file exists), an archive without `config.json` with a bare
`KeyError`, and a `config.json` that is not JSON with the decoder's text,
naming no file. `load_model_file` checks those first and says which file is
broken and how. It is the one loader of `.keras` files for `kzoo evaluate`,
`predict`, `export`, `finetune` and `kzoo.transfer.load_base`.

kzoo's own layers must be registered for their files to load: importing
`kzoo.layers` (which every caller above this module does) registers them.
"""

import json
import os
import zipfile
import zlib

import keras

__all__ = ["load_model_file"]

#: What a `.keras` archive must hold for Keras to rebuild the model.
CONFIG_FILE = "config.json"
#: Errors of a file whose bytes are damaged (as opposed to a model Keras cannot rebuild).
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_model_file(path, *, argument="model_file", compile=True):
    """Loads a `.keras` model file; anything wrong with it is an error naming it.

    Args:
        path: the path of a `.keras` file.
        argument: the caller's name for `path`, used in the messages.
        compile: as `keras.saving.load_model` takes it.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ValueError: `path` is not a path; the file is empty, not a zip archive
            (corrupt, truncated or of another format), an archive without
            `config.json`, one whose `config.json` is not JSON, damaged, or a
            model Keras cannot rebuild. The message names the file and says
            which.

    Examples:
        >>> model = kzoo.utils.keras_files.load_model_file("runs/lenet/model.keras")
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"Argument `{argument}` must be the path of a .keras file. "
                         f"Received: {argument}={path!r}")
    path = os.fspath(path)
    received = f"Received: {argument}={path!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Argument `{argument}`: No model file at {path!r}. {received}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"Argument `{argument}`: {path!r} is not a .keras file: it is empty "
                         f"(0 bytes; a copy or a download that did not finish?). {received}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"Argument `{argument}`: {path!r} is not a .keras file (a .keras model "
                         f"is a zip archive; this file is corrupt, truncated or of another "
                         f"format). {received}")
    try:
        with zipfile.ZipFile(path) as archive:
            if CONFIG_FILE not in archive.namelist():
                raise ValueError(
                    f"Argument `{argument}`: {path!r} is not a .keras file: the zip archive has "
                    f"no {CONFIG_FILE} (it holds {sorted(archive.namelist())[:5]}). {received}")
            json.loads(archive.read(CONFIG_FILE))
    except _DAMAGED as e:
        raise ValueError(f"Argument `{argument}`: {path!r} is a damaged .keras file (corrupt or "
                         f"truncated: {_first_line(e)}). {received}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"Argument `{argument}`: {path!r} is a damaged .keras file: its "
                         f"{CONFIG_FILE} is not JSON ({_first_line(e)}). {received}") from None
    try:
        return keras.saving.load_model(path, compile=compile)
    except _DAMAGED as e:
        raise ValueError(f"Argument `{argument}`: {path!r} is a damaged .keras file (corrupt or "
                         f"truncated: {_first_line(e)}). {received}") from None
    except Exception as e:  # noqa: BLE001 - a model Keras cannot rebuild, whatever the reason
        raise ValueError(f"Argument `{argument}`: cannot load {path!r} as a .keras model: "
                         f"{_first_line(e)}. {received}") from None
