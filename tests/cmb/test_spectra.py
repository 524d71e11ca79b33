"""Band powers, figures of merit and the differentiable spectral loss."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.cmb import spectra as sp
from exagan_tf.cmb.data import apodization_window
from exagan_tf.core import stats
from exagan_tf.errors import UserError

PIX = np.deg2rad(5.0) / 64


def test_white_noise_has_flat_spectrum_sigma2_pixel_area():
    rng = np.random.default_rng(0)
    maps = 3.0 * rng.standard_normal((40, 64, 64))
    edges = sp.default_edges(64, PIX, 6)
    c = sp.binned_spectra(maps, None, PIX, edges).mean(0)
    assert np.allclose(c, 9.0 * PIX**2, rtol=0.05)
    # the same normalisation as the core's general spectra with the box in radians
    k, pk = stats.cross_power_spectrum_2d(maps, box_size=64 * PIX, nbins=6)
    assert np.allclose(pk.mean(0), 9.0 * PIX**2, rtol=0.05)
    # an apodised map, divided by mean(w^2), keeps the level
    w = apodization_window(64)
    cw = sp.binned_spectra(maps, None, PIX, edges, window=w).mean(0)
    assert np.allclose(cw, 9.0 * PIX**2, rtol=0.08)


def test_binned_theory_of_a_power_law():
    edges = np.array([200.0, 400.0, 800.0])
    cl = np.zeros(3000)
    cl[1:] = np.arange(1.0, 3000.0) ** -2.0
    th = sp.binned_theory(cl, 64, PIX, edges)
    centres, modes = sp.band_info(64, PIX, edges)
    assert np.all((th > 800.0**-2) & (th < 200.0**-2))
    assert np.all(np.diff(centres) > 0) and np.all(modes > 10)


def test_prediction_metrics_known_cases():
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((30, 32, 32))
    noise = rng.standard_normal((30, 32, 32))
    edges = sp.default_edges(32, PIX, 4)
    perfect = sp.prediction_metrics(truth, truth, PIX, edges)
    assert np.allclose(perfect["r"], 1.0) and np.allclose(perfect["residual_ratio"], 0.0)
    zero = sp.prediction_metrics(np.zeros_like(truth), truth, PIX, edges)
    assert np.allclose(zero["residual_ratio"], 1.0) and np.allclose(zero["r"], 0.0)
    # pred = 0.5 truth + 0.5 noise: r = 0.5 / sqrt(0.5) = 0.707, residual = 0.25 + 0.25 = 0.5
    m = sp.prediction_metrics(0.5 * truth + 0.5 * noise, truth, PIX, edges)
    assert np.allclose(m["r"], np.sqrt(0.5), atol=0.03)
    assert np.allclose(m["residual_ratio"], 0.5, atol=0.04)
    with pytest.raises(UserError, match="differs"):
        sp.prediction_metrics(truth[:2], truth, PIX, edges)


def test_empty_band_is_an_error():
    with pytest.raises(UserError, match="holds no Fourier mode"):
        sp.binned_spectra(np.zeros((1, 16, 16)), None, PIX, [10.0, 20.0, 30.0])


def test_spectra_loss_values_and_gradient():
    import tensorflow as tf

    from exagan_tf.cmb.losses import SpectraLoss, spectra_loss_value

    rng = np.random.default_rng(2)
    y = rng.standard_normal((4, 16, 16, 2)).astype("float32")
    assert spectra_loss_value(y, y) == pytest.approx(0.0, abs=1e-10)
    # twice the amplitude is four times the power in every band: (ln 4)^2
    assert spectra_loss_value(y, 2 * y) == pytest.approx(np.log(4.0) ** 2, rel=1e-5)
    loss = SpectraLoss(16)
    pred = tf.Variable(y * 0.5)
    with tf.GradientTape() as tape:
        value = loss(None, tf.constant(y), pred)
    grad = tape.gradient(value, pred)
    assert np.all(np.isfinite(grad.numpy())) and float(tf.reduce_sum(grad * pred)) < 0
