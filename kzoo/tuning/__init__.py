"""Hyperparameter search with KerasTuner, under `tf.distribute`.

- `search(model, *, dataset, space, algorithm, max_trials, epochs, output_dir,
  stages=None, strategy=None, seed=0)`: one search (or coarse-to-fine stages)
  into a directory, resumable; returns the trials.
- `load_space`, `list_spaces`, `Space`, `Parameter`: search spaces (TOML).
- `parse_stages`, `narrow`: the stages of a coarse-to-fine search.
- `ZooHyperModel`, `make_tuner`: the KerasTuner pieces, for your own tuner.
"""

from kzoo.tuning.search import search
from kzoo.tuning.space import Parameter, Space, list_spaces, load_space, searchable
from kzoo.tuning.stages import Stage, narrow, parse_stages
from kzoo.tuning.tuner import ALGORITHMS, ZooHyperModel, make_tuner

__all__ = ["search", "load_space", "list_spaces", "searchable", "Space", "Parameter",
           "parse_stages", "narrow", "Stage", "ZooHyperModel", "make_tuner", "ALGORITHMS"]
