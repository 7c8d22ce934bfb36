"""`kzoo finetune`: its options are generated from `FinetuneConfig`'s fields."""

import os

import click

from kzoo.cli.train import config_options, run_options, run_or_resume, stopped_note
from kzoo.transfer import FinetuneConfig, finetune


@click.command("finetune")
@config_options(FinetuneConfig)
@run_options("Run directory [default: runs/finetune-BASE-DATASET-seedSEED].")
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
    metrics = run_or_resume(lambda: finetune(config, output, overwrite=overwrite,
                                             export=export), output)
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}), "
               f"mode {metrics['mode']}{stopped_note(metrics)}; run directory {output}")


COMMANDS = (finetune_cmd,)
