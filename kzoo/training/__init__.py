"""Training: `train` a zoo model into a resumable run directory, and sanity
checks such as `overfit_check` (can the model overfit a tiny subset?)."""

from kzoo.training.overfit_check import OverfitResult
from kzoo.training.overfit_check import overfit_check
from kzoo.training.overfit_check import without_regularization
from kzoo.training.zoo_overfit import fit_images_to_input
from kzoo.training.zoo_overfit import overfit_check_model
from kzoo.training.trainer import TrainConfig
from kzoo.training.trainer import build_model
from kzoo.training.trainer import train

__all__ = [
    "overfit_check",
    "OverfitResult",
    "without_regularization",
    "overfit_check_model",
    "fit_images_to_input",
    "TrainConfig",
    "build_model",
    "train",
]
