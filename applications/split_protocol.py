"""The split protocol: pretrain on Fashion-MNIST classes 0-4, transfer to classes 5-9.

Fashion-MNIST's ten classes are split in two halves: T-shirt/top, trouser,
pullover, dress, coat (0-4) and sandal, shirt, sneaker, bag, ankle boot
(5-9). A LeNet (`kzoo.create_model("lenet", classes=5)`, with a
`Rescaling(1/255)` in front so that it takes raw pixels 0-255 like the zoo's
checkpoints) is trained on all training images of the first half
(`kzoo.data.load_arrays("fashion_mnist", "train", classes=[0, 1, 2, 3, 4])`),
for `--base-epochs` epochs (1 by default: a quick run), and cached in
`--output/base.keras` (with `base.json`, the settings it was trained with; a
later run with the same settings reuses it, other settings retrain it).

The second half is the target task: `--labels-per-class` labelled training
images of each of classes 5-9 (`classes=[5, 6, 7, 8, 9]`, relabelled 0-4,
`labels_per_class=N`, drawn with `--seed`), and every test image of those
classes (5,000) for the accuracy. Each mode of `--modes` trains one model
with the same budget (`--epochs`, batch size, Adam at `--learning-rate`):

- `scratch`: the same architecture (scaling, LeNet features, new head) with
  fresh weights, every layer trained;
- `linear`: the cached base, frozen, with a new head
  (`kzoo.transfer.classifier` + `kzoo.transfer.fine_tune(mode="linear")`);
- `head` / `full` / `auto`: the other `fine_tune` modes (the base's last
  stage, or all of it, trained after a head-only phase, at a tenth of the
  head's learning rate).

The base's own top (its 500-unit `fc1` and 5-class `predictions`) is cut off
by `classifier`, which reuses its 4×4×50 feature map (`--pooling`).

Run (Fashion-MNIST from Debian's `dataset-fashion-mnist`,
/usr/share/datasets/fashion-mnist, or any source kzoo.data knows):

    python applications/split_protocol.py                      # ~30 s; ~15 s once cached
    python applications/split_protocol.py --modes scratch,linear,head,full --labels-per-class 50
    python applications/split_protocol.py --base-epochs 5 --output split5/

Output (the default run, base test accuracy on classes 0-4: 0.8978):

    | mode | test accuracy (classes 5-9) | seconds | trained |
    |---|---|---|---|
    | scratch | 0.8524 | 3.0 | all layers |
    | linear | 0.8474 | 2.9 | linear 20 ep: predictions |
    | full | 0.8648 | 3.5 | head 10 ep: predictions; full 10 ep: block1_conv+block2_conv+pre... |

    result: scratch 0.8524  linear 0.8474  full 0.8648  (10 labels per class, 20 epochs, ...)
"""

import argparse
import json
import os
import time

import keras

import kzoo

SOURCE_CLASSES = [0, 1, 2, 3, 4]
TARGET_CLASSES = [5, 6, 7, 8, 9]
MODES = ("scratch", "linear", "head", "full", "auto")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Fashion-MNIST split protocol: a LeNet trained on classes 0-4, "
                    "transferred to a few labels of classes 5-9.")
    parser.add_argument("--modes", default="scratch,linear,full",
                        help=f"comma-separated, of {', '.join(MODES)} "
                             "(default: scratch,linear,full)")
    parser.add_argument("--labels-per-class", type=int, default=10,
                        help="labelled training images per target class (default: 10)")
    parser.add_argument("--epochs", type=int, default=20,
                        help="training epochs of each target model (default: 20)")
    parser.add_argument("--base-epochs", type=int, default=1,
                        help="epochs of the base on classes 0-4 (default: 1)")
    parser.add_argument("--base-labels-per-class", type=int, default=None,
                        help="train the base on this many images per class "
                             "(default: all 6,000)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam learning rate (default: 1e-3)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="batch size of the target models (default: 32; the base uses 128)")
    parser.add_argument("--pooling", default="flatten", choices=["avg", "max", "flatten"],
                        help="the new head's pooler (default: flatten)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights and of the labelled subset (default: 0)")
    parser.add_argument("--output", default=os.path.join("runs", "split_protocol"),
                        help="folder for base.keras, base.json and results.json "
                             "(default: runs/split_protocol)")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown or not args.modes:
        parser.error(f"--modes: unknown {unknown}; choose from {', '.join(MODES)}")
    if min(args.labels_per_class, args.epochs, args.base_epochs) < 1:
        parser.error("--labels-per-class, --epochs and --base-epochs must be >= 1")
    return args


def lenet(classes, include_top, name):
    """A fresh LeNet taking raw pixels 0-255 (the `scale` layer of the zoo's checkpoints)."""
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="scale")(pixels)
    return kzoo.create_model("lenet", include_top=include_top, classes=classes,
                             input_tensor=x, name=name)


def base_settings(args):
    return {"classes": SOURCE_CLASSES, "epochs": args.base_epochs, "seed": args.seed,
            "labels_per_class": args.base_labels_per_class, "learning_rate": args.learning_rate}


def pretrained_base(args):
    """The path of the base trained on classes 0-4: cached, or trained now."""
    path = os.path.join(args.output, "base.keras")
    meta_path = os.path.join(args.output, "base.json")
    settings = base_settings(args)
    if os.path.isfile(path) and os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("settings") == settings:
            print(f"base: reusing {path} (trained {meta['seconds']:.0f} s, test accuracy on "
                  f"classes 0-4 {meta['test_accuracy']:.4f})", flush=True)
            return path, meta
        print(f"base: {path} was trained with {meta.get('settings')}; retraining with "
              f"{settings}", flush=True)
    x, y, source = kzoo.data.load_arrays("fashion_mnist", "train", classes=SOURCE_CLASSES,
                                         labels_per_class=args.base_labels_per_class,
                                         seed=args.seed)
    x_test, y_test, _ = kzoo.data.load_arrays("fashion_mnist", "test", classes=SOURCE_CLASSES)
    print(f"base: training a LeNet on classes 0-4 ({len(x):,} images from {source}), "
          f"{args.base_epochs} epoch(s) ...", flush=True)
    keras.utils.set_random_seed(args.seed)
    model = lenet(len(SOURCE_CLASSES), include_top=True, name="lenet_fashion_0_4")
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(x.astype("float32"), y, epochs=args.base_epochs, batch_size=128, verbose=2)
    seconds = time.perf_counter() - started
    test_accuracy = float(model.evaluate(x_test.astype("float32"), y_test, batch_size=512,
                                         verbose=0)[1])
    os.makedirs(args.output, exist_ok=True)
    model.save(path)
    meta = {"settings": settings, "train_images": int(len(x)), "seconds": seconds,
            "test_accuracy": test_accuracy}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    print(f"base: test accuracy on classes 0-4 {test_accuracy:.4f}, saved to {path}",
          flush=True)
    return path, meta


def run_mode(mode, base_path, data, args):
    """Trains one target model; returns its row of the table."""
    (x, y), (x_test, y_test) = data
    classes = len(TARGET_CLASSES)
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    if mode == "scratch":
        model = kzoo.transfer.classifier(lenet(classes, include_top=False, name="lenet_scratch"),
                                         classes, pooling=args.pooling, name="scratch")
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        trained = "all layers"
    else:
        # A fresh copy of the base for every mode: classifier() reuses the base's layer
        # objects and fine_tune() trains them in place.
        base, _ = kzoo.transfer.load_base(base_path)
        model = kzoo.transfer.classifier(base, classes, pooling=args.pooling, name=mode)
        history = kzoo.transfer.fine_tune(model, (x, y), mode=mode, epochs=args.epochs,
                                          learning_rate=args.learning_rate,
                                          batch_size=args.batch_size, verbose=0)
        trained = "; ".join(f"{p['name']} {p['epochs']} ep: {'+'.join(p['trainable'])}"
                            for p in history.phases)
        if mode == "auto":
            mode = f"auto->{history.mode}"
    accuracy = float(model.evaluate(x_test, y_test, batch_size=512, verbose=0)[1])
    return {"mode": mode, "accuracy": accuracy, "trained": trained,
            "seconds": time.perf_counter() - started}


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    base_path, base_meta = pretrained_base(args)

    x, y, _ = kzoo.data.load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES,
                                    labels_per_class=args.labels_per_class, seed=args.seed)
    x_test, y_test, _ = kzoo.data.load_arrays("fashion_mnist", "test", classes=TARGET_CLASSES)
    data = (x.astype("float32"), y), (x_test.astype("float32"), y_test)
    print(f"target: classes 5-9, {len(x)} training images ({args.labels_per_class} per class), "
          f"{len(x_test):,} test images; {args.epochs} epochs per mode", flush=True)

    rows = []
    for mode in args.modes:
        print(f"{mode} ...", flush=True)
        rows.append(run_mode(mode, base_path, data, args))
        print(f"{rows[-1]['mode']}: test accuracy {rows[-1]['accuracy']:.4f} "
              f"({rows[-1]['seconds']:.0f} s)", flush=True)

    print()
    print("| mode | test accuracy (classes 5-9) | seconds | trained |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['mode']} | {row['accuracy']:.4f} | {row['seconds']:.1f} | "
              f"{row['trained']} |")
    print()

    results = {"base": base_meta, "labels_per_class": args.labels_per_class,
               "epochs": args.epochs, "seed": args.seed, "pooling": args.pooling,
               "train_images": int(len(x)), "test_images": int(len(x_test)), "modes": rows,
               "seconds": round(time.perf_counter() - started, 1)}
    with open(os.path.join(args.output, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    summary = "  ".join(f"{row['mode']} {row['accuracy']:.4f}" for row in rows)
    print(f"result: {summary}  ({args.labels_per_class} labels per class, {args.epochs} "
          f"epochs, base {args.base_epochs} epoch(s), seed {args.seed}, "
          f"{results['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
