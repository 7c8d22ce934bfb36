"""Optimizers by textbook name (`kzoo.optimizers.get`), NAdam, and LR schedules."""

from kzoo.optimizers import schedules
from kzoo.optimizers.nadam import NAdam
from kzoo.optimizers.registry import OPTIMIZERS
from kzoo.optimizers.registry import get

__all__ = ["get", "NAdam", "OPTIMIZERS", "schedules"]
