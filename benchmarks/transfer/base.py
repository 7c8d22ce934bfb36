"""The split protocol's base: trained here on Fashion-MNIST classes 0–4, resumable.

Its own small loop (`kzoo.training.TrainConfig` cannot restrict the classes):
`pixels → scale → create_model(arch, classes=5)`, adam with a cosine schedule,
resumable through `keras.callbacks.BackupAndRestore` in `<runs>/base-<arch>/`.
"""

import json
import os
import time

# base.json gives the model path relative to the benchmarks folder.
BENCHMARKS_DIR = os.path.dirname(os.path.dirname(__file__))
# The base learns the source classes; the cells transfer it to the target classes.
SOURCE_CLASSES = [0, 1, 2, 3, 4]
TARGET_CLASSES = [5, 6, 7, 8, 9]


def base_dir(root, model):
    return os.path.join(root, f"base-{model}")


def build_base(model, classes):
    """Raw pixels 0–255 → scale → `create_model(model, classes)` (as `kzoo train` builds it)."""
    import keras

    from kzoo.models import registry

    pixels = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(pixels)
    return registry.create_model(model, input_tensor=x, input_shape=(28, 28, 1),
                                 classes=classes, weights=None)


def train_base(root, model, settings):
    """The split protocol's base: trained on classes 0–4, resumable. Returns its info dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kzoo.data import load_arrays, pipeline
    from kzoo.utils import io

    out = base_dir(root, model)
    epochs = settings["base_epochs"][model]
    info_path = os.path.join(out, "base.json")
    expected = {"epochs": epochs, "lr": settings["base_lr"],
                "batch_size": settings["base_batch_size"]}
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        if info["settings"] == expected:
            return info
        raise SystemExit(f"transfer: {out} holds a base trained with {info['settings']}, not "
                         f"{expected}; remove it (and its cells) to retrain")
    os.makedirs(out, exist_ok=True)
    x, y, _ = load_arrays("fashion_mnist", "train", classes=SOURCE_CLASSES)
    xt, yt, _ = load_arrays("fashion_mnist", "test", classes=SOURCE_CLASSES)
    keras.utils.set_random_seed(0)
    net = build_base(model, len(SOURCE_CLASSES))
    steps = int(np.ceil(len(x) / settings["base_batch_size"]))
    schedule = keras.optimizers.schedules.CosineDecay(settings["base_lr"], steps * epochs)
    net.compile(optimizer=keras.optimizers.Adam(schedule),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = pipeline.from_arrays(x, y, settings["base_batch_size"], shuffle=True,
                                    normalize=None, seed=0)
    print(f"transfer: training base {model} on {len(x):,} images of classes 0-4 for "
          f"{epochs} epochs into {out}", flush=True)
    start = time.time()
    net.fit(train_ds, epochs=epochs, verbose=2, callbacks=[
        keras.callbacks.BackupAndRestore(os.path.join(out, "backup")),
        keras.callbacks.CSVLogger(os.path.join(out, "history.csv"), append=True)])
    seconds = time.time() - start
    accuracy = float(np.mean(net.predict(xt, batch_size=500, verbose=0).argmax(-1) == yt))
    path = os.path.join(out, "model.keras")
    io.save_model(net, path)
    info = {"model": model, "settings": expected, "epochs": epochs, "train_images": len(x),
            "test_accuracy": accuracy, "train_seconds_last_session": round(seconds, 1),
            "path": os.path.relpath(path, BENCHMARKS_DIR),
            "tensorflow": tf.__version__}
    io.write_json(info_path, info)
    print(f"transfer: base {model}: test accuracy on classes 0-4 {accuracy:.4f}", flush=True)
    return info


def base_infos(root, models):
    """The `base.json` of each trained split base."""
    infos = {}
    for model in models:
        path = os.path.join(base_dir(root, model), "base.json")
        if os.path.exists(path):
            with open(path) as f:
                infos[model] = json.load(f)
    return infos
