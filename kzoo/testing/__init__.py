"""Test helpers for kzoo layers and for your own: `run_layer_test`."""

from kzoo.testing.layer_test import run_layer_test

__all__ = ["run_layer_test"]
