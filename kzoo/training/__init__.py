"""Training sanity checks: `overfit_check` (can the model overfit a tiny subset?)."""

from kzoo.training.overfit_check import OverfitResult
from kzoo.training.overfit_check import overfit_check
from kzoo.training.overfit_check import without_regularization

__all__ = ["overfit_check", "OverfitResult", "without_regularization"]
