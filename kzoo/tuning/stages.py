"""Coarse to fine: `"40x2,10x8"` stages, and a space narrowed around the best trials.

Stage 1 searches the whole space with few epochs per trial; every later stage
searches a space narrowed around the `top_k` best completed trials of the
stage before it, with more epochs:

- `log_uniform`: from `min(top) / f` to `max(top) · f`, with `f` one eighth
  of the original range in log space, inside the original range;
- `uniform` and `int`: from `min(top) − w` to `max(top) + w`, `w` one eighth
  of the original width (at least 1 for `int`), inside the original range;
- `choice`: the values that appear among the top trials, in their order.
"""

import dataclasses
import math
import re

from kzoo.training.config import MAX_EPOCHS
from kzoo.tuning.space import Parameter, Space

#: At most this many trials per stage, so that a typo is refused rather than searched for ever.
MAX_TRIALS = 10_000
#: The best completed trials of a stage that the next stage's space is narrowed around.
TOP_K = 5
_SHRINK = 8.0


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: `trials` trials of `epochs` epochs each (`number` from 1)."""

    number: int
    trials: int
    epochs: int

    @property
    def name(self):
        return f"stage{self.number}"


def parse_stages(stages, *, max_trials=None, epochs=None):
    """`"40x2,10x8"` → `[Stage(1, 40, 2), Stage(2, 10, 8)]`.

    Without `stages`, one stage of `max_trials` trials (at most `MAX_TRIALS`,
    10,000) of `epochs` epochs (at most 10,000); `check_counts` bounds a
    parsed `stages`.

    Examples:
        >>> kzoo.tuning.parse_stages("40x2,10x8")
        [Stage(number=1, trials=40, epochs=2), Stage(number=2, trials=10, epochs=8)]
    """
    if stages is None or stages == "":
        for name, value, most in (("max_trials", max_trials, MAX_TRIALS),
                                  ("epochs", epochs, MAX_EPOCHS)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise ValueError(f"Argument `{name}` must be an int >= 1, at most {most:,}. "
                                 f"Received: {name}={value!r}")
        return [Stage(1, max_trials, epochs)]
    if not isinstance(stages, str):
        raise ValueError(f"Argument `stages` must be a string like '40x2,10x8' (trials x "
                         f"epochs per stage). Received: stages={stages!r}")
    out = []
    for i, part in enumerate(stages.split(",")):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", part)
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise ValueError(f"Argument `stages` must be TRIALSxEPOCHS[,TRIALSxEPOCHS...] with "
                             f"numbers >= 1, e.g. '40x2,10x8'. Received: stages={stages!r} "
                             f"(part {part!r})")
        out.append(Stage(i + 1, int(match[1]), int(match[2])))
    return out


def check_counts(stages, parsed):
    """A `ValueError` unless every stage of `parsed` (from `stages`) has at most
    `MAX_TRIALS` trials and 10,000 epochs."""
    for stage in parsed:
        if stage.trials > MAX_TRIALS or stage.epochs > MAX_EPOCHS:
            raise ValueError(f"Argument `stages` must have at most {MAX_TRIALS:,} trials and "
                             f"{MAX_EPOCHS:,} epochs per stage. Received: stages={stages!r} "
                             f"(stage {stage.number}: {stage.trials}x{stage.epochs})")


def narrow(space, top_values, *, original=None):
    """The space of the next stage, narrowed around `top_values` (a list of value dicts).

    Args:
        space: the `Space` of the stage before.
        top_values: the hyperparameter values of its best completed trials.
        original: the stage-1 space, whose ranges bound every later one
            (defaults to `space`).

    Returns:
        A `Space` with the same names.
    """
    if not top_values:
        raise ValueError("Cannot narrow the space for the next stage: the stage before it "
                         "completed no trial (every one failed or diverged).")
    original = original or space
    return Space(tuple(_narrow(p, [v[p.name] for v in top_values if p.name in v],
                               original[p.name]) for p in space.parameters),
                 source=f"{space.source} narrowed")


def _narrow(p, values, first):
    if not values:
        return p
    if p.type == "choice":
        kept = [v for v in p.values if any(v == x for x in values)]
        return dataclasses.replace(p, values=tuple(kept or p.values))
    lo, hi = min(values), max(values)
    if p.is_log:
        f = math.exp(math.log(first.max / first.min) / _SHRINK)
        lo, hi = max(first.min, lo / f), min(first.max, hi * f)
    else:
        w = (first.max - first.min) / _SHRINK
        if p.type == "int":
            w = max(1, round(w))
        lo, hi = max(first.min, lo - w), min(first.max, hi + w)
    if p.type == "int":
        lo, hi = int(math.floor(lo)), int(math.ceil(hi))
        if lo >= hi:  # one integer left: a choice of it
            return Parameter(p.name, "choice", values=(lo,))
    if not lo < hi:
        return Parameter(p.name, "choice", values=(values[0],))
    return dataclasses.replace(p, min=lo, max=hi)
