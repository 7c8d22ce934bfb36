"""Search the CIFAR-style ResNet's depth and width (copy and adapt).

Depth is the model (`resnet20`, `resnet32`, `resnet44`: 3, 5, 7 basic blocks
per stage) and width the builder's `width` (every convolution's filters ×
k, the wide-ResNet factor), searched together with the learning rate, the
optimizer and the augmentation (`tuning/spaces/cifar_resnet.toml`), coarse
to fine. Deeper and wider nets cost more per epoch: the CSV's `seconds`
column and `search.png` show what each bought.

Run:

    python tuning/resnet_depth_width.py                              # 12x1,4x4 on Fashion-MNIST
    python tuning/resnet_depth_width.py --dataset digits --stages 4x1,2x2   # a minute
    python tuning/resnet_depth_width.py --strategy mirrored --cpu-replicas 2

Last line printed, e.g.:

    result: best resnet32 width 2, val_accuracy 0.9203 (stage 2 trial 1); runs/tune-resnet
"""

import argparse
import json
import os

import kzoo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Search the CIFAR ResNet's depth and width.")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--space", default="cifar_resnet", help="A preset or a TOML file.")
    parser.add_argument("--stages", default="12x1,4x4", help="TRIALSxEPOCHS per stage.")
    parser.add_argument("--strategy", default=None, help="e.g. mirrored (all GPUs).")
    parser.add_argument("--cpu-replicas", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-retrain", action="store_true")
    parser.add_argument("--output", default="runs/tune-resnet")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    trials = kzoo.tuning.search(
        "resnet20", dataset=args.dataset, space=args.space, stages=args.stages,
        output_dir=args.output, seed=args.seed, strategy=args.strategy,
        cpu_replicas=args.cpu_replicas, retrain_best=not args.no_retrain)
    with open(os.path.join(args.output, "best.json")) as f:
        best = json.load(f)
    values = best["values"]
    print(f"result: best {values.get('model', 'resnet20')} width {values.get('width', 1)}, "
          f"val_accuracy {best['val_accuracy']:.4f} (stage {best['stage']} trial "
          f"{best['trial_id']}, {len(trials)} trials); {args.output}")
    return best


if __name__ == "__main__":
    main()
