"""Weight initializers and the initialization experiment.

Keras's uniform Glorot, He and LeCun initializers draw exactly the published
distributions and are re-exported as they are. Keras's normal variants draw a
truncated normal, so kzoo's `GlorotNormal`, `HeNormal` and `LecunNormal` are
the paper's untruncated Gaussians. `Xavier*` and `Kaiming*` are aliases.
"""

import keras

from kzoo.initializers.activation_statistics import ActivationStatistics
from kzoo.initializers.activation_statistics import activation_statistics
from kzoo.initializers.activation_statistics import plot_activation_statistics
from kzoo.initializers.gains import NONLINEARITIES
from kzoo.initializers.gains import calculate_gain
from kzoo.initializers.variance_scaling import FanInUniform
from kzoo.initializers.variance_scaling import GainScaling
from kzoo.initializers.variance_scaling import GlorotNormal
from kzoo.initializers.variance_scaling import HeNormal
from kzoo.initializers.variance_scaling import LecunNormal

# Keras's own: U[-sqrt(6/(fan_in+fan_out)), +], U[-sqrt(6/fan_in), +], U[-sqrt(3/fan_in), +].
GlorotUniform = keras.initializers.GlorotUniform
"""Keras's Glorot uniform initializer, re-exported as is: `U[-a, a]` with
`a = sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio, 2010)."""
HeUniform = keras.initializers.HeUniform
"""Keras's He uniform initializer, re-exported as is: `U[-a, a]` with
`a = sqrt(6 / fan_in)` (He et al., 2015)."""
LecunUniform = keras.initializers.LecunUniform
"""Keras's LeCun uniform initializer, re-exported as is: `U[-a, a]` with
`a = sqrt(3 / fan_in)` (LeCun et al., 1998)."""

XavierUniform = GlorotUniform
"""Another name of `GlorotUniform`."""
XavierNormal = GlorotNormal
"""Another name of `GlorotNormal`."""
KaimingUniform = HeUniform
"""Another name of `HeUniform`."""
KaimingNormal = HeNormal
"""Another name of `HeNormal`."""

__all__ = [
    "GlorotUniform",
    "GlorotNormal",
    "XavierUniform",
    "XavierNormal",
    "HeUniform",
    "HeNormal",
    "KaimingUniform",
    "KaimingNormal",
    "LecunUniform",
    "LecunNormal",
    "FanInUniform",
    "GainScaling",
    "calculate_gain",
    "NONLINEARITIES",
    "activation_statistics",
    "plot_activation_statistics",
    "ActivationStatistics",
]
