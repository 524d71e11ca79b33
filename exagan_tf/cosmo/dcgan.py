"""ExaGAN DCGAN builders: discriminator, generator (with optional multi-channel rescaling), GAN.

Architecture as in the original ExaGAN (``networks/GANbuild.py``):

- discriminator: ``nlayers`` x [Conv2D(nconvfilters[i], convkern, convstride, 'same'),
  BatchNorm(eps 1e-5, momentum 0.9, channel axis), LeakyReLU(0.2)], Flatten, Dense(1) -> logit;
- generator: z -> Dense(f*f*2*ndeconvfilters[0]) -> BatchNorm -> ReLU -> reshape to
  (f, f, 2*ndeconvfilters[0]) with f = img_dim / convstride**nlayers, then ``nlayers`` x
  SameShapeConv2DTranspose(ndeconvfilters[i], convkern, convstride) with BatchNorm + ReLU after
  all but the last, tanh after the last; with ``multichannel`` the MCR channel is appended;
- initialisers: dense N(0, 0.02), conv TruncatedNormal(0, 0.02), transposed conv N(0, 0.02).

One deliberate difference: the batch norm after the generator's dense layer normalises each
dense feature (as the original does in channels_last). In channels_first the original applied it
to a size-1 axis of a (batch, 1, features) tensor, a side effect of its noise shape; here the
model is the same in both data formats.
"""

from __future__ import annotations

import keras

from exagan_tf.config import DCGANConfig
from exagan_tf.core.gan import GAN
from exagan_tf.core.layers import MultiChannelRescale, SameShapeConv2DTranspose, channel_axis
from exagan_tf.core.schedules import learning_rate

# synchronized: under a distribution strategy the batch statistics are those of the global batch,
# as on the original single GPU; on one device it changes nothing.
BN_KW = {"epsilon": 1e-5, "momentum": 0.9, "synchronized": True}
LEAKY_SLOPE = 0.2


def _inits():
    return {
        "dense": keras.initializers.RandomNormal(0.0, 0.02),
        "conv": keras.initializers.TruncatedNormal(0.0, 0.02),
        "tconv": keras.initializers.RandomNormal(0.0, 0.02),
    }


def image_shape(cfg: DCGANConfig, data_format: str, channels: int | None = None) -> tuple:
    """Shape of one image without the batch axis, e.g. (2, 128, 128) for NCHW with MCR."""
    c = cfg.nchannels if channels is None else channels
    d = cfg.img_dim
    return (c, d, d) if data_format == "channels_first" else (d, d, c)


def build_discriminator(cfg: DCGANConfig, data_format: str) -> keras.Model:
    """The DCGAN discriminator: images (with MCR: 2 channels) -> one logit per image."""
    init = _inits()
    axis = channel_axis(data_format)
    x = inputs = keras.Input(image_shape(cfg, data_format), name="image")
    for i, filters in enumerate(cfg.nconvfilters):
        x = keras.layers.Conv2D(
            filters,
            cfg.convkern,
            strides=cfg.convstride,
            padding="same",
            data_format=data_format,
            kernel_initializer=init["conv"],
            name=f"conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(axis=axis, name=f"bn{i}", **BN_KW)(x)
        x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"lrelu{i}")(x)
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    # float32 under a mixed-precision policy: the logits feed the cross-entropy
    logit = keras.layers.Dense(
        1, kernel_initializer=init["dense"], dtype="float32", name="logit"
    )(x)
    return keras.Model(inputs, logit, name="discriminator")


def build_generator(cfg: DCGANConfig, data_format: str) -> keras.Model:
    """The DCGAN generator: noise (noise_vect_len,) -> images in s(x) space (+ MCR channel)."""
    init = _inits()
    axis = channel_axis(data_format)
    fmap = cfg.img_dim // cfg.convstride**cfg.nlayers
    width = 2 * cfg.ndeconvfilters[0]
    z = keras.Input((cfg.noise_vect_len,), name="noise")
    x = keras.layers.Dense(fmap * fmap * width, kernel_initializer=init["dense"], name="dense")(z)
    x = keras.layers.BatchNormalization(axis=-1, name="bn_dense", **BN_KW)(x)
    x = keras.layers.ReLU(name="relu_dense")(x)
    shape = (width, fmap, fmap) if data_format == "channels_first" else (fmap, fmap, width)
    x = keras.layers.Reshape(shape, name="reshape")(x)
    for i, filters in enumerate(cfg.ndeconvfilters):
        x = SameShapeConv2DTranspose(
            filters,
            cfg.convkern,
            strides=cfg.convstride,
            data_format=data_format,
            kernel_initializer=init["tconv"],
            name=f"tconv{i}",
        )(x)
        if i == cfg.nlayers - 1:
            x = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
        else:
            x = keras.layers.BatchNormalization(axis=axis, name=f"bn{i}", **BN_KW)(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
    if cfg.multichannel:
        x = MultiChannelRescale(
            cfg.datascale, cfg.linear_scaler, data_format, dtype="float32", name="mcr"
        )(x)
    return keras.Model(z, x, name="generator")


def build_gan(
    cfg: DCGANConfig, data_format: str, train_counts=None, total_steps: int | None = None
) -> GAN:
    """The ExaGAN GAN, compiled with the original Adam(lr, beta_1=0.5) optimizers.

    Call inside ``strategy.scope()`` when distributing: the optimizers' slots are built here.
    ``total_steps`` (generator steps of the whole run) sets the ``lr_decay`` schedule; without
    it the learning rates stay constant.
    With ``pspec_weight > 0`` the generator also minimises :class:`PowerSpectrumLoss` against
    ``train_counts`` (training images in counts space).
    """
    extra = None
    if cfg.pspec_weight:
        if train_counts is None:
            raise ValueError("pspec_weight > 0 needs training images for the spectral targets")
        extra = PowerSpectrumLoss(train_counts, cfg, data_format)
    keras.utils.set_random_seed(cfg.seed)
    mcr = None
    if cfg.multichannel:
        mcr = MultiChannelRescale(cfg.datascale, cfg.linear_scaler, data_format, name="mcr_real")
        # built now: under a distribution strategy fit() would otherwise try a symbolic build
        mcr.build((None, *image_shape(cfg, data_format, channels=1)))
    gan = GAN(
        build_generator(cfg, data_format),
        build_discriminator(cfg, data_format),
        noise_dim=cfg.noise_vect_len,
        label_flip=cfg.label_flip,
        d_rounds=cfg.DG_update_ratio // 2,
        real_preprocess=mcr,
        seed=cfg.seed,
        joint_batch=cfg.joint_batch,
        g_extra_loss=extra,
        g_extra_weight=cfg.pspec_weight,
        g_ema=cfg.g_ema,
    )
    # lr_decay: each optimizer counts its own updates (D makes 1 or 2 per round per G step)
    d_updates = (1 if cfg.joint_batch else 2) * (cfg.DG_update_ratio // 2)
    d_lr = learning_rate(cfg.d_lr, total_steps and total_steps * d_updates, cfg.lr_decay)
    d_opt = keras.optimizers.Adam(d_lr, beta_1=0.5)
    g_opt = keras.optimizers.Adam(learning_rate(cfg.g_lr, total_steps, cfg.lr_decay), beta_1=0.5)
    if keras.config.dtype_policy().name == "mixed_float16":  # float16 needs loss scaling
        d_opt = keras.optimizers.LossScaleOptimizer(d_opt)
        g_opt = keras.optimizers.LossScaleOptimizer(g_opt)
    gan.compile(
        d_optimizer=d_opt,
        g_optimizer=g_opt,
        jit_compile=cfg.jit_compile,
    )
    return gan


INT16_MAX = 32767


def counts_from_generated(images, cfg: DCGANConfig, data_format: str):
    """Generated images as particle counts (n, H, W), read the way the data are stored.

    First channel, inverse-transformed (x = a(1+s)/(1-s)), then rounded to integers and clipped
    to [0, 32767], the int16 counts of the CosmoFlow layout. Rounding matters because the data
    are integer counts (two thirds of 1 Mpc/h voxels hold 0 particles, which a continuous output
    never hits exactly; with ``dequantize`` the model learnt counts plus uniform [0, 1) noise,
    so the floor is taken instead); clipping matters because a tanh output that saturates at
    s = 1 would otherwise invert to ~1e7 counts. A saturated pixel still reads as 32767, far
    above any simulated voxel, so the statistics still catch it.
    """
    import numpy as np

    first = images[:, 0] if data_format == "channels_first" else images[..., 0]
    s = np.clip(first.astype(np.float64), -1.0, 1.0 - 1e-9)
    to_int = np.floor if cfg.dequantize else np.rint
    return np.clip(to_int(cfg.datascale * (1.0 + s) / (1.0 - s)), 0, INT16_MAX)


class PowerSpectrumLoss:
    """Differentiable version of the power spectrum the statistics use, as a generator loss.

    The generator's first channel ``s`` is taken back to counts ``x = a(1+s)/(1-s)`` (``1 - s``
    floored at 1e-6 as in MCR, not capped at the int16 maximum: an over-bright pixel must keep a
    gradient that pulls it back, and through the logarithm that gradient stays bounded) and read
    as integer counts exactly as :func:`counts_from_generated` reads them (rounded, or floored
    with ``dequantize``), with straight-through gradients (the rounding is the identity for the
    backward pass). Then ``P(k) = |FFT((x - mu)/mu)|^2`` is binned with exactly the annuli of
    :func:`exagan_tf.core.stats.power_spectrum_2d`; the loss is
    :func:`~exagan_tf.core.losses.log_spectrum_moments_loss` against the mean and scatter of the
    training images' log spectra. This is the spectral term of ExaGANv2 (the original v1 has
    none: ``pspec_weight: 0``), which took the spectrum of the continuous output.

    Reading integer counts matters at high k, where the data's power is mostly the shot noise of
    discrete particles: a continuous output can match the spectrum with sub-count fluctuations
    in voids that rounding then erases, leaving the read-out images 3-5x short of small-scale
    power (measured on the CPU demo).

    Args:
        train_counts: ``(n, N, N)`` training images in counts space (the targets).
        cfg: the run's config (``datascale``).
        data_format: of the generator's output.
    """

    def __init__(self, train_counts, cfg: DCGANConfig, data_format: str):
        import numpy as np
        import tensorflow as tf

        from exagan_tf.core import stats

        x = np.asarray(train_counts, dtype=np.float64)
        self.mu = float(x.mean())
        _, pk = stats.power_spectrum_2d(x, mean=self.mu)
        log_pk = np.log(np.maximum(pk, 1e-30))
        self.target_mean = tf.constant(log_pk.mean(axis=0), tf.float32)
        self.target_std = tf.constant(log_pk.std(axis=0), tf.float32)
        _, matrix = stats.original_binning(x.shape[-1])
        self.matrix = tf.constant(matrix.toarray(), tf.float32)
        self.a = float(cfg.datascale)
        self.data_format = data_format
        self.to_int = tf.math.floor if cfg.dequantize else tf.math.round

    def log_spectra(self, generated):
        """``(batch, nk)`` log power spectra of generated images (tensor, differentiable)."""
        import tensorflow as tf

        s = generated[:, 0] if self.data_format == "channels_first" else generated[..., 0]
        s = tf.cast(s, tf.float32)
        x = self.a * (1.0 + s) / tf.maximum(1.0 - s, 1e-6)
        x += tf.stop_gradient(self.to_int(x) - x)  # integer counts, straight-through gradient
        f = tf.signal.rfft2d((x - self.mu) / self.mu)
        power = tf.reshape(tf.math.real(f) ** 2 + tf.math.imag(f) ** 2, [tf.shape(s)[0], -1])
        return tf.math.log(tf.matmul(power, self.matrix) + 1e-30)

    def __call__(self, generated):
        from exagan_tf.core.losses import log_spectrum_moments_loss

        return log_spectrum_moments_loss(
            self.log_spectra(generated), self.target_mean, self.target_std
        )
