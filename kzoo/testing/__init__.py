"""Test helpers for kzoo layers and for your own: `run_layer_test`, `two_replica_strategy`."""

from kzoo.testing.layer_test import run_layer_test
from kzoo.testing.layer_test import two_replica_strategy

__all__ = ["run_layer_test", "two_replica_strategy"]
