"""Training: `train` a model into a resumable run directory, and sanity checks.

- `TrainConfig` (config.py): the one description of a run's options.
- `train` (trainer.py): data, model and optimizer (inside a `tf.distribute`
  strategy's scope), fit, evaluation, reports, export.
- run_dir.py (run directories), fit.py (callbacks, resume), evaluate.py
  (test metrics, `evaluate_model_file`), reports.py (plots), publish.py
  (a run becomes a shipped checkpoint).
- `overfit_check` / `overfit_check_model`: can the model overfit a tiny subset?
"""

from kzoo.training.config import TrainConfig
from kzoo.training.evaluate import evaluate_model_file
from kzoo.training.overfit_check import OverfitResult
from kzoo.training.overfit_check import overfit_check
from kzoo.training.overfit_check import without_regularization
from kzoo.training.publish import publish
from kzoo.training.trainer import build_zoo_model
from kzoo.training.trainer import train
from kzoo.training.zoo_overfit import fit_images_to_input
from kzoo.training.zoo_overfit import overfit_check_model

__all__ = [
    "TrainConfig",
    "build_zoo_model",
    "evaluate_model_file",
    "fit_images_to_input",
    "overfit_check",
    "overfit_check_model",
    "OverfitResult",
    "publish",
    "train",
    "without_regularization",
]
