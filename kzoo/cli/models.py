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
    """Show a model's family, parameters, FLOPs, input sizes, paper and weights."""
    from kzoo.models import registry

    for key, value in registry.model_info(model).items():
        click.echo(f"{key:20s} {value}")


COMMANDS = (list_cmd, info_cmd)
