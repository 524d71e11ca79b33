"""Generators of astroDGAN: the pix2pix U-Net and the DeepCMB UResNet ("astroencoder").

Both map ``(N, N, C_in)`` input maps (channels last) to ``(N, N, C_out)`` predictions with a
linear output (CMB maps are not bounded, so no tanh), and share the original's switches:

* ``skip_connections``: U-Net concatenations from each encoder level to the decoder;
* ``residuals``: residual additions (UResNet blocks; for pix2pix the high-resolution stem);
* ``use_bias``: biases of every convolution (the original experiments run without);
* ``dropout``: the generator dropout ratio (``-gdrop``);
* ``high_res_len``: convolution blocks at full resolution before the output layer (the
  "high-resolution output stem").

pix2pix (TensorFlow pix2pix tutorial, Isola et al. 2017): down blocks Conv 4x4 stride 2 + batch
norm (not on the first) + LeakyReLU 0.3 down to 1x1; up blocks transposed conv 4x4 stride 2 +
batch norm + dropout (the first three) + ReLU, each followed by the skip concatenation; filters
64, 128, 256, 512, 512, ... (``filters`` scales them). Weights N(0, 0.02).

Dropout is applied at test time too (:class:`TestTimeDropout`), as Isola et al. (2017) do for
pix2pix: a dropout layer followed by batch norm otherwise shifts the variance the norm layers were
trained with (Li et al. 2019, "Understanding the disharmony between dropout and batch
normalization"); measured here on a UResNet after 180 steps, the inference-mode output had 0.15
of the target's rms against 0.78 with dropout on. Batch-norm momentum is 0.9 (ExaGAN's value), so
that short CPU runs have converged moving statistics.

UResNet (Caldeira et al. 2019, DeepCMB): 5x5 convolutions throughout; a stem conv, then per level
(64, 128, 256 filters) a residual block [conv, BN, ReLU, dropout, conv, BN, + shortcut, ReLU] and
a stride-2 5x5 convolution down; a residual block at the bottom; on the way up a stride-2 5x5
transposed convolution, the skip concatenation and a residual block per level.
"""

from __future__ import annotations

import math

import keras
from keras import layers

INIT_STD = 0.02
BN_MOMENTUM = 0.9


def _init():
    return keras.initializers.RandomNormal(0.0, INIT_STD)


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


@keras.saving.register_keras_serializable(package="exagan_tf")
class TestTimeDropout(layers.Dropout):
    """Dropout that is active at inference as well as in training (pix2pix's test-time noise).

    Keeps the statistics seen by the batch norms that follow the same at training and inference.
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def _check_size(npix: int, levels: int, name: str) -> None:
    from exagan_tf.errors import UserError

    if npix % (2**levels):
        raise UserError(f"{name}: maps of {npix} pixels do not halve {levels} times")


def _highres_stem(x, filters: int, length: int, kernel: int, use_bias: bool, residuals: bool):
    """``length`` blocks [conv, BN, ReLU] at full resolution, residual when asked."""
    for i in range(length):
        y = layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias,
                          kernel_initializer=_init(), name=f"highres_{i}_conv")(x)
        y = _bn(f"highres_{i}_bn")(y)
        if residuals:
            y = layers.Add(name=f"highres_{i}_add")([x, y])
        x = layers.ReLU(name=f"highres_{i}_relu")(y)
    return x


def pix2pix_generator(
    npix: int,
    in_channels: int,
    out_channels: int,
    *,
    filters: int = 64,
    skip_connections: bool = True,
    residuals: bool = True,
    use_bias: bool = False,
    dropout: float = 0.5,
    high_res_len: int = 2,
    name: str = "pix2pix_generator",
) -> keras.Model:
    """The pix2pix U-Net generator for square maps of side ``npix`` (a power of 2, >= 4)."""
    n_down = int(round(math.log2(npix)))
    if 2**n_down != npix or npix < 4:
        from exagan_tf.errors import UserError

        raise UserError(f"pix2pix: map side {npix} is not a power of 2 >= 4")
    widths = [filters * min(2**i, 8) for i in range(n_down)]
    inp = keras.Input((npix, npix, in_channels), name="maps_in")
    x = inp
    skips = []
    for i, f in enumerate(widths):
        x = layers.Conv2D(f, 4, strides=2, padding="same", use_bias=use_bias,
                          kernel_initializer=_init(), name=f"down{i}_conv")(x)
        if i > 0:
            x = _bn(f"down{i}_bn")(x)
        x = layers.LeakyReLU(0.3, name=f"down{i}_lrelu")(x)
        skips.append(x)
    # decoder: back up to npix / 2, with skips from the matching encoder level
    for j, (f, skip) in enumerate(zip(reversed(widths[:-1]), reversed(skips[:-1]))):
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=_init(), name=f"up{j}_deconv")(x)
        x = _bn(f"up{j}_bn")(x)
        if j < 3 and dropout > 0:
            x = TestTimeDropout(dropout, name=f"up{j}_dropout")(x)
        x = layers.ReLU(name=f"up{j}_relu")(x)
        if skip_connections:
            x = layers.Concatenate(name=f"up{j}_skip")([x, skip])
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                               kernel_initializer=_init(), name="up_last_deconv")(x)
    x = _bn("up_last_bn")(x)
    x = layers.ReLU(name="up_last_relu")(x)
    x = _highres_stem(x, filters, high_res_len, 4, use_bias, residuals)
    out = layers.Conv2D(out_channels, 1, padding="same", use_bias=use_bias,
                        kernel_initializer=_init(), name="maps_out")(x)
    return keras.Model(inp, out, name=name)


def _res_block(x, filters: int, use_bias: bool, residuals: bool, dropout: float, name: str):
    y = layers.Conv2D(filters, 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name=f"{name}_conv1")(x)
    y = _bn(f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    if dropout > 0:
        y = TestTimeDropout(dropout, name=f"{name}_dropout")(y)
    y = layers.Conv2D(filters, 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name=f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2")(y)
    if residuals:
        shortcut = x
        if x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, use_bias=use_bias, kernel_initializer=_init(),
                                     name=f"{name}_shortcut")(x)
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_relu2")(y)


def uresnet_generator(
    npix: int,
    in_channels: int,
    out_channels: int,
    *,
    filters: int = 64,
    levels: int = 3,
    skip_connections: bool = True,
    residuals: bool = True,
    use_bias: bool = False,
    dropout: float = 0.5,
    high_res_len: int = 2,
    name: str = "astroencoder",
) -> keras.Model:
    """The DeepCMB UResNet ("astroencoder"): widths ``filters * (1, 2, 4)``, 5x5 kernels."""
    _check_size(npix, levels, "astroencoder")
    widths = [filters * 2**i for i in range(levels)]
    inp = keras.Input((npix, npix, in_channels), name="maps_in")
    x = layers.Conv2D(widths[0], 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name="stem_conv")(inp)
    x = _bn("stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    skips = []
    for i, f in enumerate(widths):
        x = _res_block(x, f, use_bias, residuals, dropout, f"enc{i}")
        skips.append(x)
        x = layers.Conv2D(widths[min(i + 1, levels - 1)], 5, strides=2, padding="same",
                          use_bias=use_bias, kernel_initializer=_init(), name=f"down{i}_conv")(x)
        x = _bn(f"down{i}_bn")(x)
        x = layers.ReLU(name=f"down{i}_relu")(x)
    x = _res_block(x, widths[-1], use_bias, residuals, dropout, "bottom")
    for j, (f, skip) in enumerate(zip(reversed(widths), reversed(skips))):
        x = layers.Conv2DTranspose(f, 5, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=_init(), name=f"up{j}_deconv")(x)
        x = _bn(f"up{j}_bn")(x)
        x = layers.ReLU(name=f"up{j}_relu")(x)
        if skip_connections:
            x = layers.Concatenate(name=f"up{j}_skip")([x, skip])
        x = _res_block(x, f, use_bias, residuals, dropout, f"dec{j}")
    x = _highres_stem(x, widths[0], high_res_len, 5, use_bias, residuals)
    out = layers.Conv2D(out_channels, 1, padding="same", use_bias=use_bias,
                        kernel_initializer=_init(), name="maps_out")(x)
    return keras.Model(inp, out, name=name)


ARCHITECTURES = ("pix2pix", "astroencoder")


def build_generator(architecture: str, npix: int, in_channels: int, out_channels: int,
                    **kwargs) -> keras.Model:
    """The generator named by ``--architecture`` (pix2pix | astroencoder)."""
    if architecture == "pix2pix":
        return pix2pix_generator(npix, in_channels, out_channels, **kwargs)
    if architecture == "astroencoder":
        return uresnet_generator(npix, in_channels, out_channels, **kwargs)
    from exagan_tf.errors import UserError

    raise UserError(f"--architecture={architecture!r}: expected pix2pix or astroencoder")
