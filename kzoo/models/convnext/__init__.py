"""ConvNeXt Tiny, Small, Base, Large and XLarge, as keras.applications builds them, from kzoo
layers."""

from kzoo.models.convnext.convnext import (convnext_base, convnext_large, convnext_small,
                                           convnext_tiny, convnext_xlarge)

__all__ = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
           "convnext_xlarge"]
