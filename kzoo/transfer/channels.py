"""`ConvertChannels`: grey ↔ RGB in front of a pretrained base."""

import keras
from keras import ops

from kzoo.api_export import kzoo_export

#: ITU-R BT.601 luma weights of R, G and B (what PIL's "L" mode uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: (input channels, output channels) pairs the layer converts between.
CONVERSIONS = {(1, 3): "repeating the grey channel",
               (3, 1): "ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B"}


@kzoo_export("kzoo.transfer.ConvertChannels")
class ConvertChannels(keras.layers.Layer):
    """Converts images between 1 and 3 channels (channels last).

    One channel to three repeats the grey channel (a grey image as RGB);
    three to one is the ITU-R BT.601 luma `0.299 R + 0.587 G + 0.114 B`.
    The same count passes the input through. `kzoo.transfer.classifier`
    puts this layer in front of a base trained on the other channel count,
    so the base's first convolution keeps its trained weights.

    Args:
        channels: 1 or 3, the number of output channels.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a `(batch, height, width, 1 or 3)` tensor.

    Examples:
        >>> layer = kzoo.transfer.ConvertChannels(3)
        >>> layer(np.zeros((2, 8, 8, 1), "float32")).shape
        (2, 8, 8, 3)
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(
                f"Argument `channels` must be 1 or 3. Received: channels={channels!r}"
            )
        self.channels = int(channels)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels != self.channels and (in_channels, self.channels) not in CONVERSIONS:
            raise ValueError(
                f"Layer ConvertChannels ({self.name!r}) converts 1 ↔ 3 channels; it cannot "
                f"make {self.channels} from {in_channels}. Received: input_shape={input_shape}"
            )
        self.built = True

    def call(self, inputs):
        in_channels = inputs.shape[-1]
        if in_channels == self.channels:
            return inputs
        if in_channels == 1:
            return ops.repeat(inputs, self.channels, axis=-1)
        weights = ops.convert_to_tensor(LUMA_WEIGHTS, dtype=inputs.dtype)
        return ops.sum(inputs * weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
