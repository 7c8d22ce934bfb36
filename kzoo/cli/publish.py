"""`kzoo publish`: ship a finished run as one of the zoo's checkpoints."""

import os

import click

from kzoo.models import pretrained
from kzoo.training.publish import publish


@click.command("publish")
@click.argument("run_dir")
@click.option("--name", default=None, help="Checkpoint name [default: MODEL_DATASET].")
@click.option("--tag", default=None,
              help="The weights= tag of create_model [default: the dataset's name; a "
                   "fine-tuned run has none].")
@click.option("--overwrite", is_flag=True,
              help="Replace the zoo's checkpoint of the same name (says the old and new test "
                   "accuracy; never a file the manifest does not list).")
def publish_cmd(run_dir, name, tag, overwrite):
    """Ship a finished run's model in the shipped folder and record it in the manifest.

    The shipped folder is saved_models/ (in a clone; the package's otherwise),
    or $KZOO_SAVED_MODELS.
    """
    entry = publish(run_dir, name, tag=tag, overwrite=overwrite)
    click.echo(f"{entry['name']}: test accuracy {entry['test_accuracy']:.4f}, "
               f"sha256 {entry['sha256'][:12]}..., file "
               f"{os.path.join(pretrained.shipped_root(), entry['file'])}")


COMMANDS = (publish_cmd,)
