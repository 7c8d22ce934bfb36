"""Fine-tune an ImageNet ResNet-50 on your own folder of images (one subfolder per class).

The base is kzoo's ResNet-50 with keras.applications' ImageNet weights
(`kzoo.create_model("resnet50", weights=..., include_top=False)`: the same
file, layer names and results as `keras.applications.ResNet50`), the data
a folder read by `kzoo.data.load_arrays`:

    my_photos/cat/*.jpg
    my_photos/dog/*.jpg              -> classes ("cat", "dog")

A fixed 20 % of the training images is held out for validation
(`--validation-split`). With `my_photos/train/<class>/` and
`my_photos/test/<class>/` folders instead, the test folder is used (unless
`--validation-split` is given).
A new head (`kzoo.transfer.classifier`: global average pooling, dropout,
softmax) is trained with `kzoo.transfer.fine_tune` (`--mode linear` by
default: the ImageNet features stay fixed, which is the right choice for a
few dozen images per class; `head`/`full` also train the base's last stage
or all of it at a tenth of the learning rate, with BatchNorm kept frozen).

Preprocessing. keras.applications' ResNet-50 weights expect "caffe"
preprocessing (`keras.applications.resnet.preprocess_input`): RGB turned to
BGR, then the ImageNet channel means (B 103.939, G 116.779, R 123.68)
subtracted, no scaling. kzoo's `resnet50` has no preprocessing inside, so
this program puts it in the model, in front of the base, from serializable
pieces: `keras.ops.flip(x, axis=-1)` (RGB -> BGR) and a `Normalization` layer
named `caffe_mean` (mean = those means, variance 1). The saved model
therefore takes raw RGB pixels 0-255, like every kzoo model, and
`keras.saving.load_model(path)` (after `import kzoo`) gives it back, ready
for `model.predict(raw_pixels)`; do not call `preprocess_input` on its input.

`--weights` is `imagenet` (downloaded once by Keras into ~/.keras/models/)
or, offline, the path of a local copy of keras.applications'
`resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`.

Run:

    python applications/finetune_resnet50_folder.py --data my_photos
    python applications/finetune_resnet50_folder.py --data my_photos \
        --weights ~/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 \
        --image-size 160 --epochs 10 --output my_model/

224×224 on 2 CPU cores: ~0.15 s per image per epoch (training and
validation) in the linear mode (48 + 12 images, 5 epochs: 55 s). Writes `--output/model.keras` and
`--output/result.json`; the last line printed is e.g. (a random-weight file
in place of the ImageNet one, so chance accuracy)

    result: validation accuracy 0.3333 (4/12 images, 3 classes, linear, 5 epochs, 55 s)
"""

import argparse
import json
import os
import time

import keras

import kzoo

#: keras.applications.resnet.preprocess_input ("caffe" mode): BGR means, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Fine-tune an ImageNet ResNet-50 (keras.applications weights) on a folder "
                    "of images with one subfolder per class.")
    parser.add_argument("--data", required=True,
                        help="folder with one subfolder of images per class "
                             "(or train/ and test/ folders that each have them)")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (downloaded by Keras) or the path of "
                             "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 "
                             "(default: imagenet)")
    parser.add_argument("--image-size", type=int, default=224,
                        help="images are resized to this square size (default: 224; >= 32)")
    parser.add_argument("--mode", default="linear", choices=["linear", "head", "full", "auto"],
                        help="kzoo.transfer.fine_tune mode (default: linear)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    parser.add_argument("--labels-per-class", type=int, default=None,
                        help="train on this many images per class (default: all)")
    parser.add_argument("--validation-split", type=float, default=None,
                        help="fraction of the training images held out for validation "
                             "(default: kzoo.data's, 0.2 for a folder of class subfolders)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="learning rate of the head (default: 1e-3)")
    parser.add_argument("--dropout", type=float, default=0.2,
                        help="dropout before the new predictions layer (default: 0.2)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the head's weights, the shuffle and --labels-per-class "
                             "(default: 0)")
    parser.add_argument("--output", default=os.path.join("runs", "finetune_resnet50_folder"),
                        help="folder for model.keras and result.json "
                             "(default: runs/finetune_resnet50_folder)")
    args = parser.parse_args(argv)
    if args.image_size < 32:
        parser.error("--image-size must be >= 32 (ResNet-50's minimum input size)")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    return args


def resnet50_base(weights, size):
    """kzoo's ResNet-50 with `weights`, taking raw RGB pixels 0-255 (caffe preprocessing inside)."""
    pixels = keras.Input((size, size, 3), name="pixels")
    bgr = keras.ops.flip(pixels, axis=-1)  # RGB -> BGR, as preprocess_input does
    x = keras.layers.Normalization(mean=list(CAFFE_BGR_MEAN), variance=[1.0, 1.0, 1.0],
                                   name="caffe_mean")(bgr)
    return kzoo.create_model("resnet50", weights=weights, include_top=False, input_tensor=x)


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    size = (args.image_size, args.image_size)

    about = kzoo.data.info(args.data, channels=3, image_size=size,
                           validation_split=args.validation_split)
    class_names = list(about["class_names"])
    evaluation = "validation" if "validation" in about["splits"] else "test"
    if evaluation not in about["splits"]:
        raise SystemExit(f"error: {args.data} has no validation or test images "
                         f"(splits: {about['splits']})")
    common = dict(channels=3, image_size=size, validation_split=args.validation_split)
    x, y, source = kzoo.data.load_arrays(args.data, "train", labels_per_class=args.labels_per_class,
                                         seed=args.seed, **common)
    x_val, y_val, _ = kzoo.data.load_arrays(args.data, evaluation, **common)
    x, x_val = x.astype("float32"), x_val.astype("float32")  # raw RGB 0-255
    print(f"data: {source}: {len(class_names)} classes {class_names}, {len(x)} training and "
          f"{len(x_val)} {evaluation} images at {size[0]}x{size[1]}", flush=True)

    keras.utils.set_random_seed(args.seed)
    print(f"base: resnet50, weights={args.weights}", flush=True)
    base = resnet50_base(args.weights, args.image_size)
    model = kzoo.transfer.classifier(base, len(class_names), dropout=args.dropout,
                                     name="resnet50_folder")
    print(f"fine-tuning ({args.mode}), {args.epochs} epochs ...", flush=True)
    history = kzoo.transfer.fine_tune(
        model, (x, y), (x_val, y_val), mode=args.mode, epochs=args.epochs,
        learning_rate=args.learning_rate, batch_size=args.batch_size, verbose=2)

    loss, accuracy = model.evaluate(x_val, y_val, batch_size=args.batch_size, verbose=0)
    correct = int(round(accuracy * len(x_val)))
    os.makedirs(args.output, exist_ok=True)
    model_path = os.path.join(args.output, "model.keras")
    model.save(model_path)
    result = {
        "data": os.path.abspath(args.data), "class_names": class_names,
        "weights": os.fspath(args.weights), "image_size": args.image_size,
        "mode": history.mode, "epochs": args.epochs, "seed": args.seed,
        "train_images": int(len(x)), "evaluation_split": evaluation,
        "evaluation_images": int(len(x_val)), "accuracy": float(accuracy),
        "loss": float(loss), "model": os.path.abspath(model_path),
        "input": "raw RGB pixels 0-255", "seconds": round(time.perf_counter() - started, 1),
    }
    with open(os.path.join(args.output, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"saved {model_path} (raw RGB pixels 0-255 in) and result.json", flush=True)
    print(f"result: {evaluation} accuracy {accuracy:.4f} ({correct}/{len(x_val)} images, "
          f"{len(class_names)} classes, {history.mode}, {args.epochs} epochs, "
          f"{result['seconds']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
