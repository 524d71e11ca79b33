"""The baryon-painting conditional VAE, exactly as tabled in the original (seed 000).

x is the transformed pressure tile (1 channel), y the condition [T(dark matter), z] (2
channels), z the latent map (1 channel, tile / 32 per side: 16 x 16 for 512 x 512 tiles).

* Recognition q(z | x, y): part A on x (1->8->16->32, kernels 4, 8, 8, strides 2, 4, 4), part B
  on y (2->8->16->32, same), concatenated, part C (64->2, kernel 5): channel 0 the mean,
  channel 1 the log-variance. Every layer: no bias, batch norm, ReLU (also the last one, as the
  original's architecture file has it).
* Prior p(z | y): part B and a 32->2 kernel-5 head (no bias, batch norm, ReLU).
* Generator p(x | y, z): part A brings the latent back to the tile size with transposed
  convolutions 1->1 x2 (kernel 4), x4 (kernel 8), x4 (kernel 8), batch norm, ReLU; concatenated
  with y, part B: 3->16 (k5), 16->32->64->128 (k4, stride 2), 4 residual blocks (conv 3, BN,
  ReLU, conv 3, BN, + input, ReLU), transposed 128->64->32->16 (k4, stride 2, BN, ReLU), then
  16->8 (k7) PReLU, 8->1 (k5) PReLU, 1->1 (k3) softplus: the mean of x (the likelihood is a
  unit-variance Gaussian in transformed space). No layer has a bias. PReLU has one shared slope
  (PyTorch's default ``nn.PReLU()``, initial 0.25). 1,662,961 trainable parameters in all.
"""

from __future__ import annotations

import keras

from exagan_tf.baryons.layers import SplitChannels, batch_norm
from exagan_tf.core.layers import channel_axis
from exagan_tf.errors import UserError

#: Downsampling of the latent map relative to the tile (2 * 4 * 4).
LATENT_FACTOR = 32
#: (filters, kernel, stride) of the recognition parts A and B and the prior's body.
DOWN = ((8, 4, 2), (16, 8, 4), (32, 8, 4))
#: (kernel, stride) of the generator's latent branch (part A): x2, x4, x4.
LATENT_UP = ((4, 2), (8, 4), (8, 4))
N_RES_BLOCKS = 4


def _shape(tile: int, channels: int, data_format: str) -> tuple[int, int, int]:
    return (tile, tile, channels) if data_format == "channels_last" else (channels, tile, tile)


def check_tile(tile: int) -> None:
    """UserError unless the tile is a positive multiple of 32 (the latent map's factor)."""
    if tile < LATENT_FACTOR or tile % LATENT_FACTOR:
        raise UserError(f"tile size {tile}: the CVAE needs a multiple of {LATENT_FACTOR}")


def _conv(h, filters, kernel, stride, data_format, name, transpose=False):
    layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    return layer(filters, kernel, strides=stride, padding="same", use_bias=False,
                 data_format=data_format, name=name)(h)


def _conv_bn_relu(h, filters, kernel, stride, data_format, name, transpose=False):
    h = _conv(h, filters, kernel, stride, data_format, name, transpose)
    h = batch_norm(data_format, f"{name}_bn")(h)
    return keras.layers.ReLU(name=f"{name}_relu")(h)


def _down(h, data_format, prefix):
    for i, (filters, kernel, stride) in enumerate(DOWN):
        h = _conv_bn_relu(h, filters, kernel, stride, data_format, f"{prefix}{i}")
    return h


def _res_block(h, data_format, name):
    r = _conv_bn_relu(h, 128, 3, 1, data_format, f"{name}_a")
    r = _conv(r, 128, 3, 1, data_format, f"{name}_b")
    r = batch_norm(data_format, f"{name}_b_bn")(r)
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.Add(name=f"{name}_add")([r, h]))


def build_encoder(tile: int, data_format: str = "channels_last") -> keras.Model:
    """q(z | x, y): ``[x, y]`` -> ``[mean, logvar]``, each a 1-channel tile/32 map."""
    check_tile(tile)
    x = keras.Input(_shape(tile, 1, data_format), name="pressure")
    y = keras.Input(_shape(tile, 2, data_format), name="condition")
    h = keras.layers.Concatenate(axis=channel_axis(data_format), name="q_concat")(
        [_down(x, data_format, "q_x"), _down(y, data_format, "q_y")]
    )
    h = _conv_bn_relu(h, 2, 5, 1, data_format, "q_out")
    mean, logvar = SplitChannels(2, data_format, name="q_split")(h)
    return keras.Model([x, y], [mean, logvar], name="cvae_encoder")


def build_prior(tile: int, data_format: str = "channels_last") -> keras.Model:
    """p(z | y): ``y`` -> ``[mean, logvar]``."""
    check_tile(tile)
    y = keras.Input(_shape(tile, 2, data_format), name="condition")
    h = _down(y, data_format, "p_y")
    h = _conv_bn_relu(h, 2, 5, 1, data_format, "p_out")
    mean, logvar = SplitChannels(2, data_format, name="p_split")(h)
    return keras.Model(y, [mean, logvar], name="cvae_prior")


def build_decoder(tile: int, data_format: str = "channels_last") -> keras.Model:
    """p(x | y, z): ``[z, y]`` -> the mean of the transformed pressure (softplus, >= 0)."""
    check_tile(tile)
    lat = tile // LATENT_FACTOR
    z = keras.Input(_shape(lat, 1, data_format), name="latent")
    y = keras.Input(_shape(tile, 2, data_format), name="condition")
    h = z
    for i, (kernel, stride) in enumerate(LATENT_UP):
        h = _conv_bn_relu(h, 1, kernel, stride, data_format, f"g_z{i}", transpose=True)
    h = keras.layers.Concatenate(axis=channel_axis(data_format), name="g_concat")([h, y])
    h = _conv_bn_relu(h, 16, 5, 1, data_format, "g_in")
    for i, filters in enumerate((32, 64, 128)):
        h = _conv_bn_relu(h, filters, 4, 2, data_format, f"g_down{i}")
    for i in range(N_RES_BLOCKS):
        h = _res_block(h, data_format, f"g_res{i}")
    for i, filters in enumerate((64, 32, 16)):
        h = _conv_bn_relu(h, filters, 4, 2, data_format, f"g_up{i}", transpose=True)
    for i, (filters, kernel) in enumerate(((8, 7), (1, 5))):
        h = _conv(h, filters, kernel, 1, data_format, f"g_out{i}", transpose=True)
        h = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                               shared_axes=[1, 2, 3], name=f"g_out{i}_prelu")(h)
    h = _conv(h, 1, 3, 1, data_format, "g_mean", transpose=True)
    out = keras.layers.Activation("softplus", name="g_softplus")(h)
    return keras.Model([z, y], out, name="cvae_decoder")


def build_cvae(tile: int, data_format: str = "channels_last", *, seed: int = 0,
               kl_weight: float = 1.0):
    """The full CVAE: :class:`exagan_tf.core.vae.VAE` with the three networks above, a
    unit-variance Gaussian likelihood ("gaussian": 0.5 sum (x - x_hat)^2) and the KL to the
    learned prior (beta = ``kl_weight``, 1 in the original)."""
    from exagan_tf.core.vae import VAE

    return VAE(
        build_encoder(tile, data_format),
        build_decoder(tile, data_format),
        build_prior(tile, data_format),
        recon_loss="gaussian",
        kl_weight=kl_weight,
        seed=seed,
        name="cvae",
    )
