"""Fine-tune a ConvNeXt-T (or EfficientNet-B0) with layer-wise learning-rate decay.

Layer-wise learning-rate decay (BEiT, ConvNeXt, timm's
`param_groups_layer_decay`) trains the layers near the input, which hold
the most general features, more gently than those near the head: the head
gets the learning rate `lr`, and a layer of stage i of n (the head is stage
n) gets `lr × base_lr_factor × layer_decay ** (n - i)`. kzoo does this in
`kzoo.transfer.fine_tune(..., layer_decay=)`, through
`kzoo.transfer.LayerwiseOptimizer` (one inner optimizer per distinct rate),
with the stages found from the network's graph
(`kzoo.transfer.freezing.stage_of_layers`, `kzoo.models.features.find_stages`).

This program builds `--model` (`convnext_tiny` by default, or
`efficientnet_b0`) without its top (`kzoo.create_model(..., include_top=False)`),
puts a new head on it (`kzoo.transfer.classifier`; a grey or smaller image
is resized and turned to RGB inside the model), prints the learning rate
every stage will get, trains with `kzoo.transfer.fine_tune(mode="full",
layer_decay=--layer-decay, base_lr_factor=--base-lr-factor)` (phase 1: the
head alone for `--head-epochs`; phase 2: every layer at its stage's rate,
BatchNorm frozen) and checks that the optimizer kzoo built uses exactly
those rates. Both models have ImageNet's input normalization inside, so
they take raw pixels 0-255.

`--data` is a kzoo dataset name (`fashion_mnist`, e.g. Debian's
`dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist; `digits`,
scikit-learn's, always there; `kzoo.data.list_datasets()`) or a folder with
one subfolder of images per class (20 % held out for validation, or
`train/` and `test/` folders). `--weights` is `imagenet` (downloaded once by
Keras) or, offline, the path of a weight file: keras.applications' notop
file (`convnext_tiny_notop.h5`, `efficientnetb0_notop.h5`) or a Keras
`.weights.h5` of the same model. `none` trains from random weights.

Run:

    python applications/finetune_layer_decay.py --weights imagenet        # Fashion-MNIST
    python applications/finetune_layer_decay.py --data digits --weights convnext_tiny_notop.h5
    python applications/finetune_layer_decay.py --model efficientnet_b0 --data my_photos \
        --weights imagenet --image-size 128 --layer-decay 0.8 --output my_run/

Writes `--output/model.keras` and `--output/result.json` (the per-stage
rates, planned and applied, and the accuracy). The last line printed is e.g.

    result: test accuracy 0.4596 (165/359 images, convnext_tiny, layer decay 0.7, 1 epochs, 36 s)

(`--data digits --labels-per-class 3 --image-size 32 --epochs 1`, random weights from a
file: this machine is offline.)
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import kzoo
from kzoo.transfer import freezing

MODELS = ("convnext_tiny", "efficientnet_b0")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Fine-tune a ConvNeXt-T or EfficientNet-B0 base with layer-wise "
                    "learning-rate decay (kzoo.transfer.fine_tune(..., layer_decay=)).")
    parser.add_argument("--model", default="convnext_tiny", choices=MODELS,
                        help="the base (default: convnext_tiny)")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (downloaded by Keras), the path of a weight file "
                             "(keras.applications' notop .h5 or a Keras .weights.h5), or "
                             "'none' for random weights (default: imagenet)")
    parser.add_argument("--data", default="fashion_mnist",
                        help="a kzoo dataset name (fashion_mnist, digits, ...) or a folder with "
                             "one subfolder of images per class (default: fashion_mnist)")
    parser.add_argument("--image-size", type=int, default=64,
                        help="the base's input size; images are resized to it (default: 64; "
                             ">= 32)")
    parser.add_argument("--layer-decay", type=float, default=0.7,
                        help="per-stage decay of the learning rate, in (0, 1] (default: 0.7)")
    parser.add_argument("--base-lr-factor", type=float, default=1.0,
                        help="extra factor on every base stage's rate (default: 1.0, "
                             "timm's layer decay alone)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="learning rate of the head (default: 1e-3)")
    parser.add_argument("--optimizer", default="adam",
                        help="a kzoo.optimizers name (default: adam)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs (default: 4)")
    parser.add_argument("--head-epochs", type=int, default=None,
                        help="epochs of phase 1 (the head alone), in [0, epochs - 1] "
                             "(default: epochs // 2)")
    parser.add_argument("--labels-per-class", type=int, default=20,
                        help="train on this many images per class; 0 for all (default: 20)")
    parser.add_argument("--test-images", type=int, default=1000,
                        help="evaluate on at most this many test (or validation) images, a "
                             "seeded sample; 0 for all (default: 1000)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the head, the shuffle and the subsets (default: 0)")
    parser.add_argument("--output", default=os.path.join("runs", "finetune_layer_decay"),
                        help="folder for model.keras and result.json "
                             "(default: runs/finetune_layer_decay)")
    args = parser.parse_args(argv)
    if args.image_size < 32:
        parser.error("--image-size must be >= 32")
    if not 0.0 < args.layer_decay <= 1.0:
        parser.error("--layer-decay must be in (0, 1]")
    if not args.base_lr_factor > 0.0:
        parser.error("--base-lr-factor must be > 0")
    if not args.learning_rate > 0.0:
        parser.error("--learning-rate must be > 0")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.head_epochs is not None and not 0 <= args.head_epochs < args.epochs:
        parser.error("--head-epochs must be in [0, epochs - 1]: phase 2 (where the layer "
                     "decay acts) needs at least one epoch")
    if args.labels_per_class < 0 or args.test_images < 0 or args.batch_size < 1:
        parser.error("--labels-per-class and --test-images must be >= 0, --batch-size >= 1")
    if args.optimizer.lower() not in kzoo.optimizers.OPTIMIZERS:
        parser.error(f"--optimizer must be one of {sorted(kzoo.optimizers.OPTIMIZERS)}")
    weights = args.weights
    if weights.lower() == "none":
        args.weights = None
    elif weights != "imagenet" and not os.path.isfile(weights):
        parser.error(f"--weights: no such file: {weights!r} (or pass 'imagenet' or 'none')")
    return args


def load_data(args):
    """`(x, y, x_eval, y_eval, class_names, evaluation split, source)`, raw pixels 0-255."""
    is_folder = os.path.isdir(args.data)
    if not is_folder and args.data not in kzoo.data.list_datasets():
        raise SystemExit(f"error: --data {args.data!r} is neither a folder nor a kzoo dataset "
                         f"{kzoo.data.list_datasets()}")
    common = {}
    if is_folder:  # read at the base's size, as RGB
        common = dict(channels=3, image_size=(args.image_size, args.image_size))
    try:
        about = kzoo.data.info(args.data, **common)
        evaluation = "test" if "test" in about["splits"] else "validation"
        if evaluation not in about["splits"]:
            raise SystemExit(f"error: {args.data} has no validation or test images "
                             f"(splits: {about['splits']})")
        x, y, source = kzoo.data.load_arrays(
            args.data, "train", labels_per_class=args.labels_per_class or None, seed=args.seed,
            **common)
        x_eval, y_eval, _ = kzoo.data.load_arrays(args.data, evaluation, **common)
    except kzoo.data.DatasetNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    if args.test_images and len(x_eval) > args.test_images:
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(x_eval))
                       [:args.test_images])
        x_eval, y_eval = x_eval[keep], y_eval[keep]
    return (x.astype("float32"), y, x_eval.astype("float32"), y_eval,
            list(about["class_names"]), evaluation, source)


def stage_learning_rates(model, learning_rate, layer_decay, base_lr_factor):
    """Per stage with weights: `{stage, first, last, layers, multiplier, learning_rate}`.

    The stages are kzoo's (`kzoo.transfer.freezing.stage_of_layers`, the
    ones `fine_tune` uses); stage i of n gets `base_lr_factor × layer_decay
    ** (n - i)`, the head (stage n) 1.
    """
    stage_of = freezing.stage_of_layers(model)
    n = max(stage_of.values(), default=0) + 1
    groups = {}
    for layer in model.layers[:freezing.head_start(model)]:
        if layer.weights:
            groups.setdefault(stage_of[layer.name], []).append(layer.name)
    rows = []
    for stage, names in sorted(groups.items()):
        multiplier = base_lr_factor * layer_decay ** (n - stage)
        rows.append({"stage": stage, "first": names[0], "last": names[-1],
                     "layers": names, "exponent": n - stage, "multiplier": multiplier,
                     "learning_rate": learning_rate * multiplier})
    head = [layer.name for layer in model.layers[freezing.head_start(model):] if layer.weights]
    rows.append({"stage": n, "first": head[0], "last": head[-1], "layers": head,
                 "exponent": 0, "multiplier": 1.0, "learning_rate": learning_rate})
    return rows


def applied_multipliers(model, rows):
    """Per row: the multipliers the compiled optimizer gives that stage's trainable variables.

    Empty for a stage with no trainable variable (EfficientNet's input normalization).
    """
    optimizer = model.optimizer
    applied = []
    for row in rows:
        found = set()
        for name in row["layers"]:
            for variable in model.get_layer(name).trainable_variables:
                if isinstance(optimizer, kzoo.transfer.LayerwiseOptimizer):
                    found.add(optimizer.multiplier(variable))
                else:  # every multiplier was 1: a plain optimizer
                    found.add(1.0)
        applied.append(sorted(found))
    return applied


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    size = args.image_size
    x, y, x_eval, y_eval, class_names, evaluation, source = load_data(args)
    print(f"data: {source}: {len(class_names)} classes, {len(x)} training and {len(x_eval)} "
          f"{evaluation} images of {x.shape[1]}x{x.shape[2]}x{x.shape[3]}", flush=True)

    keras.utils.set_random_seed(args.seed)
    print(f"base: {args.model} at {size}x{size}, weights={args.weights}", flush=True)
    base = kzoo.create_model(args.model, weights=args.weights, include_top=False,
                             input_shape=(size, size, 3))
    model = kzoo.transfer.classifier(base, len(class_names), input_shape=x.shape[1:],
                                     name=f"{args.model}_layer_decay")

    rows = stage_learning_rates(model, args.learning_rate, args.layer_decay,
                                args.base_lr_factor)
    n = rows[-1]["stage"]
    print(f"learning rates in phase 2 (lr {args.learning_rate:g} x base_lr_factor "
          f"{args.base_lr_factor:g} x layer_decay {args.layer_decay:g} ** (n - stage), "
          f"n = {n}):", flush=True)
    for row in rows:
        what = "head" if row["stage"] == n else "stage"
        fixed = not any(model.get_layer(name).trainable_weights for name in row["layers"])
        print(f"  {what} {row['stage']}: lr {row['learning_rate']:.4e}  "
              f"(x {row['multiplier']:.4g}, {len(row['layers'])} layers with weights: "
              f"{row['first']} .. {row['last']}){'  (none trainable)' if fixed else ''}",
              flush=True)

    print(f"fine-tuning (full, layer decay {args.layer_decay:g}), {args.epochs} epochs ...",
          flush=True)
    history = kzoo.transfer.fine_tune(
        model, (x, y), mode="full", epochs=args.epochs, head_epochs=args.head_epochs,
        learning_rate=args.learning_rate, base_lr_factor=args.base_lr_factor,
        layer_decay=args.layer_decay, optimizer=args.optimizer, batch_size=args.batch_size,
        verbose=2)
    applied = applied_multipliers(model, rows)
    for row, found in zip(rows, applied):
        if found and not (len(found) == 1 and np.isclose(found[0], row["multiplier"], rtol=1e-9)):
            raise RuntimeError(f"stage {row['stage']}: fine_tune's optimizer used multipliers "
                               f"{found}, not {row['multiplier']}")
    print("checked: the optimizer fine_tune built gives every stage these rates", flush=True)

    loss, accuracy = model.evaluate(x_eval, y_eval, batch_size=args.batch_size, verbose=0)
    correct = int(round(accuracy * len(x_eval)))
    os.makedirs(args.output, exist_ok=True)
    model_path = os.path.join(args.output, "model.keras")
    # Saved without the LayerwiseOptimizer's state: a model.keras holding it did not load back
    # (Keras 3.15: its groups' slot variables were matched to the wrong weights). The model is
    # compiled again with a fresh, unbuilt optimizer of the same kind (weights unchanged).
    model.compile(optimizer=kzoo.optimizers.get(args.optimizer, learning_rate=args.learning_rate),
                  loss=model.loss, metrics=["accuracy"])
    model.save(model_path)
    seconds = round(time.perf_counter() - started, 1)
    result = {
        "model": args.model, "weights": None if args.weights is None else os.fspath(args.weights),
        "data": source, "class_names": class_names, "image_size": size,
        "layer_decay": args.layer_decay, "base_lr_factor": args.base_lr_factor,
        "learning_rate": args.learning_rate, "optimizer": args.optimizer,
        "epochs": args.epochs, "phases": [{"name": p["name"], "epochs": p["epochs"]}
                                          for p in history.phases],
        "seed": args.seed, "train_images": int(len(x)), "evaluation_split": evaluation,
        "evaluation_images": int(len(x_eval)), "accuracy": float(accuracy), "loss": float(loss),
        "stages": [{key: row[key] for key in ("stage", "first", "last", "exponent",
                                              "multiplier", "learning_rate")}
                   | {"layers": len(row["layers"]),
                      "applied_multiplier": found[0] if found else None}
                   for row, found in zip(rows, applied)],
        "saved_model": os.path.abspath(model_path), "input": "raw pixels 0-255",
        "seconds": seconds,
    }
    with open(os.path.join(args.output, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"saved {model_path} and result.json", flush=True)
    print(f"result: {evaluation} accuracy {accuracy:.4f} ({correct}/{len(x_eval)} images, "
          f"{args.model}, layer decay {args.layer_decay:g}, {args.epochs} epochs, "
          f"{seconds:.0f} s)")
    return result


if __name__ == "__main__":
    main()
