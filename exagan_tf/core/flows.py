"""Rational-quadratic neural spline flows (Durkan et al. 2019, "Neural Spline Flows") in Keras.

A flow maps data x in R^d to a standard normal base z = f(x) by a stack of invertible layers,
and its density is exact: log p(x) = log N(f(x); 0, I) + log |det df/dx|. Sampling draws
z ~ N(0, I) and inverts the stack.

**The spline** (:func:`rq_spline`). On [-B, B] each transformed coordinate goes through a
monotone rational-quadratic spline of K bins: bin widths and heights are a softmax of K
unnormalised values each (floored at ``min_bin`` of the interval), the K - 1 interior knot
derivatives a softplus (floored at ``min_derivative``); the boundary derivatives are 1, and
outside [-B, B] the map is the identity ("linear tails"), so the map is C^1 on R and needs no
data range. In bin k, with xi = (x - x_k) / w_k, s_k = h_k / w_k,

    y = y_k + h_k (s_k xi^2 + d_k xi (1 - xi)) / (s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)),
    dy/dx = s_k^2 (d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2) / denominator^2,

and the inverse is the root of a quadratic in xi (the numerically stable form 2c / (-b - sqrt(
b^2 - 4ac)) of the paper's eq. 29). The softplus of the derivatives is shifted so that all-zero
parameters give widths = heights and derivatives 1: the identity map.

**Coupling** (:class:`RQSCoupling`). A fixed subset of the coordinates (``mask`` = 1) passes
unchanged and conditions an MLP (ReLU) whose output holds the K + K + (K - 1) spline parameters
of each other coordinate. The last Dense layer starts at zero, so an untrained flow is the
identity and its density the base normal. Coupling rather than autoregressive: sampling a
coupling flow costs one pass per layer, a masked autoregressive flow d passes (d = 4 or 6 here),
and generation speed is a target of the muon model.

**Masks** (:func:`coupling_masks`): a half of the coordinates per layer, alternating with its
complement, each pair drawn from a fixed random permutation (seeded, stored in the layer config),
so every coordinate conditions every other within a few layers.

:class:`SplineFlow` (a :class:`~exagan_tf.core.training.TrainingModel`) is trained by ``fit`` on
weighted maximum likelihood: batches are ``x`` (every row weight 1; rows drawn by weight, as the
muon original drew its batches) or ``(x, w)``, and the loss is sum_i w_i (-log p(x_i)) /
sum_i w_i. Every layer and the model are registered serialisables: a saved ``.keras`` file loads
with ``safe_mode=True``.

**Sampling** (:meth:`SplineFlow.generate`): the inverse is one XLA-compiled function of one
shape, ``GENERATE_CHUNK`` = 16384 rows; every call is cut into such chunks and the last is
padded with zeros. Tracing and compiling cost about 3 s of CPU per shape and model (measured,
``flow_demo``'s sizes); padding a short call to a power of two instead compiled a second shape
for every muon category's last batch, more than the generation itself for 400k muons. Rows do
not interact, so the output does not depend on the chunk (tested bit for bit), and the CPU cost
per row is the same from 4096 to 65536 rows (9.5 us for ``flow_demo`` in 6-D, measured).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from exagan_tf.core.training import TrainingModel, num_replicas

LOG_2PI = math.log(2.0 * math.pi)
GENERATE_CHUNK = 16384  # rows per call of the compiled inverse (module notes)


def _derivative_shift(min_derivative: float) -> float:
    """c with min_derivative + softplus(c) = 1: zero parameters give derivative 1."""
    return math.log(math.expm1(1.0 - min_derivative))


def _knots(unnorm: tf.Tensor, bound: float, min_bin: float) -> tf.Tensor:
    """Knot positions (..., K + 1) from -B to B of softmax bin sizes floored at ``min_bin``:
    the cumulative sum as one small matmul (faster than ``cumsum`` on CPU, measured)."""
    k = unnorm.shape[-1]
    e = tf.exp(unnorm - tf.reduce_max(unnorm, axis=-1, keepdims=True))
    tri = tf.constant(np.triu(np.ones((k, k + 1)), 1), e.dtype)  # [0, e1, e1 + e2, ...]
    cum = tf.reshape(tf.reshape(e, [-1, k]) @ tri, tf.concat([tf.shape(e)[:-1], [k + 1]], 0))
    steps = tf.constant(np.arange(k + 1) * min_bin, e.dtype)
    frac = steps + (1.0 - min_bin * k) * cum / cum[..., -1:]
    return 2.0 * bound * frac - bound


def _pick(params: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
    """params[..., idx] for a per-element index ``idx`` (the leading shape of ``params``), by
    one gather on the flattened array."""
    k = tf.shape(params)[-1]
    flat = tf.reshape(tf.range(tf.size(idx)), tf.shape(idx)) * k + idx
    return tf.gather(tf.reshape(params, [-1]), flat)


def rq_spline(
    x: tf.Tensor,
    w_un: tf.Tensor,
    h_un: tf.Tensor,
    d_un: tf.Tensor,
    inverse: bool = False,
    bound: float = 5.0,
    min_bin: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Elementwise rational-quadratic spline with linear tails (module notes).

    Args:
        x: inputs (...,).
        w_un, h_un: unnormalised bin widths and heights (..., K).
        d_un: unnormalised interior knot derivatives (..., K - 1).
        inverse: evaluate the inverse map.
    Returns:
        (outputs (...,), log |d output / d input| (...,)).
    """
    xk = _knots(w_un, bound, min_bin)
    yk = _knots(h_un, bound, min_bin)
    inside = (x > -bound) & (x < bound)
    xc = tf.clip_by_value(x, -bound, bound)
    edges = yk if inverse else xk
    idx = tf.reduce_sum(tf.cast(xc[..., None] >= edges[..., 1:-1], tf.int32), axis=-1)
    x0, x1, y0, y1 = _pick(xk, idx), _pick(xk, idx + 1), _pick(yk, idx), _pick(yk, idx + 1)
    zero = tf.zeros_like(d_un[..., :1])
    d_pad = tf.concat([zero, d_un, zero], axis=-1)  # boundary derivatives: exactly 1
    shift = _derivative_shift(min_derivative)
    d0 = min_derivative + tf.nn.softplus(_pick(d_pad, idx) + shift)
    d1 = min_derivative + tf.nn.softplus(_pick(d_pad, idx + 1) + shift)
    w_b, h_b = x1 - x0, y1 - y0
    s = h_b / w_b
    if inverse:
        dy = xc - y0
        a = h_b * (s - d0) + dy * (d1 + d0 - 2.0 * s)
        b = h_b * d0 - dy * (d1 + d0 - 2.0 * s)
        c = -s * dy
        disc = tf.maximum(b * b - 4.0 * a * c, 0.0)
        xi = tf.clip_by_value(2.0 * c / (-b - tf.sqrt(disc)), 0.0, 1.0)
        out = xi * w_b + x0
    else:
        xi = tf.clip_by_value((xc - x0) / w_b, 0.0, 1.0)
        out = None
    t = xi * (1.0 - xi)
    den = s + (d1 + d0 - 2.0 * s) * t
    logdet = (
        2.0 * tf.math.log(s)
        + tf.math.log(d1 * xi * xi + 2.0 * s * t + d0 * (1.0 - xi) ** 2)
        - 2.0 * tf.math.log(den)
    )
    if not inverse:
        out = y0 + h_b * (s * xi * xi + d0 * t) / den
    else:
        logdet = -logdet
    out = tf.where(inside, out, x)
    logdet = tf.where(inside, logdet, tf.zeros_like(logdet))
    return out, logdet


def coupling_masks(dim: int, layers: int, seed: int = 0) -> list[list[int]]:
    """``layers`` masks (1 = conditioning coordinate): a random half and then its complement,
    a new random half every second layer (module notes)."""
    if dim < 2:
        raise ValueError(f"dim={dim}: a coupling flow needs at least 2 coordinates")
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(layers):
        if i % 2 == 0:
            m = np.zeros(dim, int)
            m[rng.permutation(dim)[: dim // 2]] = 1
        else:
            m = 1 - np.asarray(masks[-1])
        masks.append([int(v) for v in m])
    return masks


@keras.saving.register_keras_serializable(package="exagan_tf")
class RQSCoupling(keras.layers.Layer):
    """One rational-quadratic spline coupling layer (module notes).

    Args:
        mask: per coordinate, 1 = passes unchanged and conditions, 0 = transformed.
        bins: spline bins K.
        hidden: width of the conditioner's hidden layers.
        depth: number of hidden layers.
        bound: B, the spline's interval [-B, B] (identity outside).
    """

    def __init__(
        self,
        mask,
        bins: int = 8,
        hidden: int = 64,
        depth: int = 2,
        bound: float = 5.0,
        min_bin: float = 1e-3,
        min_derivative: float = 1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mask = [int(v) for v in mask]
        if set(self.mask) != {0, 1}:
            raise ValueError(f"mask {self.mask}: needs both 1 (conditioning) and 0 entries")
        if bins < 2 or hidden < 1 or depth < 1 or bound <= 0:
            raise ValueError(f"bins={bins}, hidden={hidden}, depth={depth}, bound={bound}")
        self.bins, self.hidden, self.depth = int(bins), int(hidden), int(depth)
        self.bound, self.min_bin, self.min_derivative = float(bound), min_bin, min_derivative
        self.cond_idx = [i for i, m in enumerate(self.mask) if m]
        self.tr_idx = [i for i, m in enumerate(self.mask) if not m]
        self.unperm = list(np.argsort(self.cond_idx + self.tr_idx))
        n_out = len(self.tr_idx) * (3 * self.bins - 1)
        self.hidden_layers = [
            keras.layers.Dense(self.hidden, activation="relu", name=f"hidden_{i}")
            for i in range(self.depth)
        ]
        self.out_layer = keras.layers.Dense(n_out, kernel_initializer="zeros", name="spline")

    def build(self, input_shape):
        n = len(self.cond_idx)
        shape = (None, n)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = (None, self.hidden)
        self.out_layer.build(shape)
        self.built = True

    def _params(self, cond: tf.Tensor):
        h = cond
        for layer in self.hidden_layers:
            h = layer(h)
        p = tf.reshape(self.out_layer(h), [-1, len(self.tr_idx), 3 * self.bins - 1])
        k = self.bins
        return p[..., :k], p[..., k : 2 * k], p[..., 2 * k :]

    def _apply(self, x: tf.Tensor, inverse: bool):
        x = tf.cast(x, self.compute_dtype)
        cond = tf.gather(x, self.cond_idx, axis=-1)
        tr = tf.gather(x, self.tr_idx, axis=-1)
        w, h, d = self._params(cond)
        out, logdet = rq_spline(
            tr, w, h, d, inverse, self.bound, self.min_bin, self.min_derivative
        )
        y = tf.gather(tf.concat([cond, out], axis=-1), self.unperm, axis=-1)
        return y, tf.reduce_sum(logdet, axis=-1)

    def call(self, x):
        """Data direction -> base direction: (y, log |det dy/dx|) per row."""
        return self._apply(x, inverse=False)

    def inverse(self, y):
        """Base direction -> data direction: (x, log |det dx/dy|) per row."""
        return self._apply(y, inverse=True)

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape[:-1]

    def get_config(self):
        return {
            **super().get_config(),
            "mask": self.mask,
            "bins": self.bins,
            "hidden": self.hidden,
            "depth": self.depth,
            "bound": self.bound,
            "min_bin": self.min_bin,
            "min_derivative": self.min_derivative,
        }


@keras.saving.register_keras_serializable(package="exagan_tf")
class SplineFlow(TrainingModel):
    """A stack of :class:`RQSCoupling` layers on a standard normal base, trained by weighted
    maximum likelihood (module notes).

    Args:
        dim: data dimension.
        layers: coupling layers.
        bins, hidden, depth, bound: of each coupling layer.
        mask_seed: seed of the masks' permutations (:func:`coupling_masks`).
        squash: 0, or a ∈ (0, 1): data bounded to [-1, 1] enter as u = atanh(a x) (and samples
            leave as tanh(u) / a), so the spline layers see an unbounded variable and a sample
            cannot leave (-1/a, 1/a); log |det| includes the map.
    """

    def __init__(
        self,
        dim: int,
        layers: int = 8,
        bins: int = 8,
        hidden: int = 64,
        depth: int = 2,
        bound: float = 5.0,
        mask_seed: int = 0,
        squash: float = 0.0,
        **kwargs,
    ):
        super().__init__(("nll",), **kwargs)
        if not 0.0 <= squash < 1.0:
            raise ValueError(f"squash={squash}: expected 0 (none) or a factor in (0, 1)")
        self.squash = float(squash)
        self.dim, self.n_layers, self.bins = int(dim), int(layers), int(bins)
        self.hidden, self.depth = int(hidden), int(depth)
        self.bound, self.mask_seed = float(bound), int(mask_seed)
        self.couplings = [
            RQSCoupling(m, bins, hidden, depth, bound, name=f"coupling_{i}")
            for i, m in enumerate(coupling_masks(self.dim, self.n_layers, mask_seed))
        ]
        for c in self.couplings:
            c.build((None, self.dim))
        self.built = True

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs):
        """Attach the optimizer and build its slots (inside the strategy scope)."""
        super().compile(optimizer=optimizer, **kwargs)
        optimizer.build(self.trainable_variables)

    def call(self, x):
        """(z = f(x), log |det df/dx|) per row."""
        z = tf.cast(x, self.compute_dtype)
        total = tf.zeros(tf.shape(z)[:1], z.dtype)
        if self.squash:
            a = tf.cast(self.squash, z.dtype)
            total += tf.reduce_sum(tf.math.log(a) - tf.math.log1p(-tf.square(a * z)), axis=-1)
            z = tf.atanh(a * z)
        for c in self.couplings:
            z, ld = c(z)
            total += ld
        return z, total

    def log_prob(self, x) -> tf.Tensor:
        """log p(x) per row."""
        z, logdet = self(x)
        return -0.5 * tf.reduce_sum(z * z, axis=-1) - 0.5 * self.dim * LOG_2PI + logdet

    def inverse(self, z) -> tf.Tensor:
        """x = f^{-1}(z)."""
        x = tf.cast(z, self.compute_dtype)
        for c in reversed(self.couplings):
            x, _ = c.inverse(x)
        if self.squash:
            x = tf.tanh(x) / tf.cast(self.squash, x.dtype)
        return x

    @tf.function(reduce_retracing=True, jit_compile=True)
    def _inverse_graph(self, z):
        return self.inverse(z)

    def sample(self, n: int, seed: int = 0, batch: int = GENERATE_CHUNK) -> np.ndarray:
        """``n`` draws (NumPy float32): z ~ N(0, I) from ``np.random.default_rng(seed)``,
        inverted in chunks (:meth:`generate`)."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.dim), dtype=np.float32)
        return self.generate(z, batch)

    def generate(self, z: np.ndarray, batch: int = GENERATE_CHUNK) -> np.ndarray:
        """f^{-1}(z) of base draws ``z`` (n, dim) (NumPy float32). The inverse is XLA-compiled
        for one shape, ``batch`` rows: every chunk, the last and a short call's too, is padded
        with zeros to it, so a model is traced and compiled once (module notes)."""
        z = np.asarray(z, np.float32)
        parts = []
        for i in range(0, len(z), batch):
            chunk = z[i : i + batch]
            if len(chunk) < batch:
                chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), self.dim),
                                                        np.float32)])
            parts.append(self._inverse_graph(tf.constant(chunk)).numpy()[: len(z) - i])
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    @staticmethod
    def _split(data):
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def _nll(self, x, w):
        nll = -self.log_prob(x)
        if w is None:
            return tf.reduce_mean(nll)
        w = tf.cast(w, nll.dtype)
        return tf.reduce_sum(w * nll) / tf.maximum(tf.reduce_sum(w), 1e-30)

    def train_step(self, data):
        x, w = self._split(data)
        with tf.GradientTape() as tape:
            loss = self._nll(x, w)
            scaled = loss / tf.cast(num_replicas(), loss.dtype)  # gradients are summed
        self._minimize(self.optimizer, tape, scaled, self.trainable_variables)
        self._track(nll=loss)
        return self._results()

    def test_step(self, data):
        x, w = self._split(data)
        self._track(nll=self._nll(x, w))
        return self._results()

    def get_config(self):
        return {
            "name": self.name,
            "dim": self.dim,
            "layers": self.n_layers,
            "bins": self.bins,
            "hidden": self.hidden,
            "depth": self.depth,
            "bound": self.bound,
            "mask_seed": self.mask_seed,
            "squash": self.squash,
        }
