"""``GAN(keras.Model)``: adversarial training with a custom ``train_step`` driven by ``model.fit``.

One step follows the original ExaGAN loop:

1. draw noise z and generate a fake batch with the generator in inference mode (the original
   called ``generator.predict``);
2. draw per-sample label flips: with probability ``label_flip`` a sample's real label becomes 0
   and the fake label of the same index becomes 1;
3. ``d_rounds`` times: one discriminator update on the real batch, then one on the fake batch;
4. one generator update through the discriminator with target label 1 (only G's weights move).

Real is labelled 1 and fake 0; losses are binary cross-entropy from logits. Randomness is
stateless, seeded by (seed, step) and drawn for the global batch, each replica keeping its own
rows: a run is reproducible from its seed, a resumed run continues the same random stream, and
with synchronized batch norm a run on N replicas matches one device on the same global batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from exagan_tf.core.losses import bce_from_logits, mean_probability
from exagan_tf.core.training import TrainingModel, num_replicas

METRIC_NAMES = ("d_loss", "d_real_loss", "d_fake_loss", "g_loss", "d_real_prob", "d_fake_prob")


class GAN(TrainingModel):
    """A generator/discriminator pair trained adversarially.

    Args:
        generator: maps noise (batch, noise_dim) to images.
        discriminator: maps images to one logit per image.
        noise_dim: length of the noise vector.
        label_flip: probability of swapping the real/fake labels of a sample.
        d_rounds: rounds of (D on real, D on fake) per generator update
            (``DG_update_ratio // 2`` in the original).
        real_preprocess: optional layer applied to real images before the discriminator, the
            counterpart of what the generator appends to its output (multi-channel rescaling).
        seed: seed of the noise and label-flip streams.
        joint_batch: if True, the discriminator sees real and fake images in one batch (one D
            update per round, and the generator step through D on the same joint batch), so its
            batch norm statistics are shared and it can see the absolute level of the images. The
            original (False) normalises real-only and fake-only batches separately, which hides
            any global offset or scale of the fakes from D and makes the pixel level slow to learn.
        label_noise: standard deviation of Gaussian noise added to the discriminator's targets
            (after any flip), clipped to [0, 1]: the "blurred labels" of the muon GAN.
        real_noise: standard deviation of Gaussian noise added to real samples before the
            discriminator (the muon GAN's input blurring).
        g_extra_loss: optional differentiable ``f(fake) -> scalar`` added to the generator loss
            with weight ``g_extra_weight`` (e.g. ExaGANv2's power-spectrum term); logged as
            ``g_extra_loss``.
        g_ema: decay of an exponential moving average of the generator's weights (batch-norm
            statistics included), updated after every generator step with the warm-up
            ``min(g_ema, (1 + t) / (10 + t))`` of ``tf.train.ExponentialMovingAverage``; 0 = none.
            The average (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN
            training") damps the checkpoint-to-checkpoint oscillation of adversarial training.
            When set, :attr:`sampler` (what generates, is evaluated and is saved) is the averaged
            generator; the trained one keeps being :attr:`generator`.
    """

    step_optimizer = "g_optimizer"  # the global step counts generator updates
    seed_stride = 8  # streams per step: noise, label flips, label blur, input blur (4 spare)

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        noise_dim: int,
        label_flip: float = 0.0,
        d_rounds: int = 1,
        real_preprocess: keras.layers.Layer | None = None,
        seed: int = 0,
        joint_batch: bool = False,
        label_noise: float = 0.0,
        real_noise: float = 0.0,
        g_extra_loss=None,
        g_extra_weight: float = 0.0,
        g_ema: float = 0.0,
        **kwargs,
    ):
        g_extra_loss = g_extra_loss if g_extra_weight else None
        names = METRIC_NAMES + (("g_extra_loss",) if g_extra_loss is not None else ())
        super().__init__(names, seed=seed, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.noise_dim = int(noise_dim)
        self.label_flip = float(label_flip)
        self.d_rounds = int(d_rounds)
        self.real_preprocess = real_preprocess
        self.joint_batch = bool(joint_batch)
        self.label_noise = float(label_noise)
        self.real_noise = float(real_noise)
        self.g_extra_loss = g_extra_loss
        self.g_extra_weight = float(g_extra_weight) if g_extra_loss is not None else 0.0
        if not 0.0 <= float(g_ema) < 1.0:
            raise ValueError(f"g_ema={g_ema}: expected a decay in [0, 1)")
        self.g_ema = float(g_ema)
        self.ema_weights: list = []
        self.ema_generator = None
        if self.g_ema:
            # mean aggregation: replicas write identical values from inside the train step
            self.ema_weights = [
                keras.Variable(
                    keras.ops.convert_to_numpy(v),
                    trainable=False,
                    aggregation="mean",
                    name=f"ema_{i}",
                )
                for i, v in enumerate(generator.weights)
            ]
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(
                [keras.ops.convert_to_numpy(v) for v in generator.weights]
            )
        self.built = True

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from, evaluate and save: the weight average when ``g_ema`` is
        set (refreshed from the running average on each access), else :attr:`generator`."""
        if self.ema_generator is None:
            return self.generator
        for target, value in zip(self.ema_generator.weights, self.ema_weights):
            target.assign(value)
        return self.ema_generator

    def _update_ema(self):
        t = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.g_ema, (1.0 + t) / (10.0 + t))
        for avg, value in zip(self.ema_weights, self.generator.weights):
            avg.assign(decay * avg + (1.0 - decay) * tf.cast(value, avg.dtype))

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        **kwargs,
    ):
        """Attach one optimizer per network and build their slots (inside the strategy scope)."""
        super().compile(**kwargs)
        self._attach_optimizers(
            d_optimizer=(d_optimizer, self.discriminator.trainable_variables),
            g_optimizer=(g_optimizer, self.generator.trainable_variables),
        )

    def sample_noise(self, batch: tf.Tensor, stream: int = 0) -> tf.Tensor:
        """Standard-normal noise for ``batch`` images, seeded by (seed, step, stream)."""
        return self._draw(tf.random.stateless_normal, batch, [self.noise_dim], stream)

    def _d_step(self, images, labels):
        """One discriminator update; returns per-example losses and logits."""
        with tf.GradientTape() as tape:
            logits = self.discriminator(images, training=True)
            per_example = bce_from_logits(labels, logits)
            loss = tf.nn.compute_average_loss(per_example)
        variables = self.discriminator.trainable_variables
        self._minimize(self.d_optimizer, tape, loss, variables)
        return per_example, logits

    def _d_update(self, images, labels):
        per_example, logits = self._d_step(images, labels)
        return tf.reduce_mean(per_example), mean_probability(logits)

    def _d_update_joint(self, real, fake, real_labels, fake_labels):
        n = tf.shape(real)[0]
        per_example, logits = self._d_step(
            tf.concat([real, tf.cast(fake, real.dtype)], axis=0),
            tf.concat([real_labels, fake_labels], axis=0),
        )
        return (
            tf.reduce_mean(per_example[:n]),
            mean_probability(logits[:n]),
            tf.reduce_mean(per_example[n:]),
            mean_probability(logits[n:]),
        )

    def _g_update(self, noise, real=None):
        """One generator step through the discriminator with target 'real'; D does not move.

        With ``real`` given (joint_batch), D runs on [real, fake] and only the fake half counts.
        """
        with tf.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            if real is None:
                logits = self.discriminator(fake, training=True)
            else:
                both = tf.concat([real, tf.cast(fake, real.dtype)], axis=0)
                logits = self.discriminator(both, training=True)[tf.shape(real)[0] :]
            per_example = bce_from_logits(tf.ones_like(logits), logits)
            loss = tf.nn.compute_average_loss(per_example)
            if self.g_extra_loss is not None:
                extra = tf.cast(self.g_extra_loss(fake), tf.float32)
                # gradients are summed over replicas: each adds its share of the batch mean
                loss += self.g_extra_weight * extra / num_replicas()
                self._track(g_extra_loss=extra)
        self._minimize(self.g_optimizer, tape, loss, self.generator.trainable_variables)
        return tf.reduce_mean(per_example)

    def train_step(self, real):
        if isinstance(real, (tuple, list)):
            real = real[0]
        batch = tf.shape(real)[0]
        noise = self.sample_noise(batch, stream=0)
        fake = self.generator(noise, training=False)
        flip = self._draw(tf.random.stateless_uniform, batch, [1], stream=1) < self.label_flip
        real_labels = tf.where(flip, 0.0, 1.0)
        fake_labels = 1.0 - real_labels
        if self.label_noise:
            blur = self.label_noise * self._draw(tf.random.stateless_normal, batch, [2], stream=2)
            real_labels = tf.clip_by_value(real_labels + blur[:, :1], 0.0, 1.0)
            fake_labels = tf.clip_by_value(fake_labels + blur[:, 1:], 0.0, 1.0)
        if self.real_noise:
            width = tf.reduce_prod(tf.shape(real)[1:])
            jitter = self._draw(tf.random.stateless_normal, batch, [width], stream=3)
            real = real + tf.cast(self.real_noise * tf.reshape(jitter, tf.shape(real)), real.dtype)
        if self.real_preprocess is not None:
            real = self.real_preprocess(real)

        for _ in range(self.d_rounds):
            if self.joint_batch:
                d_real_loss, d_real_prob, d_fake_loss, d_fake_prob = self._d_update_joint(
                    real, fake, real_labels, fake_labels
                )
            else:
                d_real_loss, d_real_prob = self._d_update(real, real_labels)
                d_fake_loss, d_fake_prob = self._d_update(fake, fake_labels)
            self._track(
                d_real_loss=d_real_loss,
                d_fake_loss=d_fake_loss,
                d_loss=0.5 * (d_real_loss + d_fake_loss),
                d_real_prob=d_real_prob,
                d_fake_prob=d_fake_prob,
            )

        self._track(g_loss=self._g_update(noise, real if self.joint_batch else None))
        if self.g_ema:
            self._update_ema()
        return self._results()

    def generate(self, n: int, batch_size: int = 256, seed: int = 12345):
        """Generate ``n`` images in inference mode with a fixed noise seed (NumPy array), from
        :attr:`sampler` (the weight average when ``g_ema`` is set)."""
        return generate_images(self.sampler, self.noise_dim, n, seed, batch_size)


def generate_images(
    generator: keras.Model, noise_dim: int, n: int, seed: int = 12345, batch_size: int = 256
):
    """``n`` images from ``generator`` in inference mode, noise from NumPy's ``seed`` stream."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n, batch_size):
        z = rng.standard_normal((min(batch_size, n - start), noise_dim)).astype("float32")
        out.append(keras.ops.convert_to_numpy(generator(z, training=False)))
    return np.concatenate(out, axis=0)
