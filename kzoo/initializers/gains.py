"""`calculate_gain`: the recommended weight-scale gain of a nonlinearity."""

import math
import numbers
from typing import Optional

__all__ = ["calculate_gain", "NONLINEARITIES"]

_UNIT_GAIN = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)

NONLINEARITIES = _UNIT_GAIN + ("tanh", "relu", "leaky_relu", "selu")
"""Every name `calculate_gain` accepts."""


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """Returns the recommended gain for a nonlinearity.

    The gain `g` rescales a variance-preserving initialization so that the
    activations keep their scale through the nonlinearity: weights are drawn
    with variance `g**2 / fan` (see `kzoo.initializers.GainScaling`).

    | nonlinearity                          | gain                      |
    |---------------------------------------|---------------------------|
    | linear, identity, conv*, sigmoid      | 1                         |
    | tanh                                  | 5/3                       |
    | relu                                  | sqrt(2)                   |
    | leaky_relu                            | sqrt(2 / (1 + slope**2))  |
    | selu                                  | 3/4                       |

    Args:
        nonlinearity: name of the nonlinearity (case-insensitive), one of
            `kzoo.initializers.NONLINEARITIES`.
        param: negative slope of `"leaky_relu"` (defaults to `0.01`); ignored
            by the other nonlinearities, but must be a number when given.

    Returns:
        The gain, a Python float.

    Raises:
        ValueError: for an unknown `nonlinearity` or a non-numeric `param`.

    Reference:

    - [He et al., 2015](https://arxiv.org/abs/1502.01852) (relu, leaky_relu)
    - The table of `torch.nn.init.calculate_gain`, which this function follows.

    Examples:
        >>> kzoo.initializers.calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    if param is not None and (
        not isinstance(param, numbers.Real) or isinstance(param, bool) or not math.isfinite(param)
    ):
        raise ValueError(
            f"Argument `param` must be a finite number or None. Received: param={param!r}"
        )
    name = nonlinearity.lower() if isinstance(nonlinearity, str) else nonlinearity
    if name in _UNIT_GAIN:
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if name == "selu":
        return 3.0 / 4.0
    raise ValueError(
        f"Argument `nonlinearity` must be one of {list(NONLINEARITIES)}. "
        f"Received: nonlinearity={nonlinearity!r}"
    )
