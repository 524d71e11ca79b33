"""Small building blocks shared by the CVAE and CGAN builders.

Paddings follow the PyTorch originals: a kernel-4 stride-2 convolution with padding 1, kernel 8
stride 4 with padding 2 and odd kernels at stride 1 with (k - 1) / 2 are exactly Keras "same" on
sizes divisible by the stride (TensorFlow pads (k - s) / 2 on each side then), and the matching
transposed convolutions crop the same way. Where they differ (kernel 3 stride 2, kernel 4
stride 1) the PyTorch padding is written out with ZeroPadding2D / Cropping2D.
"""

from __future__ import annotations

import keras
from keras import ops

from exagan_tf.core.layers import PACKAGE, channel_axis

#: PyTorch BatchNorm2d defaults (momentum 0.1 of the new batch = Keras momentum 0.9).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def kaiming() -> keras.initializers.Initializer:
    """PyTorch ``kaiming_normal_`` (fan_in, gain sqrt(2)), untruncated."""
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def xavier(gain: float = 0.25) -> keras.initializers.Initializer:
    """PyTorch ``xavier_normal_(gain)``: std = gain sqrt(2 / (fan_in + fan_out))."""
    return keras.initializers.VarianceScaling(gain**2, "fan_avg", "untruncated_normal")


def batch_norm(data_format: str, name: str | None = None) -> keras.layers.BatchNormalization:
    """BatchNormalization on the channel axis with PyTorch's momentum and epsilon."""
    return keras.layers.BatchNormalization(
        axis=channel_axis(data_format), momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitChannels(keras.layers.Layer):
    """Split a tensor into single channels: ``[x[:, c:c+1] for c in range(channels)]``.

    The CVAE's recognition and prior heads end in one 2-channel map: channel 0 is the mean and
    channel 1 the log-variance of the latent map, as in the original (``h[:, 0]``, ``h[:, 1]``).
    """

    def __init__(self, channels: int = 2, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.data_format = data_format

    def call(self, inputs):
        axis = channel_axis(self.data_format)
        return ops.split(inputs, self.channels, axis=axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[channel_axis(self.data_format)] = 1
        return [tuple(shape)] * self.channels

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "data_format": self.data_format}
