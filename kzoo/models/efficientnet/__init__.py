"""EfficientNet B0-B7 and EfficientNetV2, as keras.applications builds them, from kzoo layers."""

from kzoo.models.efficientnet.efficientnet import (efficientnet_b0, efficientnet_b1,
                                                   efficientnet_b2, efficientnet_b3,
                                                   efficientnet_b4, efficientnet_b5,
                                                   efficientnet_b6, efficientnet_b7)
from kzoo.models.efficientnet.efficientnet_v2 import (efficientnet_v2_b0, efficientnet_v2_b1,
                                                      efficientnet_v2_b2, efficientnet_v2_b3,
                                                      efficientnet_v2_l, efficientnet_v2_m,
                                                      efficientnet_v2_s)

__all__ = [
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_b0", "efficientnet_v2_b1", "efficientnet_v2_b2", "efficientnet_v2_b3",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
]
