"""`kzoo tune`: a hyperparameter search (KerasTuner) into a directory; rerun to resume."""

import os
import sys

import click

from kzoo.cli.train import strategy_options
from kzoo.tuning import ALGORITHMS, search
from kzoo.tuning.search import PRECISIONS


@click.command("tune")
@click.argument("model")
@click.option("--dataset", default="fashion_mnist", show_default=True, help="Dataset name.")
@click.option("--space", default=None,
              help="A preset (one per model family, `tuning/spaces/`) or a TOML file "
                   "[default: the model's family preset].")
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="random", show_default=True)
@click.option("--max-trials", type=int, default=10, show_default=True,
              help="Trials (without --stages).")
@click.option("--epochs", type=int, default=2, show_default=True,
              help="Epochs per trial (without --stages; hyperband: at most).")
@click.option("--stages", default=None,
              help="Coarse to fine: TRIALSxEPOCHS per stage, e.g. 40x2,10x8.")
@click.option("--output", default=None, help="Search directory [default: runs/tune-MODEL-DATASET].")
@strategy_options
@click.option("--workers", type=int, default=0, show_default=True,
              help="Start a KerasTuner chief and N local worker processes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
              help="Keras dtype policy, set in every trial.")
@click.option("--validation-size", type=int, default=None,
              help="Training images held out to rank the trials [default: kzoo train's].")
@click.option("--top-k", type=int, default=5, show_default=True,
              help="Best trials a stage's space is narrowed around.")
@click.option("--budget-cpu-seconds", type=float, default=None,
              help="Start no trial once the trials have used this much CPU time.")
@click.option("--retrain/--no-retrain", default=True, show_default=True,
              help="Retrain the best trial's kzoo train command into OUTPUT/best.")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in an existing kzoo search (never a folder kzoo did not make).")
@click.option("--download", is_flag=True,
              help="Let tensorflow-datasets download a dataset found nowhere locally.")
def tune_cmd(model, dataset, space, algorithm, max_trials, epochs, stages, output, strategy,
             cpu_replicas, workers, seed, precision, validation_size, top_k,
             budget_cpu_seconds, retrain, overwrite, download):
    """Search hyperparameters of MODEL on a dataset (rerun the same command to resume).

    Writes OUTPUT/trials.csv, search.png, best.json (with the `kzoo train`
    command of the best trial), TensorBoard hparams logs, and the best trial
    retrained in OUTPUT/best.
    """
    output = output or os.path.join("runs", f"tune-{model}-{dataset}")
    try:
        trials = search(
            model, dataset=dataset, space=space or model, algorithm=algorithm,
            max_trials=max_trials, epochs=epochs, stages=stages, output_dir=output,
            strategy=strategy, cpu_replicas=cpu_replicas, workers=workers, seed=seed,
            precision=precision, validation_size=validation_size, top_k=top_k,
            budget_cpu_seconds=budget_cpu_seconds, retrain_best=retrain, overwrite=overwrite, download=download)
    except KeyboardInterrupt:
        click.echo(f"kzoo: interrupted; completed trials are kept in {output}. Run the same "
                   "command to resume.", err=True)
        sys.exit(130)
    done = [t for t in trials if t["status"] == "completed" and t["val_accuracy"] is not None]
    counts = {s: sum(t["status"] == s for t in trials) for s in ("completed", "diverged", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if done:
        best = max(done, key=lambda t: t["val_accuracy"])
        click.echo(f"{len(trials)} trials ({summary}); best val_accuracy "
                   f"{best['val_accuracy']:.4f}; search directory {output}")
    else:
        click.echo(f"{len(trials)} trials ({summary}); none completed; search directory {output}")


COMMANDS = (tune_cmd,)
