"""Serving: SavedModel export for TF Serving (`kzoo.serving.export_saved_model`)."""

from kzoo.serving.export import export_saved_model

__all__ = ["export_saved_model"]
