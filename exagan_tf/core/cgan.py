"""``ConditionalGAN(keras.Model)``: image-to-image adversarial training (pix2pix family).

The generator maps a conditioning image ``x`` to a prediction ``y_hat = G(x)``; the
discriminator judges the pair ``[x, y]`` and returns a logit (or a probability) per patch, and
every output element counts as one example. One step:

1. if the step is a discriminator step (every ``d_interval`` generator steps, counted from 0) and
   training is adversarial: one discriminator update on ``[x, y]`` with label 1 and on
   ``[x, G(x)]`` with label 0, in one batch so both halves share batch-norm statistics;
2. one generator update on ``adv_weight * BCE(D(x, G(x)), 1) + l1_weight * mean|y - G(x)|
   + extra_weight * extra_loss(x, y, G(x))``; without ``adversarial`` the first term is dropped
   and the discriminator is never used (a plain regression network trained on L1 + extra).

The same class serves the baryon-painting CGAN (L1 weight 2.5, sigmoid patch output) and the CMB
pix2pix / UResNet models (L1 weight 100, discriminator every N steps, a spectral loss).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from exagan_tf.core.losses import binary_cross_entropy, per_example_mean
from exagan_tf.core.training import TrainingModel

METRIC_NAMES = (
    "d_loss",
    "d_real_loss",
    "d_fake_loss",
    "g_loss",
    "g_adv_loss",
    "g_l1_loss",
    "g_extra_loss",
    "d_real_prob",
    "d_fake_prob",
)


class ConditionalGAN(TrainingModel):
    """A conditional generator ``x -> y`` with an optional pair discriminator ``[x, y] -> D``.

    Args:
        generator: maps the conditioning batch ``x`` to the predicted ``y``.
        discriminator: maps ``[x, y]`` (a list of two tensors) to logits or probabilities of any
            shape (a PatchGAN map is averaged per example). Unused if ``adversarial`` is False.
        l1_weight: weight of ``mean|y - G(x)|`` in the generator loss (pix2pix: 100).
        adv_weight: weight of the adversarial term in the generator loss.
        adversarial: train against the discriminator; False trains G on L1 (+ extra) only.
        d_interval: update the discriminator at generator steps 0, N, 2N, ... (1 = every step).
        d_from_logits: whether the discriminator returns logits (True) or probabilities.
        extra_loss: optional differentiable ``f(x, y, y_pred) -> scalar`` added to the generator
            loss with ``extra_weight`` (e.g. a power-spectrum difference).
        extra_weight: weight of ``extra_loss`` (0 disables it).
    """

    step_optimizer = "g_optimizer"  # the global step counts generator updates

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        *,
        l1_weight: float = 100.0,
        adv_weight: float = 1.0,
        adversarial: bool = True,
        d_interval: int = 1,
        d_from_logits: bool = True,
        extra_loss: Callable | None = None,
        extra_weight: float = 0.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(METRIC_NAMES, seed=seed, **kwargs)
        if adversarial and discriminator is None:
            raise ValueError("adversarial training needs a discriminator")
        if int(d_interval) < 1:
            raise ValueError(f"d_interval={d_interval}: expected a positive integer")
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.adv_weight = float(adv_weight)
        self.adversarial = bool(adversarial)
        self.d_interval = int(d_interval)
        self.d_from_logits = bool(d_from_logits)
        self.extra_loss = extra_loss
        self.extra_weight = float(extra_weight) if extra_loss is not None else 0.0
        self.built = True

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs,
    ):
        """Attach the optimizers and build their slots (inside the strategy scope); the
        discriminator's may be None when training is not adversarial."""
        if g_optimizer is None:
            raise ValueError("compile needs a g_optimizer")
        if self.adversarial and d_optimizer is None:
            raise ValueError("adversarial training needs a d_optimizer")
        super().compile(**kwargs)
        self._attach_optimizers(
            g_optimizer=(g_optimizer, self.generator.trainable_variables),
            d_optimizer=(
                d_optimizer,
                self.discriminator.trainable_variables if self.adversarial else None,
            ),
        )

    def _d_outputs(self, x, y, training):
        return self.discriminator([x, y], training=training)

    def _d_update(self, x, y, y_fake):
        """One discriminator update on real and fake pairs in one batch."""
        n = tf.shape(x)[0]
        xx = tf.concat([x, x], axis=0)
        yy = tf.concat([y, tf.cast(y_fake, y.dtype)], axis=0)
        with tf.GradientTape() as tape:
            out = self._d_outputs(xx, yy, training=True)
            is_real = tf.range(2 * n) < n
            labels = tf.cast(is_real, tf.float32)[:, None] * tf.ones_like(
                tf.reshape(tf.cast(out, tf.float32), [2 * n, -1])
            )
            out = tf.reshape(out, [2 * n, -1])
            per_example = binary_cross_entropy(labels, out, self.d_from_logits)
            loss = tf.nn.compute_average_loss(per_example)
        variables = self.discriminator.trainable_variables
        self._minimize(self.d_optimizer, tape, loss, variables)
        probs = out if not self.d_from_logits else tf.sigmoid(tf.cast(out, tf.float32))
        real_prob = tf.reduce_mean(tf.cast(probs[:n], tf.float32))
        fake_prob = tf.reduce_mean(tf.cast(probs[n:], tf.float32))
        return (
            tf.reduce_mean(per_example[:n]),
            tf.reduce_mean(per_example[n:]),
            real_prob,
            fake_prob,
        )

    def _generator_losses(self, x, y, y_pred, training):
        """Per-example adversarial, L1 and extra terms of the generator loss (float32)."""
        y32 = tf.cast(y, tf.float32)
        p32 = tf.cast(y_pred, tf.float32)
        l1 = per_example_mean(tf.abs(y32 - p32))
        batch = tf.shape(l1)[0]
        if self.adversarial:
            out = self._d_outputs(x, tf.cast(y_pred, y.dtype), training=training)
            adv = binary_cross_entropy(tf.ones_like(out), out, self.d_from_logits)
        else:
            adv = tf.zeros([batch])
        if self.extra_weight:
            extra = tf.cast(self.extra_loss(x, y32, p32), tf.float32) * tf.ones([batch])
        else:
            extra = tf.zeros([batch])
        return adv, l1, extra

    def _g_update(self, x, y):
        with tf.GradientTape() as tape:
            y_pred = self.generator(x, training=True)
            adv, l1, extra = self._generator_losses(x, y, y_pred, training=True)
            per_example = self.adv_weight * adv + self.l1_weight * l1 + self.extra_weight * extra
            loss = tf.nn.compute_average_loss(per_example)
        self._minimize(self.g_optimizer, tape, loss, self.generator.trainable_variables)
        return per_example, adv, l1, extra

    def _update_g_metrics(self, per_example, adv, l1, extra):
        self._track(
            g_loss=tf.reduce_mean(per_example),
            g_adv_loss=tf.reduce_mean(adv),
            g_l1_loss=tf.reduce_mean(l1),
            g_extra_loss=tf.reduce_mean(extra),
        )

    def _step_logs(self):
        return self._results(
            None if self.adversarial else ("g_loss", "g_l1_loss", "g_extra_loss")
        )

    def train_step(self, data):
        return self._train_step(data, update_d=self.adversarial)

    def _train_step(self, data, update_d: bool):
        x, y = data[0], data[1]
        if update_d:
            y_fake = self.generator(x, training=False)
            d_real, d_fake, p_real, p_fake = self._d_update(x, y, y_fake)
            self._track(
                d_real_loss=d_real,
                d_fake_loss=d_fake,
                d_real_prob=p_real,
                d_fake_prob=p_fake,
                d_loss=0.5 * (d_real + d_fake),
            )
        self._update_g_metrics(*self._g_update(x, y))
        return self._step_logs()

    def make_train_function(self, force=False):
        """With ``d_interval > 1``, two compiled steps (with and without the discriminator
        update) chosen on the host from the step counter. A branch inside one traced step
        cannot hold the optimizer's cross-replica update under a distribution strategy."""
        if self.train_function is not None and not force:
            return self.train_function
        if not self.adversarial or self.d_interval == 1:
            return super().make_train_function(force=force)
        if self.steps_per_execution != 1:
            raise ValueError("d_interval > 1 needs steps_per_execution=1")
        with_d = self._make_function(lambda data: self._train_step(data, update_d=True))
        without_d = self._make_function(lambda data: self._train_step(data, update_d=False))

        def train_function(iterator):
            due = int(self.step.numpy()) % self.d_interval == 0
            return (with_d if due else without_d)(iterator)

        self.train_function = train_function
        return train_function

    def test_step(self, data):
        x, y = data[0], data[1]
        y_pred = self.generator(x, training=False)
        adv, l1, extra = self._generator_losses(x, y, y_pred, training=False)
        per_example = self.adv_weight * adv + self.l1_weight * l1 + self.extra_weight * extra
        self._update_g_metrics(per_example, adv, l1, extra)
        return self._results(("g_loss", "g_l1_loss"))

    def predict_in_batches(self, x, batch_size: int = 32):
        """``G(x)`` in inference mode for a NumPy array, in batches (NumPy array)."""
        import numpy as np

        out = [
            keras.ops.convert_to_numpy(self.generator(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out, axis=0)
