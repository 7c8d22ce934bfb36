"""The `kzoo` command line (also `python -m kzoo`).

Each command imports TensorFlow lazily, so `kzoo --help` answers at once.
User errors (`ValueError`, missing files) end with a one-line message and a
non-zero exit status, never a traceback.
"""

import functools
import os
import sys

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def user_errors(fn):
    """Turns a `ValueError`/`FileNotFoundError` into a one-line `kzoo: error: ...`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError) as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("kzoo: interrupted", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kzoo")
def main():
    """kzoo: a verified Keras 3 model zoo."""


@main.command("list")
@click.argument("pattern", default="*")
@user_errors
def list_cmd(pattern):
    """List registered models matching PATTERN (fnmatch, e.g. 'resnet*')."""
    import kzoo

    for name in kzoo.list_models(pattern):
        click.echo(name)


@main.command("info")
@click.argument("model")
@user_errors
def info_cmd(model):
    """Show a model's family, parameters, FLOPs, input sizes, paper and weights."""
    import kzoo

    for key, value in kzoo.model_info(model).items():
        click.echo(f"{key:20s} {value}")


@main.command("demo")
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@user_errors
def demo_cmd(epochs, seed):
    """Short end-to-end run: a LeNet of kzoo layers on scikit-learn's 8x8 digits."""
    from kzoo.demo import run_demo

    run_demo(epochs=epochs, seed=seed)


def _register_training_commands():
    from kzoo.training import cli as training_cli

    for command in (training_cli.train_cmd, training_cli.evaluate_cmd, training_cli.predict_cmd):
        main.add_command(command)


_register_training_commands()
