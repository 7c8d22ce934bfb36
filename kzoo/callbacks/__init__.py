"""Training callbacks: `ExplosionGuard`, per-epoch step decay, and Keras presets."""

from kzoo.callbacks.epoch_step_decay import EpochStepDecay
from kzoo.callbacks.explosion_guard import ExplosionGuard
from kzoo.callbacks.presets import early_stopping
from kzoo.callbacks.presets import halve_lr_on_plateau

__all__ = ["ExplosionGuard", "EpochStepDecay", "halve_lr_on_plateau", "early_stopping"]
