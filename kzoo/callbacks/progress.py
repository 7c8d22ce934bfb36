"""`Progress`: progress within an epoch and the time left, on a terminal or in a log.

Keras's progress bar (`verbose=1`) redraws one line with `\\r` and ANSI codes,
which a log file or a pipe keeps as garbage; `verbose=2` prints one line per
epoch and nothing in between, so a long epoch looks like a hang. `Progress`
does both jobs: on a terminal it redraws one line within the epoch (step,
images/s, the epoch's ETA), elsewhere it prints a plain line every
`interval` seconds; at the end of every epoch, one line with the epoch's
metrics, its time and the ETA of the run.
"""

import math
import sys
import time
from typing import Callable, Optional

import keras

from kzoo.api_export import kzoo_export

#: Log keys that are not metrics of the epoch (added by other kzoo callbacks).
_NOT_METRICS = ("epoch_seconds", "learning_rate")


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s` or `2h07m`: a duration to read at a glance."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@kzoo_export("kzoo.callbacks.Progress")
class Progress(keras.callbacks.Callback):
    """Prints progress within each epoch and the time left of the epoch and of the run.

    On a terminal one line is redrawn (with `\\r`, no ANSI codes) within the
    epoch: `Epoch 3/15 - step 120/469 - 812 images/s - loss 0.4213 - ETA 21s`.
    Elsewhere (a log file, a pipe) the same line is printed as a plain line at
    most every `interval` seconds. At the end of every epoch one line gives its
    metrics, its time and the ETA of the run (the epochs left × the mean epoch
    time so far): `Epoch 3/15 - 38s - loss 0.4012 - accuracy 0.8561 - val_loss
    0.4430 - val_accuracy 0.8420 - run ETA 7m36s`. Use it with `verbose=0`.

    Args:
        stream: where to write. Defaults to `sys.stdout` when training begins.
        interval: seconds between two lines within an epoch when `stream` is
            not a terminal, > 0. Defaults to `15`.
        batch_size: examples per step, for images/s (`None`: steps/s).
        total_epochs: epochs of the whole run, when this `fit` is a part of it
            (a phase of fine-tuning). Defaults to `fit`'s `epochs`.
        label: a prefix of every line (e.g. `"phase 2/2: full"`).
        terminal: whether `stream` is a terminal. Defaults to
            `stream.isatty()`.
        clock: seconds as a float (tests pass a fake clock). Defaults to
            `time.monotonic`.

    Examples:
        >>> progress = kzoo.callbacks.Progress(batch_size=128)
        >>> model.fit(x, y, batch_size=128, epochs=15, verbose=0, callbacks=[progress])
    """

    def __init__(self, stream=None, *, interval: float = 15.0, batch_size: Optional[int] = None,
                 total_epochs: Optional[int] = None, label: str = "",
                 terminal: Optional[bool] = None, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        if (isinstance(interval, bool) or not isinstance(interval, (int, float))
                or not interval > 0 or not math.isfinite(interval)):
            raise ValueError(f"Argument `interval` must be a finite number > 0. "
                             f"Received: interval={interval!r}")
        for name, value in (("batch_size", batch_size), ("total_epochs", total_epochs)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"Argument `{name}` must be None or an int >= 1. "
                                 f"Received: {name}={value!r}")
        self.stream = stream
        self.interval = float(interval)
        self.batch_size = batch_size
        self.total_epochs = total_epochs
        self.label = label
        self.terminal = terminal
        self.clock = clock
        #: Wall seconds of each epoch this callback has seen (the run ETA is their mean).
        self.epoch_seconds = []
        self._out = None
        self._width = 0

    # Output -----------------------------------------------------------------

    def _write(self, text, *, redraw=False):
        """A line: redrawn in place (terminal, within the epoch) or printed in full."""
        if self._terminal and redraw:
            self._out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            clear = "\r" + " " * self._width + "\r" if self._terminal and self._width else ""
            self._out.write(clear + text + "\n")
            self._width = 0
        self._out.flush()

    def _prefix(self, epoch):
        label = f"{self.label}: " if self.label else ""
        return f"{label}Epoch {epoch + 1}/{self._epochs}"

    # Callback ---------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._out = self.stream if self.stream is not None else sys.stdout
        terminal = self.terminal
        if terminal is None:
            isatty = getattr(self._out, "isatty", None)
            terminal = bool(isatty()) if callable(isatty) else False
        self._terminal = terminal
        self._epochs = self.total_epochs or self.params.get("epochs")
        self._steps = self.params.get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = self._last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        wait = 0.25 if self._terminal else self.interval
        if now - self._last < wait:
            return
        self._last = now
        step, elapsed = batch + 1, now - self._start
        parts = [self._prefix(self._epoch),
                 f"step {step}/{self._steps}" if self._steps else f"step {step}"]
        if elapsed > 0:
            rate = step * (self.batch_size or 1) / elapsed
            parts.append(f"{rate:.0f} {'images' if self.batch_size else 'steps'}/s")
        if logs and "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        if self._steps:
            parts.append(f"ETA {format_duration((self._steps - step) * elapsed / step)}")
        self._write(" - ".join(parts), redraw=True)

    def on_epoch_end(self, epoch, logs=None):
        seconds = self.clock() - self._start
        self.epoch_seconds.append(seconds)
        parts = [self._prefix(epoch), format_duration(seconds)]
        metrics = {key: value for key, value in (logs or {}).items()
                   if key not in _NOT_METRICS and _is_number(value)}
        # Keras sorts the logs by name; the loss reads first, validation after training.
        order = sorted(metrics, key=lambda k: (k.startswith("val_"),
                                               k.removeprefix("val_") != "loss"))
        parts += [f"{key} {float(metrics[key]):.4f}" for key in order]
        left = self.run_eta(epoch)
        if left is not None:
            parts.append(f"run ETA {format_duration(left)}")
        self._write(" - ".join(parts))

    def run_eta(self, epoch):
        """Seconds left after (0-based) `epoch`: epochs left × mean epoch time (None: unknown)."""
        if not self._epochs or not self.epoch_seconds:
            return None
        mean = sum(self.epoch_seconds) / len(self.epoch_seconds)
        return max(self._epochs - (epoch + 1), 0) * mean

    def get_config(self):
        # `stream` and `clock` are the process's own, not configuration.
        return {"interval": self.interval, "batch_size": self.batch_size,
                "total_epochs": self.total_epochs, "label": self.label,
                "terminal": self.terminal}


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def progress_verbosity(verbose, **kwargs):
    """`(keras_verbose, callbacks)` for a `verbose` argument of kzoo's fitting functions.

    `"auto"`: Keras silent (`0`) and a `Progress(**kwargs)`; anything else
    (`0`, `1`, `2`) is Keras's own and adds nothing.
    """
    if verbose == "auto":
        return 0, [Progress(**kwargs)]
    return verbose, []
