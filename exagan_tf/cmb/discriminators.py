"""The PatchGAN discriminator of pix2pix on (input, target) pairs.

As the TensorFlow pix2pix tutorial (Isola et al. 2017): the input and target maps are
concatenated on the channel axis; Conv 4x4 stride 2 blocks (64, 128, 256 filters; batch norm
except on the first; LeakyReLU 0.3); zero padding, Conv 4x4 stride 1 (512) + batch norm +
LeakyReLU; dropout (``-ddrop``, absent from the tutorial, a switch of the original); zero padding
and Conv 4x4 stride 1 to one logit per patch (a 70x70 receptive field with three down blocks).
Maps smaller than 32 pixels get fewer down blocks so that at least a 2x2 patch map is left.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from exagan_tf.cmb.generators import _init


def patchgan_discriminator(
    npix: int,
    in_channels: int,
    out_channels: int,
    *,
    filters: int = 64,
    use_bias: bool = True,
    dropout: float = 0.5,
    n_down: int = 3,
    name: str = "patchgan",
) -> keras.Model:
    """PatchGAN ``[x, y] -> logits (batch, P, P, 1)``."""
    n_down = max(1, min(n_down, int(math.log2(npix)) - 2))
    x_in = keras.Input((npix, npix, in_channels), name="input_maps")
    y_in = keras.Input((npix, npix, out_channels), name="target_maps")
    x = layers.Concatenate(name="pair")([x_in, y_in])
    for i in range(n_down):
        x = layers.Conv2D(filters * 2**i, 4, strides=2, padding="same", use_bias=use_bias,
                          kernel_initializer=_init(), name=f"down{i}_conv")(x)
        if i > 0:
            x = layers.BatchNormalization(name=f"down{i}_bn")(x)
        x = layers.LeakyReLU(0.3, name=f"down{i}_lrelu")(x)
    x = layers.ZeroPadding2D(name="pad1")(x)
    x = layers.Conv2D(filters * 8, 4, strides=1, use_bias=use_bias, kernel_initializer=_init(),
                      name="patch_conv")(x)
    x = layers.BatchNormalization(name="patch_bn")(x)
    x = layers.LeakyReLU(0.3, name="patch_lrelu")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="patch_dropout")(x)
    x = layers.ZeroPadding2D(name="pad2")(x)
    out = layers.Conv2D(1, 4, strides=1, use_bias=use_bias, kernel_initializer=_init(),
                        name="logits")(x)
    return keras.Model([x_in, y_in], out, name=name)
