"""Distribution: `get_strategy` by name, and the `strategy.run` loop for multi-worker training.

- `get_strategy(name, cpu_replicas=None)` (strategies.py): `auto`, `default`,
  `one_device`, `mirrored`, `multi_worker`; `cpu_replicas` splits the CPU
  into logical devices to run several replicas on a CPU-only machine.
- `fit_distributed` (loop.py): trains a compiled classifier with its own
  `strategy.run` loop, resumable per epoch, where Keras's `fit` fails
  (`MultiWorkerMirroredStrategy`); `is_chief` says which process writes.
- `EpochBackup` (backup.py): the resume callback (crash-safe; the chief
  writes, every worker restores), for `fit_distributed` and `fit` alike.
"""

from kzoo.distribute.backup import EpochBackup
from kzoo.distribute.loop import distribute_batches
from kzoo.distribute.loop import fit_distributed
from kzoo.distribute.loop import is_chief
from kzoo.distribute.loop import predict_probabilities
from kzoo.distribute.strategies import STRATEGIES
from kzoo.distribute.strategies import get_strategy
from kzoo.distribute.strategies import split_cpu
from kzoo.distribute.strategies import strategy_name

__all__ = ["STRATEGIES", "EpochBackup", "distribute_batches", "fit_distributed", "get_strategy",
           "is_chief", "predict_probabilities", "split_cpu", "strategy_name"]
