"""`kzoo demo`, `kzoo activation-stats` and `kzoo overfit-check`: short experiments."""

import os
import sys

import click

from kzoo.cli.demo import run_demo
from kzoo.initializers import activation_statistics
from kzoo.training.zoo_overfit import overfit_check_model


@click.command("demo")
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
def demo_cmd(epochs, seed):
    """Short end-to-end run: a LeNet of kzoo layers on scikit-learn's 8x8 digits."""
    run_demo(epochs=epochs, seed=seed)


@click.command("activation-stats")
@click.option("--output", "-o", default="activation_stats.png", show_default=True,
              type=click.Path(dir_okay=False), help="Where to save the plot (PNG, PDF, SVG...); never over an existing file.")
@click.option("--layers", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--units", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
def activation_stats_cmd(output, layers, units, samples, seed):
    """The initialization experiment: activation mean/std per layer of a deep net.

    Unit-Gaussian inputs through LAYERS fully connected layers of UNITS units,
    for weights 0.01*N(0,1), 1.0*N(0,1), Xavier and He, each with tanh and
    relu. Prints the table and saves the plot.
    """
    if os.path.lexists(output):
        raise ValueError(f"Argument `output` (--output): {output!r} exists; kzoo never writes "
                         f"over a file: choose another --output or remove it. "
                         f"Received: output={output!r}")
    stats = activation_statistics(
        num_layers=layers, units=units, num_samples=samples, seed=seed
    )
    click.echo(stats.table())
    stats.plot(output)
    click.echo(f"plot saved to {output}")


@click.command("overfit-check")
@click.argument("model")
@click.option("--dataset", default="digits", show_default=True,
              help="A kzoo.data dataset: digits (offline), fashion_mnist, mnist, cifar10.")
@click.option("--n", "n", default=20, show_default=True, type=click.IntRange(min=1),
              help="Number of training examples to overfit.")
@click.option("--epochs", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--optimizer", default="adam", show_default=True,
              help="A kzoo.optimizers.get name.")
@click.option("--learning-rate", default=1e-3, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--no-stop", is_flag=True, help="Train all epochs instead of stopping at 100%.")
def overfit_check_cmd(model, dataset, n, epochs, optimizer, learning_rate, seed, no_stop):
    """Sanity check: can zoo MODEL overfit N examples with regularization off?

    Exits with status 1 when it does not reach 100% training accuracy.
    """
    result = overfit_check_model(
        model, dataset=dataset, n=n, epochs=epochs, optimizer=optimizer,
        learning_rate=learning_rate, seed=seed, stop_at_100=not no_stop,
    )
    click.echo(result.summary())
    last = len(result.losses) - 1
    for epoch in sorted(set(range(0, last, max(1, last // 10))) | {last}):
        click.echo(f"  epoch {epoch + 1:4d}  loss {result.losses[epoch]:.4g}")
    if not result.reached_100:
        sys.exit(1)


COMMANDS = (demo_cmd, activation_stats_cmd, overfit_check_cmd)
