"""`kzoo finetune`: its options are generated from `FinetuneConfig`'s fields."""

import os
import sys

import click

from kzoo.cli.train import config_options
from kzoo.transfer import FinetuneConfig, finetune


@click.command("finetune")
@config_options(FinetuneConfig)
@click.option("--output", default=None,
              help="Run directory [default: runs/finetune-BASE-DATASET-seedSEED].")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in an existing kzoo run directory (never a folder kzoo did "
                   "not make).")
@click.option("--export", is_flag=True, help="Also write a SavedModel to RUN/saved_model.")
def finetune_cmd(output, overwrite, export, **fields):
    """Fine-tune BASE on a dataset or a folder of images into a run directory.

    BASE is a zoo checkpoint name (lenet_fashion_mnist), a model name with
    --weights TAG, a .keras file or a `kzoo train` run directory. Rerun the
    same command to resume.
    """
    config = FinetuneConfig(**fields)
    dataset = os.path.basename(os.path.normpath(config.dataset))
    output = output or os.path.join(
        "runs", f"finetune-{config.model}-{dataset}-seed{config.seed}")
    try:
        metrics = finetune(config, output, overwrite=overwrite, export=export)
    except KeyboardInterrupt:
        click.echo(f"kzoo: interrupted; the last completed epoch is kept in {output}/checkpoint. "
                   "Run the same command to resume.", err=True)
        sys.exit(130)
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}), "
               f"mode {metrics['mode']}; run directory {output}")


COMMANDS = (finetune_cmd,)
