"""Differentiable spectral loss for the CMB generators (TensorFlow, since it needs gradients)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from exagan_tf.errors import UserError


class SpectraLoss:
    """Differentiable power-spectrum difference for the generator loss (``--spectra-weight``).

    ``L = mean over bands and channels of (log C^pred_ell - log C^true_ell)^2``, with both
    spectra averaged over the batch before the logarithm (so the loss asks for the right mean
    power, not a per-map match, which the L1 term already asks for). Maps ``(batch, N, N, C)``
    channels last; spectra in pixel units (``|FFT|^2 / N^2``) since only ratios enter.
    Called as ``loss(x, y, y_pred)`` as :class:`exagan_tf.core.cgan.ConditionalGAN` expects.
    """

    def __init__(self, npix: int, nbins: int = 16, eps: float = 1e-12):
        if npix < 4:
            raise UserError(f"spectra loss: maps of {npix} pixels are too small")
        # unit pixels: the edges span the fundamental to Nyquist in units of the fundamental
        fy = np.fft.fftfreq(npix)[:, None]
        fx = np.fft.fftfreq(npix)[None, :]
        k = np.hypot(fy, fx).ravel() * npix
        edges = np.linspace(1.0, npix / 2.0, nbins + 1)
        idx = np.searchsorted(edges, k, side="right") - 1
        keep = (idx >= 0) & (idx < nbins)
        mat = np.zeros((k.size, nbins), dtype=np.float32)
        mat[np.nonzero(keep)[0], idx[keep]] = 1.0
        counts = mat.sum(0)
        mat = mat[:, counts > 0] / counts[counts > 0]
        self.matrix = tf.constant(mat)
        self.npix = npix
        self.eps = eps

    def spectra(self, maps: tf.Tensor) -> tf.Tensor:
        """Band powers ``(C, nb)`` of ``(batch, N, N, C)`` maps, averaged over the batch."""
        m = tf.transpose(tf.cast(maps, tf.float32), [0, 3, 1, 2])
        f = tf.signal.fft2d(tf.complex(m, tf.zeros_like(m)))
        p = tf.math.real(f * tf.math.conj(f)) / float(self.npix**2)
        p = tf.reduce_mean(p, axis=0)  # (C, N, N)
        p = tf.reshape(p, [tf.shape(p)[0], -1])
        return tf.matmul(p, self.matrix)

    def __call__(self, x, y, y_pred) -> tf.Tensor:
        """The loss (a scalar) of predictions ``y_pred`` against targets ``y``."""
        cy = self.spectra(y)
        cp = self.spectra(y_pred)
        diff = tf.math.log(cp + self.eps) - tf.math.log(cy + self.eps)
        return tf.reduce_mean(tf.square(diff))


def squared_error(x, y, y_pred) -> tf.Tensor:
    """``mean((y_pred - y)^2)`` over the batch (the UResNet loss of DeepCMB), as an extra loss
    ``f(x, y, y_pred)`` of :class:`exagan_tf.core.cgan.ConditionalGAN`."""
    return tf.reduce_mean(tf.square(tf.cast(y_pred, tf.float32) - tf.cast(y, tf.float32)))


class WeightedSum:
    """``sum_i w_i f_i(x, y, y_pred)``: several extra generator losses as one (terms of weight 0
    are not computed)."""

    def __init__(self, terms):
        self.terms = [(float(w), f) for w, f in terms if w > 0]

    def __call__(self, x, y, y_pred) -> tf.Tensor:
        total = tf.constant(0.0)
        for w, f in self.terms:
            total = total + w * tf.cast(f(x, y, y_pred), tf.float32)
        return total


def spectra_loss_value(y: np.ndarray, y_pred: np.ndarray, nbins: int = 16) -> float:
    """NumPy convenience: the :class:`SpectraLoss` of two ``(n, N, N, C)`` arrays."""
    loss = SpectraLoss(y.shape[1], nbins)
    return float(keras.ops.convert_to_numpy(loss(None, tf.constant(y), tf.constant(y_pred))))
