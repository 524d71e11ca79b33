"""``VAE(keras.Model)``: (conditional) variational auto-encoders trained by ``model.fit``.

The loss per example is the negative evidence lower bound

    recon_weight * R(x, x_hat) + kl_weight * KL(q(z | x, y) || p(z | y)),

with ``q`` the recognition network (encoder), ``p`` the prior (a learned network of the
condition ``y``, or the standard normal), both diagonal Gaussians given as (mean, log-variance),
and ``x_hat`` the decoder's output for a reparameterised draw ``z = mean + exp(logvar/2) * eps``.
The KL divergence of two diagonal Gaussians is summed over every latent axis:

    KL = 0.5 * sum(logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1).

Data are ``x`` (unconditional) or ``(x, y)`` (conditional); latents may have any shape (the
baryon-painting CVAE uses a 16x16 latent map). Noise is stateless, seeded by (seed, step).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from exagan_tf.core.losses import bce_from_probabilities, per_example_mean, per_example_sum
from exagan_tf.core.training import TrainingModel

METRIC_NAMES = ("loss", "recon_loss", "kl_loss")


def gaussian_nll(x, x_hat):
    """Unit-variance Gaussian negative log-likelihood per example, constants dropped:
    0.5 * sum (x - x_hat)^2."""
    return 0.5 * per_example_sum(tf.square(tf.cast(x, tf.float32) - tf.cast(x_hat, tf.float32)))


def mean_squared(x, x_hat):
    """Mean squared error per example (mean over features)."""
    return per_example_mean(tf.square(tf.cast(x, tf.float32) - tf.cast(x_hat, tf.float32)))


def binary_crossentropy(x, x_hat):
    """Binary cross-entropy per example (mean over features); x and x_hat in [0, 1]."""
    return bce_from_probabilities(x, x_hat)


RECON_LOSSES = {"gaussian": gaussian_nll, "mse": mean_squared, "bce": binary_crossentropy}


def kl_diagonal_gaussians(mean_q, logvar_q, mean_p=None, logvar_p=None):
    """KL(q || p) per example for diagonal Gaussians, summed over all latent axes.

    ``mean_p``/``logvar_p`` None means the standard normal prior.
    """
    mean_q = tf.cast(mean_q, tf.float32)
    logvar_q = tf.cast(logvar_q, tf.float32)
    if mean_p is None:
        mean_p = tf.zeros_like(mean_q)
        logvar_p = tf.zeros_like(logvar_q)
    mean_p = tf.cast(mean_p, tf.float32)
    logvar_p = tf.cast(logvar_p, tf.float32)
    per_element = 0.5 * (
        logvar_p
        - logvar_q
        + (tf.exp(logvar_q) + tf.square(mean_q - mean_p)) * tf.exp(-logvar_p)
        - 1.0
    )
    return per_example_sum(per_element)


class VAE(TrainingModel):
    """An encoder/decoder pair (and optional learned prior) trained on the negative ELBO.

    Args:
        encoder: ``x`` (or ``[x, y]``) -> ``[mean, logvar]`` of q(z | x[, y]).
        decoder: ``z`` (or ``[z, y]``) -> ``x_hat``.
        prior: ``y`` -> ``[mean, logvar]`` of p(z | y); None for the standard normal.
        recon_loss: "gaussian", "mse", "bce" or a callable ``(x, x_hat) -> per-example loss``.
        recon_weight: factor on the reconstruction term (the muon VAE's ``-x``).
        kl_weight: factor on the KL term (beta).
        seed: seed of the reparameterisation noise.
    """

    step_optimizer = "optimizer"  # the global step counts optimizer updates
    seed_stride = 4  # streams per step: training noise, evaluation noise (2 spare)

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        prior: keras.Model | None = None,
        *,
        recon_loss: str | Callable = "gaussian",
        recon_weight: float = 1.0,
        kl_weight: float = 1.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(METRIC_NAMES, seed=seed, **kwargs)
        if isinstance(recon_loss, str):
            if recon_loss not in RECON_LOSSES:
                raise ValueError(
                    f"recon_loss={recon_loss!r}: expected one of {sorted(RECON_LOSSES)}"
                )
            recon_loss = RECON_LOSSES[recon_loss]
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.recon_fn = recon_loss
        self.recon_weight = float(recon_weight)
        self.kl_weight = float(kl_weight)
        self.built = True

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs):
        """Attach the optimizer and build its slots (inside the strategy scope)."""
        super().compile(optimizer=optimizer, **kwargs)
        self._attach_optimizers(optimizer=(self.optimizer, self._train_vars()))

    def _train_vars(self):
        nets = [self.encoder, self.decoder] + ([self.prior] if self.prior is not None else [])
        return [v for net in nets for v in net.trainable_variables]

    @staticmethod
    def _split(data):
        if isinstance(data, (tuple, list)):
            if len(data) >= 2 and data[1] is not None:
                return data[0], data[1]
            return data[0], None
        return data, None

    def encode(self, x, y=None, training=False):
        """Mean and log-variance of q(z | x[, y])."""
        mean, logvar = self.encoder(x if y is None else [x, y], training=training)
        return mean, logvar

    def prior_params(self, y, like, training=False):
        """Mean and log-variance of p(z | y) (zeros for the standard normal)."""
        if self.prior is None or y is None:
            return tf.zeros_like(like), tf.zeros_like(like)
        return self.prior(y, training=training)

    def decode(self, z, y=None, training=False):
        """The decoder's output for latents ``z`` (and condition ``y``)."""
        return self.decoder(z if y is None else [z, y], training=training)

    def _noise(self, like, stream: int):
        """Standard-normal noise shaped like ``like``, seeded by (seed, step, stream)."""
        shape = tf.shape(like)
        return self._draw(tf.random.stateless_normal, shape[0], shape[1:], stream)

    def _elbo_terms(self, x, y, training: bool, stream: int):
        mean_q, logvar_q = self.encode(x, y, training=training)
        mean_q = tf.cast(mean_q, tf.float32)
        logvar_q = tf.cast(logvar_q, tf.float32)
        z = mean_q + tf.exp(0.5 * logvar_q) * self._noise(mean_q, stream)
        x_hat = self.decode(z, y, training=training)
        recon = tf.cast(self.recon_fn(x, x_hat), tf.float32)
        if self.prior is None or y is None:
            kl = kl_diagonal_gaussians(mean_q, logvar_q)
        else:
            mean_p, logvar_p = self.prior(y, training=training)
            kl = kl_diagonal_gaussians(mean_q, logvar_q, mean_p, logvar_p)
        return recon, kl

    def _record(self, recon, kl):
        per_example = self.recon_weight * recon + self.kl_weight * kl
        self._track(
            loss=tf.reduce_mean(per_example),
            recon_loss=tf.reduce_mean(recon),
            kl_loss=tf.reduce_mean(kl),
        )
        return self._results()

    def train_step(self, data):
        x, y = self._split(data)
        variables = self._train_vars()
        with tf.GradientTape() as tape:
            recon, kl = self._elbo_terms(x, y, training=True, stream=0)
            per_example = self.recon_weight * recon + self.kl_weight * kl
            loss = tf.nn.compute_average_loss(per_example)
        self._minimize(self.optimizer, tape, loss, variables)
        return self._record(recon, kl)

    def test_step(self, data):
        x, y = self._split(data)
        recon, kl = self._elbo_terms(x, y, training=False, stream=1)
        return self._record(recon, kl)

    def call(self, inputs, training=False):
        """Reconstruction of ``x`` (or ``(x, y)``) through the posterior mean."""
        x, y = self._split(inputs)
        mean, _ = self.encode(x, y, training=training)
        return self.decode(mean, y, training=training)

    def reconstruct(self, x, y=None):
        """Decoder output at the posterior mean (NumPy array)."""
        return keras.ops.convert_to_numpy(self.call((x, y) if y is not None else x))

    def sample(self, y=None, n: int | None = None, seed: int = 0, temperature: float = 1.0):
        """Draw from p(z | y) (or the standard normal) and decode (NumPy array).

        Conditional: one draw per row of ``y``. Unconditional: ``n`` draws; the latent shape is
        taken from the decoder's input.
        """
        import numpy as np

        rng = np.random.default_rng(seed)
        if y is not None:
            y = tf.convert_to_tensor(y)
            if self.prior is not None:
                mean, logvar = self.prior(y, training=False)
            else:
                shape = [int(tf.shape(y)[0])] + list(self._latent_shape())
                mean = tf.zeros(shape)
                logvar = tf.zeros(shape)
        else:
            if n is None:
                raise ValueError("sample: give the condition y or a number n of draws")
            mean = tf.zeros([n, *self._latent_shape()])
            logvar = tf.zeros_like(mean)
        eps = rng.standard_normal(tuple(mean.shape)).astype("float32")
        scale = temperature * tf.exp(0.5 * tf.cast(logvar, tf.float32))
        z = tf.cast(mean, tf.float32) + scale * eps
        return keras.ops.convert_to_numpy(self.decode(z, y, training=False))

    def _latent_shape(self) -> tuple[int, ...]:
        inputs = self.decoder.inputs
        z_input = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return tuple(int(d) for d in z_input.shape[1:])
