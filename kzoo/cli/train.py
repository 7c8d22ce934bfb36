"""`kzoo train`: its options are generated from `TrainConfig`'s fields (`config_options`)."""

import json
import os
import sys
import typing

import click

from kzoo import distribute
from kzoo.training import TrainConfig, train

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _click_type(field, meta):
    if meta["choices"]:
        return click.Choice(list(meta["choices"]))
    annotation = field.type
    if typing.get_origin(annotation) is typing.Union:  # Optional[int]
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return _CLICK_TYPES.get(annotation, click.STRING)


def config_options(config_cls):
    """A decorator adding one click argument or option per field of `config_cls`."""
    return lambda fn: _add_options(fn, config_cls)


def _add_options(fn, config_cls):
    for field, flag, meta in reversed(config_cls.options()):
        if meta["positional"]:
            fn = click.argument(field.name)(fn)
        elif meta["multiple"]:
            fn = click.option(flag, field.name, multiple=True, metavar="KEY=VALUE",
                              help=meta["help"])(fn)
        elif field.type is bool:
            fn = click.option(flag, field.name, is_flag=True, default=field.default,
                              help=meta["help"])(fn)
        else:
            default = field.default
            fn = click.option(flag, field.name, default=default, type=_click_type(field, meta),
                              show_default=default not in (None, ""), help=meta["help"])(fn)
    return fn


def parse_model_args(pairs):
    """`("key=JSON", ...)` → a dict; a value that is not JSON stays a string."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Option --model-arg takes KEY=VALUE (a JSON value). "
                             f"Received: --model-arg {pair!r}")
        try:
            kwargs[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key.strip()] = value
    return kwargs


def check_output(ctx, param, value):
    """`--output ''` names no folder (left out, the default one is used): refused."""
    if value is not None and not value.strip():
        raise click.BadParameter(f"must name a folder; leave --output out for the default "
                                 f"one. Received: output={value!r}")
    return value


def run_options(output_help):
    """`--output`, `--overwrite` and `--export`: what every run-directory command takes."""
    def decorate(fn):
        fn = click.option("--export", is_flag=True,
                          help="Also write a SavedModel to RUN/saved_model.")(fn)
        fn = click.option("--overwrite", is_flag=True,
                          help="Start afresh in an existing run directory of this command "
                               "(never another command's folder, never a folder kzoo did not "
                               "make).")(fn)
        return click.option("--output", default=None, help=output_help,
                            callback=check_output)(fn)
    return decorate


def run_or_resume(start, output):
    """`start()`; Ctrl-C ends with one line saying how to resume (exit status 130)."""
    try:
        return start()
    except KeyboardInterrupt:
        click.echo(f"kzoo: interrupted; the last completed epoch is kept in {output}/checkpoint. "
                   "Run the same command to resume.", err=True)
        sys.exit(130)


def stopped_note(metrics):
    """`"; STOPPED EARLY after N of M epochs: why"` for a run that ended early, else `""`."""
    if not metrics.get("stopped_early"):
        return ""
    return (f"; STOPPED EARLY after {metrics.get('epochs_run', '?')} of {metrics['epochs']} "
            f"epochs: {metrics['stopped_early'].rstrip('.')}")


#: At most this many logical CPU devices (`--cpu-replicas`).
MAX_CPU_REPLICAS = 64


class StrategyChoice(click.Choice):
    """`click.Choice` of strategy names, where a name a command cannot use gets its reason."""

    def __init__(self, choices, refused=None):
        super().__init__(choices)
        self.refused = dict(refused or {})

    def convert(self, value, param, ctx):
        if value in self.refused:
            self.fail(f"{value!r}: {self.refused[value]}", param, ctx)
        return super().convert(value, param, ctx)


def strategy_options(fn=None, *, refused=None):
    """`--strategy` and `--cpu-replicas`: how a command distributes, not what it computes.

    They are options of the command, not of the run's configuration: the
    same run may resume under another strategy. `refused` maps strategy
    names the command cannot use to the reason given when one is asked for
    (they are not offered in its help).
    """
    if fn is None:
        return lambda f: strategy_options(f, refused=refused)
    refused = dict(refused or {})
    names = [name for name in distribute.STRATEGIES if name not in refused]
    fn = click.option("--cpu-replicas", type=click.IntRange(max=MAX_CPU_REPLICAS), default=None,
                      metavar="N",
                      help="Split the CPU into N logical devices, so 'mirrored' (or 'auto') "
                           f"runs N replicas on a CPU-only machine (at most "
                           f"{MAX_CPU_REPLICAS}).")(fn)
    help = "tf.distribute strategy. The batch size is the global batch."
    if "multi_worker" in names:
        help = ("tf.distribute strategy; 'multi_worker' reads the cluster from TF_CONFIG "
                "(start the same command on every worker). The batch size is the global batch.")
    help += "".join(f" '{name}' is not offered here." for name in refused)
    return click.option("--strategy", default="auto", show_default=True,
                        type=StrategyChoice(names, refused), help=help)(fn)


@click.command("train")
@config_options(TrainConfig)
@run_options("Run directory [default: runs/MODEL-DATASET-seedSEED].")
@strategy_options
@click.option("--download", is_flag=True,
              help="Let tensorflow-datasets download a dataset found nowhere locally.")
def train_cmd(output, overwrite, export, strategy, cpu_replicas, download, **fields):
    """Train MODEL on a dataset into a run directory (rerun to resume)."""
    # First: the CPU split and the multi-worker strategy must precede any TF op.
    strategy = distribute.get_strategy(strategy, cpu_replicas=cpu_replicas)
    fields["model_kwargs"] = parse_model_args(fields.pop("model_kwargs"))
    config = TrainConfig(**fields)
    output = output or os.path.join("runs", f"{config.model}-{config.dataset}-seed{config.seed}")
    metrics = run_or_resume(lambda: train(config, output, strategy=strategy, overwrite=overwrite,
                                          export=export, download=download), output)
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f})"
               f"{stopped_note(metrics)}; run directory {output}")


COMMANDS = (train_cmd,)
