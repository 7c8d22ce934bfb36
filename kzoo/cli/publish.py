"""`kzoo publish`: ship a finished run as one of the zoo's checkpoints."""

import click

from kzoo.training.publish import publish


@click.command("publish")
@click.argument("run_dir")
@click.option("--name", default=None, help="Checkpoint name [default: MODEL_DATASET].")
def publish_cmd(run_dir, name):
    """Ship a finished run's model in saved_models/ and record it in the manifest."""
    entry = publish(run_dir, name)
    click.echo(f"{entry['name']}: test accuracy {entry['test_accuracy']:.4f}, "
               f"sha256 {entry['sha256'][:12]}..., file saved_models/{entry['file']}")


COMMANDS = (publish_cmd,)
