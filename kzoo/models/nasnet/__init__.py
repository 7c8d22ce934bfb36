"""NASNet-A Mobile and Large, as keras.applications builds them, from kzoo layers."""

from kzoo.models.nasnet.nasnet import nasnet_large, nasnet_mobile

__all__ = ["nasnet_large", "nasnet_mobile"]
