"""``TrainingModel``: what every core training model (GAN, ConditionalGAN, VAE) shares.

A core model is a ``keras.Model`` subclass whose ``train_step`` is driven by ``model.fit``
(Keras' own GAN examples do the same). Around the step each needs the same plumbing, written
here once:

- **loss trackers**: one ``keras.metrics.Mean`` per logged name, listed by ``metrics`` so Keras
  resets them every epoch (one epoch = one checkpoint period);
- **the step counter**: the iterations of one named optimizer (the generator's for the GANs,
  the only one for the VAE), which is the run's global step that checkpoints, schedules and
  randomness are keyed on;
- **optimizers**: ``compile`` stores each optimizer and builds its slot variables at once.
  Under a ``tf.distribute`` strategy they must be built inside ``strategy.scope()`` (``fit``
  would otherwise create them in a replica context and fail), so ``compile`` is called there.
  One update, through the optimizer's loss scaling, is :meth:`TrainingModel._minimize`;
- **per-replica noise**: stateless draws seeded by ``(seed, step * seed_stride + stream)``, made
  for the *global* batch, each replica keeping its own rows. A run is then reproducible from its
  seed, a resumed run continues the same stream, and N replicas draw exactly what one device
  draws on the same global batch (with synchronised batch norm they train alike). A class
  reserves ``seed_stride`` streams per step: 8 for the GAN (noise, label flips, label blur, input
  blur), 4 for the VAE (training and evaluation noise). The two strides are kept as they were
  when the classes drew their own noise: the seeds of every step of every written run depend on
  them, so one common stride would change the losses of existing configs and the stream a
  resumed run continues.

The per-example losses (binary cross-entropy from logits or from probabilities, means and sums
per example) are pure functions in :mod:`exagan_tf.core.losses`.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import tensorflow as tf

from exagan_tf.core.compat import MultiWorkerFit


def replica_id() -> tf.Tensor:
    """This replica's index in its sync group (0 outside a strategy), as int64."""
    ctx = tf.distribute.get_replica_context()
    rid = ctx.replica_id_in_sync_group if ctx is not None else 0
    return tf.cast(rid, tf.int64)


def num_replicas() -> int:
    """Replicas of the current strategy that share one global batch."""
    return tf.distribute.get_strategy().num_replicas_in_sync


class TrainingModel(MultiWorkerFit, keras.Model):
    """Base of the core training models: trackers, step counter, optimizers, seeded noise.

    Args:
        metric_names: the names the step logs, one ``keras.metrics.Mean`` each (in this order).
        seed: seed of the model's random streams.

    Subclasses set ``step_optimizer`` (the attribute naming the optimizer whose iterations are
    the global step) and ``seed_stride`` (random streams reserved per step).
    """

    step_optimizer: str = "optimizer"
    seed_stride: int = 8

    def __init__(self, metric_names: Iterable[str], seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _track(self, **values) -> None:
        """Add one value per named tracker."""
        for name, value in values.items():
            self.trackers[name].update_state(value)

    def _results(self, names: Iterable[str] | None = None) -> dict:
        """The trackers' current means (all, or the given names in that order)."""
        names = self.trackers if names is None else names
        return {name: self.trackers[name].result() for name in names}

    def _attach_optimizers(self, **optimizers) -> None:
        """Store each ``name=(optimizer, variables)`` as ``self.<name>`` and build its slots
        for ``variables`` now (call inside the strategy scope). With ``variables`` None (an
        optimizer the configuration leaves unused, or None) it is stored and not built."""
        for name, (optimizer, variables) in optimizers.items():
            setattr(self, name, optimizer)
            if optimizer is not None and variables is not None:
                optimizer.build(variables)

    @staticmethod
    def _minimize(optimizer, tape: tf.GradientTape, loss: tf.Tensor, variables: list) -> None:
        """One update of ``variables`` down the gradient of ``loss`` recorded on ``tape``,
        through the optimizer's loss scaling (a no-op unless it is a LossScaleOptimizer)."""
        grads = tape.gradient(optimizer.scale_loss(loss), variables)
        optimizer.apply_gradients(zip(grads, variables))

    @property
    def step(self) -> tf.Variable:
        """Updates done so far by the step optimizer: the run's global step."""
        return getattr(self, self.step_optimizer).iterations

    def _stream_seed(self, stream: int) -> tf.Tensor:
        """The stateless seed of random stream ``stream`` at the current step."""
        step = tf.cast(self.step, tf.int64)
        return tf.stack([tf.cast(self.seed, tf.int64), step * self.seed_stride + stream])

    def _draw(self, sampler, batch: tf.Tensor, tail, stream: int) -> tf.Tensor:
        """``sampler(shape, seed)`` (``tf.random.stateless_*``) for the whole global batch
        of ``batch`` rows per replica, each row of shape ``tail``; returns this replica's rows,
        so the random numbers (and hence training) do not depend on the replica count."""
        shape = tf.concat([[batch * num_replicas()], tf.cast(tail, tf.int32)], 0)
        rows = sampler(shape, self._stream_seed(stream))
        start = tf.cast(replica_id(), tf.int32) * batch
        return rows[start : start + batch]
