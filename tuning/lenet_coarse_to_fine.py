"""Coarse-to-fine hyperparameter search for LeNet on Fashion-MNIST (copy and adapt).

The zoo's method: search in log space (learning rate, weight decay), first a
wide search with a few epochs per trial, then a narrower, longer one around
what worked, and break out of a trial whose loss exceeds 3× its first value
(kzoo's `ExplosionGuard`; such trials are recorded as `diverged`). Stage 1
runs `TRIALS1` trials of `EPOCHS1` epochs over the space in
`tuning/spaces/lenet.toml`; stage 2 runs `TRIALS2` trials of `EPOCHS2`
epochs over that space narrowed around the 5 best trials of stage 1 (log
ranges shrunk around their values, choices cut to theirs). The best trial is
then retrained with the `kzoo train` command written to `best.json`.

Everything is in the output directory: `trials.csv`, `search.png`,
`best.json`, `best/` (the retrained run), TensorBoard hparams logs in `logs/`
(`tensorboard --logdir OUTPUT/logs`). Kill it at any moment and run the same
command again: completed trials are kept and the search goes on.

Run:

    python tuning/lenet_coarse_to_fine.py                            # 40x2,10x8: hours on 2 cores
    python tuning/lenet_coarse_to_fine.py --stages 12x1,4x4 --budget-cpu-minutes 20
    python tuning/lenet_coarse_to_fine.py --workers 2                # KerasTuner chief + 2 workers

Last line printed, e.g.:

    result: best val_accuracy 0.9112 (stage 2 trial 3), test accuracy 0.9080 retrained; runs/tune-lenet
"""

import argparse
import json
import os

import kzoo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Coarse-to-fine search for LeNet.")
    parser.add_argument("--model", default="lenet", help="lenet or lenet5.")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--space", default="lenet", help="A preset or a TOML file.")
    parser.add_argument("--stages", default="40x2,10x8", help="TRIALSxEPOCHS per stage.")
    parser.add_argument("--algorithm", default="random",
                        choices=["random", "grid", "hyperband", "bayesian"])
    parser.add_argument("--budget-cpu-minutes", type=float, default=None,
                        help="Start no trial once this much CPU time is spent.")
    parser.add_argument("--validation-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-retrain", action="store_true")
    parser.add_argument("--output", default="runs/tune-lenet")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    trials = kzoo.tuning.search(
        args.model, dataset=args.dataset, space=args.space, algorithm=args.algorithm,
        stages=args.stages, output_dir=args.output, seed=args.seed,
        validation_size=args.validation_size, workers=args.workers,
        budget_cpu_seconds=args.budget_cpu_minutes * 60 if args.budget_cpu_minutes else None,
        retrain_best=not args.no_retrain)
    with open(os.path.join(args.output, "best.json")) as f:
        best = json.load(f)
    retrained = best.get("retrained")
    test = f", test accuracy {retrained['test_accuracy']:.4f} retrained" if retrained else ""
    print(f"result: best val_accuracy {best['val_accuracy']:.4f} (stage {best['stage']} trial "
          f"{best['trial_id']}, {len(trials)} trials){test}; {args.output}")
    return best


if __name__ == "__main__":
    main()
