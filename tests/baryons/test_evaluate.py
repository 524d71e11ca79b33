"""Evaluation statistics: exact answers on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.baryons import evaluate as ev


def test_local_baseline_recovers_a_power_law():
    rng = np.random.default_rng(0)
    rho = np.exp(rng.normal(size=(4, 16, 16)))
    a, alpha = ev.fit_local_baseline(rho, 3.0 * rho**1.7)
    assert alpha == pytest.approx(1.7, rel=1e-10)
    assert a == pytest.approx(3.0, rel=1e-10)
    np.testing.assert_allclose(ev.baseline_predict(rho, a, alpha), 3.0 * rho**1.7, rtol=1e-9)


def test_peak_counts():
    m = np.zeros((1, 10, 10))
    m[0, 2, 2], m[0, 7, 7], m[0, 7, 2] = 5.0, 2.0, 0.5
    assert ev.peak_counts(m, [1.0, 3.0]).tolist() == [2, 1]


def test_perfect_prediction_scores_perfectly_and_noise_does_not():
    rng = np.random.default_rng(1)
    dm = np.exp(rng.normal(size=(8, 32, 32)))
    truth = dm**2
    m = ev.compare(dm, truth, truth.copy(), 1.0)
    assert m["auto_err_max"] == pytest.approx(0.0, abs=1e-12)
    assert m["cross_err_max"] == pytest.approx(0.0, abs=1e-12)
    assert m["r_pred_truth_mean"] == pytest.approx(1.0)
    assert m["ks"] == 0.0 and m["peaks"] == m["peaks_truth"]
    noise = ev.compare(dm, truth, rng.permutation(truth.ravel()).reshape(truth.shape), 1.0)
    assert noise["r_pred_truth_mean"] < 0.3
    assert noise["cross_err_mean"] > 0.5
    # half the Nyquist wavenumber of a 1 Mpc/h pixel
    assert ev.k_nyquist(1.0) / 2 == pytest.approx(np.pi / 2)


def test_scatter_statistics_on_a_field_of_known_scatter():
    # truth = noise-free mean x a log-normal of log-std 0.2 with E = 1 (the stand-in's model)
    rng = np.random.default_rng(2)
    mean = np.exp(rng.normal(size=(8, 32, 32)) * 2.0)  # four decades, as pressure maps
    s = 0.2
    truth = mean * np.exp(s * rng.normal(size=mean.shape) - 0.5 * s**2)
    floor = ev.log_floor(truth)
    assert floor == pytest.approx(np.percentile(truth, 0.1))
    assert ev.truth_scatter(truth, mean, floor) == pytest.approx(s, rel=0.02)
    # the uncentred RMS would be sqrt(s^2 + s^4 / 4): centring removes the offset
    assert ev.truth_scatter(truth, mean, floor) < np.sqrt(s**2 + s**4 / 4) * 0.999
    # draws with log-std 0.1 around any map spread 0.1; identical draws spread exactly 0
    draws = mean[None] * np.exp(0.1 * rng.normal(size=(6, *mean.shape)))
    assert ev.draw_spread(draws, floor) == pytest.approx(0.1, rel=0.02)
    assert ev.draw_spread(np.stack([truth] * 4), floor) == 0.0
    # a painter of exact zeros is clipped at the floor, not -inf
    zeros = np.stack([mean, np.zeros_like(mean)])
    assert np.isfinite(ev.draw_spread(zeros, floor))
    with pytest.raises(ValueError, match="two draws"):
        ev.draw_spread(truth[None], floor)
