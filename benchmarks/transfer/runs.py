"""The cells of one (model, protocol, N, seed): target data, models, and the runs of each mode."""

import os
import time

from benchmarks.transfer.base import SOURCE_CLASSES, TARGET_CLASSES, base_dir, build_base
from benchmarks.transfer.cells import MODES, cell_path, cell_settings, read_cell


def target_data(protocol, n, seed):
    from kzoo.data import load_arrays

    if protocol == "split":
        train = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES,
                            labels_per_class=n, seed=seed)[:2]
        test = load_arrays("fashion_mnist", "test", classes=TARGET_CLASSES)[:2]
        return train, test, len(TARGET_CLASSES), None
    train = load_arrays("digits", "train", labels_per_class=n, seed=seed)[:2]
    test = load_arrays("digits", "test")[:2]
    return train, test, 10, (8, 8, 1)


def new_model(root, model, protocol, classes, input_shape, pretrained=True):
    import keras

    from kzoo.transfer import classifier, load_base

    keras.backend.clear_session()
    if not pretrained:
        base = build_base(model, len(SOURCE_CLASSES) if protocol == "split" else 10)
    elif protocol == "split":
        base = load_base(os.path.join(base_dir(root, model), "model.keras"))[0]
    else:
        base = load_base(f"{model}_fashion_mnist")[0]
    return classifier(base, classes, input_shape=input_shape)


def recalibrate_batch_norm(net, images, dry_run=False):
    """Sets every BatchNorm layer's moving statistics to those of `images` (one batch).

    Keras' moving averages (momentum 0.99) barely leave their initial 0 / 1 in
    the few dozen steps of a few-label run, so a network trained from scratch
    is evaluated with statistics it never saw; this "precise BN" (Wu & Johnson,
    2021) pass fixes that without changing a trained weight. Returns the
    number of BatchNorm layers (0: nothing to do).
    """
    import keras

    from kzoo.transfer import is_batch_norm

    layers = [layer for layer in net.layers if is_batch_norm(layer)]
    if dry_run or not layers:
        return len(layers)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        net(keras.ops.convert_to_tensor(images), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def accuracy_on(net, data):
    import numpy as np

    x, y = data
    return float(np.mean(net.predict(x, batch_size=500, verbose=0).argmax(-1) == y))


def run_group(root, model, protocol, n, seed, settings, log=print):
    """Runs the missing cells of one (model, protocol, N, seed); returns the cells."""
    import keras
    import numpy as np

    from kzoo.transfer import choose_mode, fine_tune
    from kzoo.transfer.fine_tune import labels_per_class
    from kzoo.utils import io

    paths = {m: cell_path(root, model, protocol, n, m, seed) for m in MODES}
    expected = {m: cell_settings(settings, model, protocol, m) for m in MODES}
    cached = {m: read_cell(paths[m], expected[m]) for m in MODES}
    if all(cached.values()):
        return cached
    train, test, classes, input_shape = target_data(protocol, n, seed)
    bs = settings["batch_size"]

    def save(mode, net, seconds, history, **extra):
        cell = {"model": model, "protocol": protocol, "n": n, "mode": mode, "seed": seed,
                "test_accuracy": accuracy_on(net, test),
                "train_accuracy": float(history.history["accuracy"][-1]),
                "train_images": len(train[0]), "test_images": len(test[0]),
                "seconds": round(seconds, 1), "settings": expected[mode], **extra}
        io.write_json(paths[mode], cell)
        log(f"transfer: {model} {protocol} N={n} seed {seed} {mode}: "
            f"{cell['test_accuracy']:.4f} (train {cell['train_accuracy']:.3f}, "
            f"{seconds:.0f} s)")
        cached[mode] = cell

    if cached["scratch"] is None:
        net = new_model(root, model, protocol, classes, input_shape, pretrained=False)
        keras.utils.set_random_seed(seed)
        net.compile(optimizer=keras.optimizers.Adam(settings["scratch_lr"]),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.time()
        history = net.fit(*train, batch_size=bs, epochs=settings["scratch_epochs"], verbose=0)
        extra = {}
        if settings["precise_bn"] and recalibrate_batch_norm(net, train[0], dry_run=True):
            extra["test_accuracy_keras_bn_statistics"] = accuracy_on(net, test)
            recalibrate_batch_norm(net, train[0])
        save("scratch", net, time.time() - start, history, **extra)

    weights_path = os.path.join(os.path.dirname(paths["linear"]), f"linear-seed{seed}.npz")
    if cached["linear"] is None or not os.path.exists(weights_path):
        net = new_model(root, model, protocol, classes, input_shape)
        keras.utils.set_random_seed(seed)
        start = time.time()
        history = fine_tune(net, train, mode="linear", epochs=settings["linear_epochs"],
                            learning_rate=settings["linear_lr"], batch_size=bs, verbose=0)
        seconds = time.time() - start
        with io.atomic_path(weights_path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, *net.get_weights())
        save("linear", net, seconds, history)
    linear_seconds = cached["linear"]["seconds"]

    for mode in ("head", "full"):
        if cached[mode] is not None:
            continue
        net = new_model(root, model, protocol, classes, input_shape)
        with np.load(weights_path) as f:
            net.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
        keras.utils.set_random_seed(seed)
        start = time.time()
        history = fine_tune(net, train, mode=mode, epochs=settings["tune_epochs"],
                            head_epochs=0, learning_rate=settings["tune_lr"],
                            base_lr_factor=settings["base_lr_factor"], batch_size=bs,
                            verbose=0)
        save(mode, net, linear_seconds + time.time() - start, history,
             phase2_trainable=len(history.phases[-1]["trainable"]))

    if cached["auto"] is None:
        chosen = choose_mode(labels_per_class(train, classes))
        source = cached[chosen]
        cell = {**{k: source[k] for k in ("model", "protocol", "n", "seed", "test_accuracy",
                                          "train_accuracy", "train_images", "test_images",
                                          "seconds")},
                "mode": "auto", "chosen_mode": chosen, "settings": expected["auto"]}
        io.write_json(paths["auto"], cell)
        cached["auto"] = cell
        log(f"transfer: {model} {protocol} N={n} seed {seed} auto -> {chosen}")
    keras.backend.clear_session()
    return cached
