"""Conditional flow matching (rectified flow) and a small U-Net velocity field.

Flow matching (Lipman et al. 2023, "Flow Matching for Generative Modeling"; Liu et al. 2023,
"Flow Straight and Fast", rectified flow) learns a velocity field ``v(x, t)`` whose ODE
``dx/dt = v(x, t)`` carries noise ``x0 ~ N(0, I)`` at ``t = 0`` to data ``x1`` at ``t = 1``.
With the straight path ``x_t = (1 - t) x0 + t x1`` the regression target is ``x1 - x0``, and the
loss is ``E_{t ~ U(0,1), x0, x1} |v(x_t, t[, c]) - (x1 - x0)|^2``: a plain regression, no
adversary, so training is not chaotic the way a GAN's is. A condition ``c`` (for baryon
painting: the dark-matter tile and the redshift) is one more input of ``v``.

Sampling integrates the ODE from ``t = 0`` to 1 in ``steps`` equal steps, with Heun's method
(second order, two evaluations per step) by default or Euler's. The default of
:data:`SAMPLE_STEPS` Heun steps: on the straight-path objective the learnt paths are close to
straight, and on the 2-D test problem Heun with 8 steps already matches the target's mean and
spread to a few percent; more steps cost linearly.

The noise of a training step is stateless, seeded by ``(seed, step)`` as the GAN's
(:class:`exagan_tf.core.training.TrainingModel`): the same run draws the same numbers after a
resume and on any number of replicas. What is saved and loaded (``.keras``, ``safe_mode``) is
the velocity network; its custom layers are registered, none is a ``Lambda``.
"""

from __future__ import annotations

import math
import weakref

import keras
import numpy as np
import tensorflow as tf

from exagan_tf.core.training import TrainingModel

#: Heun steps of :func:`sample` unless told otherwise (see the module docstring).
SAMPLE_STEPS = 16


@keras.saving.register_keras_serializable(package="exagan_tf")
class TimeEmbedding(keras.layers.Layer):
    """Sinusoidal features of ``t`` (batch, 1) -> (batch, dim): sin and cos of
    ``t * 1000 / 10000**(i / half)`` (the transformer / diffusion embedding)."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"dim={dim}: expected an even number >= 2")
        self.dim = int(dim)

    def call(self, t):
        half = self.dim // 2
        freqs = keras.ops.exp(
            -math.log(10000.0) * keras.ops.arange(half, dtype="float32") / max(half - 1, 1)
        )
        arg = keras.ops.cast(keras.ops.reshape(t, (-1, 1)), "float32") * 1000.0 * freqs[None, :]
        return keras.ops.concatenate([keras.ops.sin(arg), keras.ops.cos(arg)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="exagan_tf")
class ChannelBias(keras.layers.Layer):
    """``x + b[:, None, None, :]``: a per-image channel bias (the time embedding's projection)
    added to a channels_last feature map."""

    def call(self, x, bias):
        return x + keras.ops.cast(bias, x.dtype)[:, None, None, :]

    def compute_output_shape(self, x_shape, bias_shape):
        return x_shape


@keras.saving.register_keras_serializable(package="exagan_tf")
class BroadcastScalars(keras.layers.Layer):
    """Scalars (batch, k) as constant feature maps (batch, H, W, k) of the shape of ``like``
    (e.g. the redshift beside the dark-matter tile)."""

    def call(self, scalars, like):
        s = keras.ops.cast(scalars, like.dtype)[:, None, None, :]
        shape = keras.ops.shape(like)
        return keras.ops.broadcast_to(s, (shape[0], shape[1], shape[2], keras.ops.shape(s)[-1]))

    def compute_output_shape(self, scalars_shape, like_shape):
        return (*like_shape[:3], scalars_shape[-1])


def _res_block(x, emb, filters: int, name: str):
    """Conv-SiLU-(+time)-Conv-SiLU with a 1x1 skip when the width changes."""
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    h = keras.layers.GroupNormalization(min(8, filters), name=f"{name}_gn1")(h)
    h = keras.layers.Activation("silu", name=f"{name}_act1")(h)
    h = ChannelBias(name=f"{name}_time")(h, keras.layers.Dense(filters, name=f"{name}_temb")(emb))
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(h)
    h = keras.layers.GroupNormalization(min(8, filters), name=f"{name}_gn2")(h)
    h = keras.layers.Activation("silu", name=f"{name}_act2")(h)
    if x.shape[-1] != filters:
        x = keras.layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    return keras.layers.Add(name=f"{name}_add")([x, h])


def build_unet(
    img_dim: int,
    channels: int = 1,
    widths: tuple[int, ...] = (32, 64, 128),
    cond_channels: int = 0,
    cond_scalars: int = 0,
    time_dim: int = 64,
    name: str = "velocity",
) -> keras.Model:
    """A small U-Net velocity field, channels_last.

    Inputs ``[x (H, W, channels), t (1,)]``, then ``cond (H, W, cond_channels)`` when
    ``cond_channels`` and ``scalars (cond_scalars,)`` when ``cond_scalars`` (concatenated to
    ``x`` as channels, broadcast for the scalars). One residual block per level of ``widths``,
    average pooling between levels, nearest upsampling and skip concatenation back up, a
    zero-initialised 1x1 output (the flow starts as ``v = 0``). ``img_dim`` must divide by
    ``2 ** (len(widths) - 1)``.
    """
    levels = len(widths)
    if img_dim % 2 ** (levels - 1):
        raise ValueError(f"img_dim={img_dim} is not divisible by 2**{levels - 1}")
    x_in = keras.Input((img_dim, img_dim, channels), name="x")
    t_in = keras.Input((1,), name="t")
    inputs, h = [x_in, t_in], x_in
    if cond_channels:
        c_in = keras.Input((img_dim, img_dim, cond_channels), name="cond")
        inputs.append(c_in)
        h = keras.layers.Concatenate(name="with_cond")([h, c_in])
    if cond_scalars:
        s_in = keras.Input((cond_scalars,), name="scalars")
        inputs.append(s_in)
        h = keras.layers.Concatenate(name="with_scalars")([h, BroadcastScalars(name="scalar_maps")(
            s_in, x_in)])
    emb = TimeEmbedding(time_dim, name="t_embed")(t_in)
    emb = keras.layers.Dense(time_dim, activation="silu", name="t_mlp")(emb)
    h = keras.layers.Conv2D(widths[0], 3, padding="same", name="stem")(h)
    skips = []
    for i, w in enumerate(widths):
        h = _res_block(h, emb, w, f"down{i}")
        if i < levels - 1:
            skips.append(h)
            h = keras.layers.AveragePooling2D(2, name=f"pool{i}")(h)
    for i in reversed(range(levels - 1)):
        h = keras.layers.UpSampling2D(2, name=f"up{i}")(h)
        h = keras.layers.Concatenate(name=f"cat{i}")([h, skips[i]])
        h = _res_block(h, emb, widths[i], f"upb{i}")
    out = keras.layers.Conv2D(channels, 1, kernel_initializer="zeros", dtype="float32",
                              name="v")(h)
    return keras.Model(inputs, out, name=name)


def build_mlp(dim: int, hidden: int = 64, depth: int = 3, cond_dim: int = 0,
              name: str = "velocity") -> keras.Model:
    """An MLP velocity field for vectors: inputs ``[x (dim,), t (1,)]`` (+ ``cond (cond_dim,)``)."""
    x_in, t_in = keras.Input((dim,), name="x"), keras.Input((1,), name="t")
    inputs = [x_in, t_in]
    parts = [x_in, TimeEmbedding(16, name="t_embed")(t_in)]
    if cond_dim:
        inputs.append(keras.Input((cond_dim,), name="cond"))
        parts.append(inputs[-1])
    h = keras.layers.Concatenate(name="features")(parts)
    for i in range(depth):
        h = keras.layers.Dense(hidden, activation="silu", name=f"dense{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(dim, name="v")(h), name=name)


class FlowMatching(TrainingModel):
    """Rectified-flow training of a velocity network (see the module docstring).

    Args:
        velocity: a network ``[x, t, *conditions] -> v`` of the shape of ``x``
            (:func:`build_unet`, :func:`build_mlp`).
        seed: seed of the noise and time streams (with the step: stateless, two streams per
            step, drawn for the global batch as :class:`exagan_tf.core.training.TrainingModel`
            does).

    ``fit`` takes batches ``x1`` (unconditional) or ``(x1, cond, ...)`` tuples (conditions in
    the order of the network's inputs after ``t``). Logged metric: ``loss``.
    """

    step_optimizer = "optimizer"
    seed_stride = 2

    def __init__(self, velocity: keras.Model, seed: int = 0, **kwargs):
        super().__init__(("loss",), seed=seed, **kwargs)
        self.velocity = velocity
        self.built = True

    def call(self, inputs, training=False):
        return self.velocity(inputs, training=training)

    def flow_loss(self, x1, conditions=(), training=True):
        """The flow-matching loss of one batch (mean squared velocity error)."""
        x1 = tf.cast(x1, tf.float32)
        batch, tail = tf.shape(x1)[0], tf.shape(x1)[1:]
        x0 = self._draw(tf.random.stateless_normal, batch, tail, 0)
        t = self._draw(tf.random.stateless_uniform, batch, [1], 1)
        t_b = tf.reshape(t, tf.concat([[batch], tf.ones_like(tail)], 0))
        xt = (1.0 - t_b) * x0 + t_b * x1
        v = self.velocity([xt, t, *conditions], training=training)
        return tf.reduce_mean(tf.square(tf.cast(v, tf.float32) - (x1 - x0)))

    def train_step(self, data):
        x1, conditions = (data[0], tuple(data[1:])) if isinstance(data, tuple) else (data, ())
        with tf.GradientTape() as tape:
            loss = self.flow_loss(x1, conditions)
        self._minimize(self.optimizer, tape, loss, self.velocity.trainable_weights)
        self._track(loss=loss)
        return self._results()


def sample(velocity: keras.Model, n: int, seed: int = 0, steps: int = SAMPLE_STEPS,
           method: str = "heun", conditions=(), batch_size: int = 256) -> np.ndarray:
    """``n`` samples: integrate ``dx/dt = v(x, t[, conditions])`` from noise (NumPy's ``seed``
    stream) at ``t = 0`` to ``t = 1`` in ``steps`` equal steps of ``method`` (``heun`` or
    ``euler``). ``conditions``: arrays with ``n`` rows each, in the network's input order."""
    if method not in ("heun", "euler"):
        raise ValueError(f"method={method!r}: expected 'heun' or 'euler'")
    if steps < 1 or n < 1:
        raise ValueError(f"steps={steps}, n={n}: expected positive numbers")
    shape = tuple(velocity.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        conds = [tf.constant(np.asarray(c[start : start + m], np.float32)) for c in conditions]
        out.append(_integrate(velocity, rng.standard_normal((m, *shape)).astype(np.float32),
                              steps, method == "heun", conds))
    return np.concatenate(out)


_FIELDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _field(velocity):
    """``v(x, t, conds)`` of ``velocity`` as one ``tf.function`` per network (traced once per
    batch shape, not once per call)."""
    if velocity not in _FIELDS:
        @tf.function(reduce_retracing=True)
        def field(x, t, conds):
            tt = tf.fill([tf.shape(x)[0], 1], t)
            return tf.cast(velocity([x, tt, *conds], training=False), tf.float32)

        _FIELDS[velocity] = field
    return _FIELDS[velocity]


def _integrate(velocity, x, steps: int, heun: bool, conds) -> np.ndarray:
    dt = 1.0 / steps
    field = _field(velocity)
    x = tf.constant(x)
    for i in range(steps):
        t = tf.constant(i * dt, tf.float32)
        v = field(x, t, conds)
        if heun:
            x_e = x + dt * v
            x = x + 0.5 * dt * (v + field(x_e, t + dt, conds))
        else:
            x = x + dt * v
    return x.numpy()
