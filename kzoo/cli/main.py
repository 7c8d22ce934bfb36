"""The `kzoo` group and the one place that turns exceptions into one-line errors."""

import sys
import warnings

import click

from kzoo.cli import (evaluate, experiments, export, finetune, models, publish, serve, train,
                      tune)

#: Exceptions that are the user's to fix: a message, never a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, OSError)


def one_line(error):
    """The message of `error` on one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


class OnceWarnings:
    """`warnings.showwarning` for the command line: `kzoo: warning: MESSAGE`, each once.

    Python's own prints the warning's file, line number and source line, and
    prints it again whenever its registries are reset (any
    `warnings.catch_warnings` does so); a user needs the message, once.
    """

    def __init__(self):
        self.seen = set()

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        text = one_line(message)
        if (category, text) in self.seen:
            return
        self.seen.add((category, text))
        if not issubclass(category, (UserWarning, RuntimeWarning)):
            text = f"{category.__name__}: {text}"
        try:
            (file or sys.stderr).write(f"kzoo: warning: {text}\n")
        except OSError:  # no stderr to write to (a closed pipe)
            pass


class KzooGroup(click.Group):
    """A click group whose commands end a user error with one `Error: ...` line.

    `ValueError`, `FileNotFoundError` and `OSError` (bad arguments, missing
    files or data) become a `click.ClickException` (exit status 1); Ctrl-C
    exits with status 130 and a one-line note. Python warnings print as one
    `kzoo: warning: ...` line each, once (`OnceWarnings`).
    """

    def invoke(self, ctx):
        with warnings.catch_warnings():  # restored after the command (CliRunner, tests)
            warnings.showwarning = OnceWarnings()
            return self._invoke(ctx)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except USER_ERRORS as e:
            raise click.ClickException(one_line(e)) from None
        except KeyboardInterrupt:
            click.echo("kzoo: interrupted", err=True)
            sys.exit(130)


@click.group(cls=KzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kzoo")
def main():
    """kzoo: a verified Keras 3 model zoo."""


for module in (models, train, finetune, tune, evaluate, publish, export, serve, experiments):
    for command in module.COMMANDS:
        main.add_command(command)
