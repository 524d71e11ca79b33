"""The baryon-painting conditional GAN, exactly as tabled in the original (seed 000).

Generator (after Johnson, Alahi & Fei-Fei 2016), input the condition [T(dm) - 1, z - 1]:
9x9 conv 2->32 (no bias), two 3x3 stride-2 convs 32->64->128 (bias), 9 residual blocks (conv 3,
BN, LeakyReLU(0.2), conv 3, BN, + input, LeakyReLU(0.2); no bias, as the CVAE's), two 3x3
stride-2 transposed convs 128->64->32 (bias), 9x9 conv 32->1 (bias) and tanh. Every layer has
batch norm, as the table lists (the last one too; see ``last_batchnorm``), and LeakyReLU(0.2)
but the last.

Discriminator on (dark matter, redshift, pressure), 3 channels: 4x4 convs 3->64->128->256->512->1
with strides 2, 2, 2, 1, 1 and padding 1 (a 512 tile gives a 62 x 62 patch map), bias on the
first and last, LeakyReLU(0.2), and a sigmoid patch output. Spectral normalisation
(Miyato et al. 2018, one power iteration) on every discriminator layer as the original code does;
``spectral_norm_generator`` adds it to every generator layer too (the paper's text).

Initialisation: Kaiming normal (fan in, gain sqrt 2) for every layer but the last of each network,
which gets Xavier normal with gain 0.25.

The discriminator's sigmoid: by default the sigmoid is *not* part of the model; the network
returns logits and :class:`~exagan_tf.core.cgan.ConditionalGAN` uses ``d_from_logits=True``.
The loss is the same function (BCE of sigmoid(logit)), but computed from logits it cannot
saturate: a probability clipped to 1e-7 has zero gradient, the logit form never does (this is
why the original ExaGAN dropped its sigmoid too). ``d_sigmoid=True`` builds the tabled sigmoid
output and trains with ``d_from_logits=False``.
"""

from __future__ import annotations

import keras

from exagan_tf.baryons.layers import batch_norm, kaiming, xavier
from exagan_tf.core.layers import channel_axis
from exagan_tf.errors import UserError

N_RES_BLOCKS = 9
D_FILTERS = ((64, 2, True), (128, 2, False), (256, 2, False), (512, 1, False), (1, 1, True))
SLOPE = 0.2


def _shape(tile: int, channels: int, data_format: str) -> tuple[int, int, int]:
    return (tile, tile, channels) if data_format == "channels_last" else (channels, tile, tile)


def discriminator_patch_size(tile: int) -> int:
    """Side of the discriminator's patch map: PyTorch arithmetic, kernel 4, padding 1."""
    n = tile
    for _, stride, _ in D_FILTERS:
        n = (n + 2 - 4) // stride + 1
    return n


def check_tile(tile: int) -> None:
    """UserError unless the tile is a multiple of 8 with a non-empty patch map (>= 24)."""
    if tile % 8 or discriminator_patch_size(tile) < 1:
        raise UserError(f"tile size {tile}: the CGAN needs a multiple of 8 of at least 24")


def _maybe_sn(layer, spectral: bool):
    return keras.layers.SpectralNormalization(layer, power_iterations=1) if spectral else layer


def _lrelu(name):
    return keras.layers.LeakyReLU(negative_slope=SLOPE, name=name)


def _res_block(h, data_format, name, spectral, filters=128):
    r = h
    for part in ("a", "b"):
        r = _maybe_sn(keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                          data_format=data_format, kernel_initializer=kaiming(),
                                          name=f"{name}_{part}"), spectral)(r)
        r = batch_norm(data_format, f"{name}_{part}_bn")(r)
        if part == "a":
            r = _lrelu(f"{name}_a_lrelu")(r)
    return _lrelu(f"{name}_lrelu")(keras.layers.Add(name=f"{name}_add")([r, h]))


def build_generator(tile: int, data_format: str = "channels_last",
                    spectral_norm: bool = False, last_batchnorm: bool = True,
                    filters: int = 32, res_blocks: int = N_RES_BLOCKS) -> keras.Model:
    """G: condition (2 channels) -> T(pressure) + shift in (-1, 1) (shift -1 in the original).

    ``filters`` is the first width (32 in the table; the downsampling convs double it twice, to
    128 in the residual blocks) and ``res_blocks`` the number of residual blocks (9).

    ``last_batchnorm`` keeps the table's batch norm before the tanh. With it the per-batch mean
    of the pre-activation is the norm's beta alone, which Adam moves by about the learning rate
    per step; data whose background sits near -1 (T - 1 of a pressure far below sigma(z)) then
    need ~1e4 steps before the output leaves 0. False drops it (the CPU demo tags do).
    """
    check_tile(tile)
    sn = spectral_norm
    x = keras.Input(_shape(tile, 2, data_format), name="condition")
    h = _maybe_sn(keras.layers.Conv2D(filters, 9, padding="same", use_bias=False,
                                      data_format=data_format, kernel_initializer=kaiming(),
                                      name="g_in"), sn)(x)
    h = _lrelu("g_in_lrelu")(batch_norm(data_format, "g_in_bn")(h))
    for i, width in enumerate((2 * filters, 4 * filters)):
        h = keras.layers.ZeroPadding2D(1, data_format=data_format, name=f"g_down{i}_pad")(h)
        h = _maybe_sn(keras.layers.Conv2D(width, 3, strides=2, padding="valid",
                                          data_format=data_format, kernel_initializer=kaiming(),
                                          name=f"g_down{i}"), sn)(h)
        h = _lrelu(f"g_down{i}_lrelu")(batch_norm(data_format, f"g_down{i}_bn")(h))
    for i in range(res_blocks):
        h = _res_block(h, data_format, f"g_res{i}", sn, 4 * filters)
    for i, width in enumerate((2 * filters, filters)):
        # PyTorch ConvTranspose2d(k=3, s=2, padding=1, output_padding=1): the full 2n+1 output
        # cropped by one row/column at the start.
        h = _maybe_sn(keras.layers.Conv2DTranspose(width, 3, strides=2, padding="valid",
                                                   data_format=data_format,
                                                   kernel_initializer=kaiming(),
                                                   name=f"g_up{i}"), sn)(h)
        h = keras.layers.Cropping2D(((1, 0), (1, 0)), data_format=data_format,
                                    name=f"g_up{i}_crop")(h)
        h = _lrelu(f"g_up{i}_lrelu")(batch_norm(data_format, f"g_up{i}_bn")(h))
    h = _maybe_sn(keras.layers.Conv2D(1, 9, padding="same", data_format=data_format,
                                      kernel_initializer=xavier(0.25), name="g_out"), sn)(h)
    if last_batchnorm:
        h = batch_norm(data_format, "g_out_bn")(h)
    out = keras.layers.Activation("tanh", name="g_tanh")(h)
    return keras.Model(x, out, name="cgan_generator")


def build_discriminator(tile: int, data_format: str = "channels_last",
                        spectral_norm: bool = True, sigmoid: bool = False) -> keras.Model:
    """D: ``[condition (2 ch), pressure (1 ch)]`` -> patch map of logits (or probabilities)."""
    check_tile(tile)
    cond = keras.Input(_shape(tile, 2, data_format), name="condition")
    pres = keras.Input(_shape(tile, 1, data_format), name="pressure")
    h = keras.layers.Concatenate(axis=channel_axis(data_format), name="d_concat")([cond, pres])
    last = len(D_FILTERS) - 1
    for i, (filters, stride, bias) in enumerate(D_FILTERS):
        h = keras.layers.ZeroPadding2D(1, data_format=data_format, name=f"d{i}_pad")(h)
        init = xavier(0.25) if i == last else kaiming()
        h = _maybe_sn(keras.layers.Conv2D(filters, 4, strides=stride, padding="valid",
                                          use_bias=bias, data_format=data_format,
                                          kernel_initializer=init, name=f"d{i}"),
                      spectral_norm)(h)
        if i < last:
            h = _lrelu(f"d{i}_lrelu")(h)
    if sigmoid:
        h = keras.layers.Activation("sigmoid", name="d_sigmoid")(h)
    return keras.Model([cond, pres], h, name="cgan_discriminator")


def pixel_l2_loss(x, y, y_pred):
    """mean (y - y_pred)^2 over the batch and every pixel, in transformed space (a scalar).

    The signature of :class:`~exagan_tf.core.cgan.ConditionalGAN`'s ``extra_loss``; ``x`` (the
    condition) is unused. Where most pixels are background and a few per cent carry the
    signal, an L1 term's gradient (the sign of the residual) is set by the background, while
    this one grows with the residual, so the rare bright pixels drive it.
    """
    import tensorflow as tf

    del x
    return tf.reduce_mean(tf.square(tf.cast(y, tf.float32) - tf.cast(y_pred, tf.float32)))


def build_cgan(tile: int, data_format: str = "channels_last", *, l1_weight: float = 2.5,
               l2_weight: float = 0.0, spectral_norm_generator: bool = False,
               spectral_norm_discriminator: bool = True, d_sigmoid: bool = False,
               g_last_batchnorm: bool = True, g_filters: int = 32,
               g_res_blocks: int = N_RES_BLOCKS, seed: int = 0):
    """:class:`exagan_tf.core.cgan.ConditionalGAN` with the networks above; the generator loss
    is BCE(D(x, G(x)), 1) + l1_weight * mean|y - G(x)| (2.5 = the original's 5 * 0.5)
    + l2_weight * :func:`pixel_l2_loss` (0 in the original)."""
    from exagan_tf.core.cgan import ConditionalGAN

    return ConditionalGAN(
        build_generator(tile, data_format, spectral_norm_generator, g_last_batchnorm,
                        g_filters, g_res_blocks),
        build_discriminator(tile, data_format, spectral_norm_discriminator, d_sigmoid),
        l1_weight=l1_weight,
        extra_loss=pixel_l2_loss if l2_weight else None,
        extra_weight=l2_weight,
        d_from_logits=not d_sigmoid,
        seed=seed,
        name="cgan",
    )
