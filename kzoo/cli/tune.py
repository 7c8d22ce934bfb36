"""`kzoo tune`: a hyperparameter search (KerasTuner) into a directory; rerun to resume."""

import os
import sys

import click

from kzoo.cli.train import check_output, strategy_options
from kzoo.training.config import MAX_EPOCHS
from kzoo.tuning import ALGORITHMS, search
from kzoo.tuning import stages as stages_module
from kzoo.tuning.search import PRECISIONS


def _check_stages(value):
    """`--stages ''` names no stage (left out, one stage of --max-trials runs): refused."""
    if value is not None and not value.strip():
        raise click.BadParameter(f"must be TRIALSxEPOCHS[,TRIALSxEPOCHS...], e.g. 40x2,10x8; "
                                 f"leave --stages out for one stage. Received: stages={value!r}")
    return value


#: Bounds of the count options, so that a typo is refused rather than searched for ever
#: (the trials' is the API's, `kzoo.tuning.search`'s).
MAX_TRIALS = stages_module.MAX_TRIALS
MAX_WORKERS = 64
#: Why `--strategy multi_worker` is not offered here, and what to use instead.
NO_MULTI_WORKER = ("kzoo tune trains each trial in one process (KerasTuner); to search on "
                   "several machines use --workers N (local worker processes) or KerasTuner's "
                   "chief/worker protocol (KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and "
                   "KERASTUNER_TUNER_ID on each machine)")


@click.command("tune")
@click.argument("model")
@click.option("--dataset", default="fashion_mnist", show_default=True, help="Dataset name.")
@click.option("--space", default=None,
              help="A preset (one per model family, `tuning/spaces/`) or a TOML file "
                   "[default: the model's family preset].")
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="random", show_default=True)
@click.option("--max-trials", type=int, default=10, show_default=True,
              help=f"Trials (without --stages; at most {MAX_TRIALS:,}).")
@click.option("--epochs", type=int, default=2, show_default=True,
              help=f"Epochs per trial, at most {MAX_EPOCHS:,} (without --stages; "
                   f"hyperband: the most a trial gets).")
@click.option("--stages", default=None, callback=lambda ctx, param, value: _check_stages(value),
              help="Coarse to fine: TRIALSxEPOCHS per stage, e.g. 40x2,10x8 (replaces "
                   "--max-trials and --epochs).")
@click.option("--output", default=None, help="Search directory [default: runs/tune-MODEL-DATASET].",
              callback=check_output)
@strategy_options(refused={"multi_worker": NO_MULTI_WORKER})
@click.option("--workers", type=int, default=0, show_default=True,
              help=f"Start a KerasTuner chief and N local worker processes (at most "
                   f"{MAX_WORKERS}).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
              help="Keras dtype policy, set in every trial.")
@click.option("--validation-size", type=int, default=None,
              help="Training images held out to rank the trials [default: kzoo train's].")
@click.option("--top-k", type=int, default=5, show_default=True,
              help="Best trials a stage's space is narrowed around (with --stages).")
@click.option("--budget-cpu-seconds", type=float, default=None,
              help="Start no trial once the trials have used this much CPU time.")
@click.option("--retrain/--no-retrain", default=True, show_default=True,
              help="Retrain the best trial's kzoo train command into OUTPUT/best.")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in an existing kzoo search (never a training run or "
                   "another folder).")
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
    _check_counts(max_trials=max_trials, epochs=epochs, stages=stages, workers=workers,
                  top_k=top_k)
    _warn_unused(click.get_current_context(), stages)
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


def _check_int(value, name, flag, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"Argument `{name}` ({flag}) must be an int >= {minimum}, at most "
                         f"{maximum:,}. Received: {name}={value!r}")


def _check_counts(*, max_trials, epochs, stages, workers, top_k):
    """Every count option within what a search can finish, before anything starts."""
    _check_int(workers, "workers", "--workers", 0, MAX_WORKERS)
    _check_int(top_k, "top_k", "--top-k", 1, MAX_TRIALS)
    if stages:
        for stage in stages_module.parse_stages(stages):
            if stage.trials > MAX_TRIALS or stage.epochs > MAX_EPOCHS:
                raise ValueError(
                    f"Argument `stages` (--stages) must have at most {MAX_TRIALS:,} trials and "
                    f"{MAX_EPOCHS:,} epochs per stage. Received: stages={stages!r} (stage "
                    f"{stage.number}: {stage.trials}x{stage.epochs})")
    else:
        _check_int(max_trials, "max_trials", "--max-trials", 1, MAX_TRIALS)
        _check_int(epochs, "epochs", "--epochs", 1, MAX_EPOCHS)


def _warn_unused(ctx, stages):
    """One warning line per option given where it does nothing."""
    given = {name for name in ("max_trials", "epochs", "top_k")
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    unused = []
    if stages:
        unused += [(f"--{n.replace('_', '-')}", "--stages sets the trials and epochs of each "
                    "stage") for n in ("max_trials", "epochs") if n in given]
    elif "top_k" in given:
        unused.append(("--top-k", "it narrows the space between the stages of --stages; "
                                  "without --stages there is one stage"))
    for flag, why in unused:
        click.echo(f"kzoo: warning: {flag} does nothing {'with' if stages else 'without'} "
                   f"--stages ({why}); it is ignored.", err=True)


COMMANDS = (tune_cmd,)
