"""Training callbacks: `ExplosionGuard`, `Progress`, per-epoch step decay, and Keras presets."""

from kzoo.callbacks.epoch_step_decay import EpochStepDecay
from kzoo.callbacks.explosion_guard import ExplosionGuard
from kzoo.callbacks.presets import early_stopping
from kzoo.callbacks.presets import halve_lr_on_plateau
from kzoo.callbacks.progress import Progress

__all__ = ["ExplosionGuard", "EpochStepDecay", "Progress", "halve_lr_on_plateau",
           "early_stopping"]
