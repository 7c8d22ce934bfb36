"""Model builders (`kzoo.models`) and the registry that names them."""

from kzoo.models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]
