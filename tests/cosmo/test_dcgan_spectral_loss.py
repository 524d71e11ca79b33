"""The DCGAN's optional spectral loss measures exactly the spectrum the statistics report."""

import numpy as np
import tensorflow as tf

from exagan_tf.config import load_exagan
from exagan_tf.core import stats
from exagan_tf.core.layers import scale_transform
from exagan_tf.cosmo.dcgan import PowerSpectrumLoss, build_gan


def _counts(n=24, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.lognormal(0.0, 1.0, (n, dim, dim))).astype("float32")


def test_log_spectra_match_statistics_and_targets():
    cfg = load_exagan("test")
    x = _counts()
    loss = PowerSpectrumLoss(x, cfg, "channels_last")
    s = scale_transform(x.astype(np.float64), cfg.datascale)[..., None].astype("float32")
    log_pk = loss.log_spectra(tf.constant(s)).numpy()
    _, pk = stats.power_spectrum_2d(x, mean=float(x.mean()))
    np.testing.assert_allclose(log_pk, np.log(pk), atol=2e-4)
    # the training images themselves sit at the target (up to float32 round-off)
    assert float(loss(tf.constant(s))) < 1e-6
    # a flat image set is far from it
    flat = np.zeros_like(s) + 0.5 + 1e-3 * np.random.default_rng(1).standard_normal(s.shape)
    assert float(loss(tf.constant(flat.astype("float32")))) > 10.0


def test_channels_first_and_saturated_pixels():
    cfg = load_exagan("test")
    x = _counts()
    loss_cf = PowerSpectrumLoss(x, cfg, "channels_first")
    s = scale_transform(x.astype(np.float64), cfg.datascale)[:, None].astype("float32")
    s[:, :, 3, 3] = 1.0  # a saturated tanh: floored 1 - s, never inf
    value = float(loss_cf(tf.constant(s)))
    assert np.isfinite(value) and value > 0


def test_generator_step_with_spectral_loss_logs_it_and_lowers_it():
    import dataclasses

    cfg = dataclasses.replace(load_exagan("test"), pspec_weight=1.0, learn_rate=(2e-3, 2e-4))
    x = _counts(n=64)
    gan = build_gan(cfg, "channels_last", x)
    real = scale_transform(x[:8, ..., None], cfg.datascale)
    first = gan.train_step(tf.constant(real))
    for _ in range(30):
        out = gan.train_step(tf.constant(real))
    assert "g_extra_loss" in first
    assert float(out["g_extra_loss"]) < float(first["g_extra_loss"])


def test_spectra_read_integer_counts_with_straight_through_gradients():
    import dataclasses

    cfg = load_exagan("test")
    x = _counts()
    # sub-count wiggles that rounding erases do not change the spectrum the loss sees ...
    wiggle = 0.3 * np.sin(np.arange(x.shape[-1]) * 2.9)
    s = scale_transform(x.astype(np.float64) + wiggle, cfg.datascale)[..., None]
    s0 = scale_transform(x.astype(np.float64), cfg.datascale)[..., None]
    loss = PowerSpectrumLoss(x, cfg, "channels_last")
    np.testing.assert_allclose(loss.log_spectra(tf.constant(s, tf.float32)).numpy(),
                               loss.log_spectra(tf.constant(s0, tf.float32)).numpy(), atol=2e-4)
    # ... but the gradient still flows (the rounding is the identity backwards)
    s = tf.Variable(s.astype("float32"))
    with tf.GradientTape() as tape:
        value = loss(s)
    grad = tape.gradient(value, s).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    # with dequantize the counts are floored: x + 0.7 and x + 0.2 both read as x
    deq = PowerSpectrumLoss(x, dataclasses.replace(cfg, dequantize=True), "channels_last")
    s7, s2 = (scale_transform(x.astype(np.float64) + d, cfg.datascale)[..., None] for d in (.7, .2))
    np.testing.assert_allclose(deq.log_spectra(tf.constant(s7, tf.float32)).numpy(),
                               deq.log_spectra(tf.constant(s2, tf.float32)).numpy(), atol=2e-4)
