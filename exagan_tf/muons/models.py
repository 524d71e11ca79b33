"""Dense GAN and VAE of the muon study, built from plain Keras layers, and a fast NumPy generator.

GAN (``GAN_BC.py``, the final 2018 version), n = ``-nG`` / ``-nD`` node factor:

* generator: z (100) -> [Dense(256 n) -> LeakyReLU(0.2) -> BatchNorm(momentum 0.8)]
  -> [Dense(512 n) -> LeakyReLU -> BN] -> [Dense(1024 n) -> Dropout(0.25) -> LeakyReLU -> BN]
  -> ... (``-layersG`` blocks, widths 256 n * 2^i) -> Dense(d, tanh).
* discriminator: x (d) -> Dense(256 n) -> LeakyReLU(0.2) -> [Dense(512 n) -> LeakyReLU ->
  Dropout(0.25)] -> ... (``-layersD`` blocks) -> Dense(1). The original's sigmoid output and
  ``binary_crossentropy`` are one numerically safer BCE-from-logits in the shared loop.

VAE (``VAE_BC.py`` with batch norm and dropout, latent 4):

* encoder: x -> Dropout(0.25) -> BN(0.8) -> Dense(iE, relu) -> [Dropout -> BN -> Dense(iE,
  relu)] x (``-layersE`` - 1) -> (Dense(latent) mean, Dense(latent) log-variance);
* decoder: z -> [Dense(iD, relu) -> Dropout(0.25) -> BN(0.8)] x ``-layersD`` ->
  Dense(d, sigmoid) on data mapped to [0, 1] by (x + 1) / 2.

``dropout`` = 0 leaves the Dropout layers out (batch norm kept). The original's rate 0.25 is what
keeps its VAE from generating: on the encoder's input it hides a quarter of the six kinematic
values of each muon, so the decoder learns to return their average (blurred reconstructions),
and between the decoder's dense layers it shifts the activations' variance between training
and inference (batch norm's moving statistics are gathered with dropout on), so the decoder
that samples is not the one that was trained. Measured on the demo data (``mum_displaced``,
3000 steps, histogram BDT on 10k vs 10k, AUC of prior samples; untrained 0.9998): dropout 0.25
on both 0.989, encoder only 0.948, decoder only 0.881, none 0.833.

Under a mixed-precision policy (``precision``) the hidden layers compute in 16 bits and the
output layers (the generator's and decoder's muons, the discriminator's logit, the encoder's
mean and log-variance) in float32, so every loss sees float32.

Optimizers (``-o``): 0 Adam(beta_1 0.5, amsgrad) with Keras-2 ``decay=5e-6`` (inverse-time
decay, lr / (1 + 5e-6 step)); 1 Adam(beta_1 0.5, decay 8e-8); 2 RMSprop(rho 0.9). The VAE uses
Adam(beta_1 0.5, decay 8e-8).

:class:`FoldedGenerator` is the trained generator without TensorFlow: inference-mode batch norm
is an affine map, folded into the next Dense layer, leaving matmul + LeakyReLU in NumPy
(float32); the result equals ``generator(z, training=False)`` to float rounding
(``generate --engine numpy``; the Keras model measured faster on 2 cores, so it is the
default).
"""

from __future__ import annotations

import keras
import numpy as np

LATENT_GAN = 100
LATENT_VAE = 4


def _widths(n_layers: int, factor: float) -> list[int]:
    return [int(256 * 2**i * factor) for i in range(n_layers)]


def build_generator(
    dim: int,
    node_factor: float = 6,
    n_layers: int = 2,
    latent: int = LATENT_GAN,
    name: str = "generator",
) -> keras.Model:
    """The muon GAN generator (see module notes): noise (latent,) -> features (dim,) in [-1, 1]."""
    if not 1 <= n_layers <= 6:
        raise ValueError(f"layersG={n_layers}: the original builds 1 to 6 layers")
    z = keras.Input((latent,), name="noise")
    h = z
    for i, width in enumerate(_widths(n_layers, node_factor)):
        h = keras.layers.Dense(width, name=f"dense_{i}")(h)
        if i >= 2:
            h = keras.layers.Dropout(0.25, name=f"dropout_{i}")(h)
        h = keras.layers.LeakyReLU(negative_slope=0.2, name=f"leaky_{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.8, name=f"bn_{i}")(h)
    out = keras.layers.Dense(dim, activation="tanh", dtype="float32", name="muon")(h)
    return keras.Model(z, out, name=name)


def build_discriminator(
    dim: int, node_factor: float = 3, n_layers: int = 2, name: str = "discriminator"
) -> keras.Model:
    """The muon GAN discriminator: features (dim,) -> one logit (real = 1)."""
    if not 1 <= n_layers <= 6:
        raise ValueError(f"layersD={n_layers}: the original builds 1 to 6 layers")
    x = keras.Input((dim,), name="muon")
    h = x
    for i, width in enumerate(_widths(n_layers, node_factor)):
        h = keras.layers.Dense(width, name=f"dense_{i}")(h)
        h = keras.layers.LeakyReLU(negative_slope=0.2, name=f"leaky_{i}")(h)
        if i >= 1:
            h = keras.layers.Dropout(0.25, name=f"dropout_{i}")(h)
    out = keras.layers.Dense(1, dtype="float32", name="logit")(h)
    return keras.Model(x, out, name=name)


def _check_dropout(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout={rate}: expected a rate in [0, 1)")


def build_encoder(
    dim: int, width: int = 100, n_layers: int = 3, latent: int = LATENT_VAE, dropout: float = 0.25
) -> keras.Model:
    """VAE encoder: x (dim,) in [0, 1] -> [mean, logvar] (latent,); ``dropout`` 0: no Dropout."""
    if n_layers < 1:
        raise ValueError(f"layersE={n_layers}: expected >= 1")
    _check_dropout(dropout)
    x = keras.Input((dim,), name="muon")
    h = x
    for i in range(n_layers):
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.8, name=f"bn_{i}")(h)
        h = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
    mean = keras.layers.Dense(latent, dtype="float32", name="z_mean")(h)
    logvar = keras.layers.Dense(latent, dtype="float32", name="z_log_var")(h)
    return keras.Model(x, [mean, logvar], name="encoder")


def build_decoder(
    dim: int, width: int = 100, n_layers: int = 3, latent: int = LATENT_VAE, dropout: float = 0.25
) -> keras.Model:
    """VAE decoder: z (latent,) -> x_hat (dim,) in [0, 1]; ``dropout`` 0: no Dropout."""
    if n_layers < 1:
        raise ValueError(f"layersD={n_layers}: expected >= 1")
    _check_dropout(dropout)
    z = keras.Input((latent,), name="z")
    h = z
    for i in range(n_layers):
        h = keras.layers.Dense(width, activation="relu", name=f"dense_{i}")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.8, name=f"bn_{i}")(h)
    out = keras.layers.Dense(dim, activation="sigmoid", dtype="float32", name="muon")(h)
    return keras.Model(z, out, name="decoder")


def make_optimizer(choice: int, learning_rate: float, decay: float | None = None):
    """The original's ``-o`` choice: 0 Adam+amsgrad (decay 5e-6), 1 Adam (decay 8e-8),
    2 RMSprop(rho 0.9). ``decay`` overrides the Keras-2 inverse-time decay constant."""
    if choice == 0:
        d = 5e-6 if decay is None else decay
        kw = {"beta_1": 0.5, "amsgrad": True}
        cls = keras.optimizers.Adam
    elif choice == 1:
        d = 8e-8 if decay is None else decay
        kw = {"beta_1": 0.5}
        cls = keras.optimizers.Adam
    elif choice == 2:
        d = 0.0 if decay is None else decay
        kw = {"rho": 0.9}
        cls = keras.optimizers.RMSprop
    else:
        raise ValueError(f"-o {choice}: expected 0 (Adam amsgrad), 1 (Adam) or 2 (RMSprop)")
    lr = learning_rate
    if d:
        lr = keras.optimizers.schedules.InverseTimeDecay(learning_rate, 1, d)
    return cls(learning_rate=lr, **kw)


def build_gan_model(cfg, dim: int):
    """The GAN (shared loop) with the muon generator/discriminator and optimizers."""
    from exagan_tf.core.gan import GAN
    from exagan_tf.precision import loss_scaled

    g = build_generator(dim, cfg.node_factor_G, cfg.num_layersG, cfg.latent)
    d = build_discriminator(dim, cfg.node_factor_D, cfg.num_layersD)
    gan = GAN(
        g,
        d,
        cfg.latent,
        seed=cfg.seed,
        joint_batch=cfg.joint_batch,
        label_noise=cfg.label_noise,
        real_noise=cfg.real_noise,
    )
    gan.compile(  # mixed_float16: loss scaling
        loss_scaled(make_optimizer(cfg.optimizer_choice, cfg.learning_rate)),
        loss_scaled(make_optimizer(cfg.optimizer_choice, cfg.learning_rate)),
        jit_compile=cfg.jit_compile,
    )
    return gan


def build_vae_model(cfg, dim: int):
    """The VAE (shared loop): BCE x xent_factor x dim (the original's original_dim * mean BCE)
    + KL, Adam(beta_1 0.5, decay 8e-8)."""
    from exagan_tf.core.vae import VAE
    from exagan_tf.precision import loss_scaled

    enc = build_encoder(dim, cfg.intermediate_dimE, cfg.layersE, cfg.latent_dim, cfg.dropout)
    dec = build_decoder(dim, cfg.intermediate_dimD, cfg.layersD, cfg.latent_dim, cfg.dropout)
    vae = VAE(enc, dec, recon_loss="bce", recon_weight=cfg.xent_factor * dim, seed=cfg.seed)
    vae.compile(loss_scaled(make_optimizer(1, cfg.learning_rate)),
                jit_compile=cfg.jit_compile)
    return vae


def dense_flops(model: keras.Model) -> int:
    """Multiply-add FLOPs (2 per MAC) of the Dense layers for one sample."""
    return sum(
        2 * int(np.prod(layer.kernel.shape))
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    )


class FoldedGenerator:
    """Inference-only NumPy copy of a :func:`build_generator` model with batch norm folded.

    Each hidden block is Dense -> [Dropout] -> LeakyReLU -> BN; BN in inference is
    y = a h + c (a = gamma / sqrt(var + eps), c = beta - a mean), which the next Dense absorbs:
    W' = diag(a) W, b' = c W + b.
    """

    def __init__(self, kernels: list[np.ndarray], biases: list[np.ndarray], slope: float = 0.2):
        self.kernels = [np.ascontiguousarray(k, np.float32) for k in kernels]
        self.biases = [np.asarray(b, np.float32) for b in biases]
        self.slope = np.float32(slope)
        self.latent = self.kernels[0].shape[0]
        self.dim = self.kernels[-1].shape[1]

    @classmethod
    def from_keras(cls, generator: keras.Model) -> FoldedGenerator:
        """Fold a trained generator (layers as built by :func:`build_generator`)."""
        dense = [la for la in generator.layers if isinstance(la, keras.layers.Dense)]
        bns = [la for la in generator.layers if isinstance(la, keras.layers.BatchNormalization)]
        if len(bns) != len(dense) - 1:
            raise ValueError("generator layout differs from build_generator's")
        kernels = [np.asarray(dense[0].kernel.numpy(), np.float64)]
        biases = [np.asarray(dense[0].bias.numpy(), np.float64)]
        for bn, nxt in zip(bns, dense[1:]):
            a = bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
            c = bn.beta.numpy() - a * bn.moving_mean.numpy()
            w = np.asarray(nxt.kernel.numpy(), np.float64)
            kernels.append(a[:, None] * w)
            biases.append(c @ w + nxt.bias.numpy())
        return cls(kernels, biases)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Features in [-1, 1] for noise ``z`` (n, latent)."""
        h = np.asarray(z, np.float32)
        last = len(self.kernels) - 1
        for i, (k, b) in enumerate(zip(self.kernels, self.biases)):
            h = h @ k
            h += b
            if i < last:
                np.maximum(h, self.slope * h, out=h)  # LeakyReLU, 0 < slope < 1
        return np.tanh(h, out=h)

    @property
    def flops(self) -> int:
        """FLOPs per sample (2 per multiply-add)."""
        return sum(2 * k.size for k in self.kernels)
