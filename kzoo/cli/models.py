"""`kzoo list` and `kzoo info`: the registry from the command line."""

import click


@click.command("list")
@click.argument("pattern", default="*")
def list_cmd(pattern):
    """List registered models matching PATTERN (fnmatch, e.g. 'resnet*')."""
    from kzoo.models import registry

    for name in registry.list_models(pattern):
        click.echo(name)


@click.command("info")
@click.argument("model")
def info_cmd(model):
    """Show a model's family, parameters, FLOPs, input sizes, paper, weights and top-1.

    imagenet_top1 is the published ImageNet top-1 accuracy (percent) of the
    model's "imagenet" weights, as keras.applications reports it (None for a
    model without them).
    """
    from kzoo.models import registry

    for key, value in registry.model_info(model).items():
        click.echo(f"{key:20s} {value}")


COMMANDS = (list_cmd, info_cmd)
