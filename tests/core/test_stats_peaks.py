"""Tests of exagan_tf.core.stats.peaks: peak counts on fields whose answer is known (one bump,
white noise against the exact discrete and the analytic Gaussian-field densities), the tie rule,
and the invariances of the peak-count chi-square."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from exagan_tf.core import stats
from exagan_tf.errors import UserError


def bump(size=64, centre=(20, 37), width=2.0, amplitude=50.0):
    y, x = np.indices((size, size))
    r2 = (y - centre[0]) ** 2 + (x - centre[1]) ** 2
    return amplitude * np.exp(-r2 / (2 * width**2))


@pytest.mark.parametrize("periodic", [False, True])
def test_one_gaussian_bump_is_one_peak_at_the_smoothed_height(periodic):
    field = bump()
    (heights,) = stats.peak_heights(field, sigma=1.0, periodic=periodic)
    mask = stats.peak_mask(stats.smooth_fields(field, 1.0, periodic), periodic)
    assert heights.size == 1 and mask.sum() == 1
    assert tuple(np.argwhere(mask[0])[0]) == (20, 37)
    # a Gaussian of width w smoothed by one of width s peaks at A w^2 / (w^2 + s^2)
    np.testing.assert_allclose(heights[0], 50.0 * 4.0 / 5.0, rtol=5e-3)


def test_white_noise_peak_density_is_one_ninth_with_the_exact_height_distribution():
    """Unsmoothed i.i.d. pixels: a pixel is the highest of its 3 x 3 block with probability 1/9;
    of height above nu with probability (1 - Phi(nu)^9) / 9."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 128, 128))
    heights = np.concatenate(stats.peak_heights(x, sigma=0.0, periodic=True))
    n = x.size
    assert abs(heights.size / n - 1 / 9) < 4 * np.sqrt(n / 9) / n
    expected = (1 - scipy.stats.norm.cdf(1.0) ** 9) / 9
    assert abs(np.sum(heights > 1.0) / n - expected) < 0.004
    # the border holds no peaks without periodic boundaries
    mask = stats.peak_mask(x, periodic=False)
    assert not mask[:, 0].any() and not mask[:, -1].any() and not mask[:, :, 0].any()
    assert abs(mask.sum() / (8 * stats.candidate_pixels((128, 128))) - 1 / 9) < 0.004


def test_smoothed_white_noise_peak_density_matches_the_gaussian_field_value():
    """Bond & Efstathiou (1987): a 2-D Gaussian field has sigma_2^2 / (8 sqrt(3) pi sigma_1^2)
    maxima per unit area; white noise smoothed by a Gaussian of s pixels has sigma_2^2 /
    sigma_1^2 = 2 / s^2, i.e. 1 / (4 sqrt(3) pi s^2) peaks per pixel. Measured: the pixel grid
    finds 0.95-1.01 of it at s = 2-4; 16 fields of 128^2 hold ~750 peaks at s = 4 (sampling
    ~4%)."""
    rng = np.random.default_rng(1)
    s = 4.0
    x = rng.standard_normal((16, 128, 128))
    found = sum(h.size for h in stats.peak_heights(x, sigma=s, periodic=True)) / x.size
    analytic = 1 / (4 * np.sqrt(3) * np.pi * s**2)
    assert found / analytic == pytest.approx(1.0, abs=0.1)
    # the peak density scales as 1 / s^2
    found2 = sum(h.size for h in stats.peak_heights(x, sigma=2 * s, periodic=True)) / x.size
    assert found / found2 == pytest.approx(4.0, rel=0.2)


def test_a_flat_top_counts_once_and_a_flat_minimum_never():
    field = np.zeros((9, 9))
    field[4, 4] = field[4, 5] = 3.0  # two equal counts side by side
    assert stats.peak_mask(field[None]).sum() == 1
    field = np.ones((9, 9))
    field[4, 4] = 0.0
    assert stats.peak_mask(field[None]).sum() == 0
    field[1:8, 1:8] = 0.0  # an empty region inside a rim
    assert stats.peak_mask(field[None]).sum() == 0


def test_peak_counts_bins_by_reference_deciles():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 64, 64))
    heights = stats.peak_heights(x, sigma=1.0)
    edges = stats.peak_bin_edges(heights, 10)
    counts = stats.peak_counts(heights, edges)
    assert counts.shape == (6, 10)
    assert counts.sum() == sum(h.size for h in heights)
    np.testing.assert_allclose(counts.sum(axis=0) / counts.sum(), 0.1, atol=0.002)
    assert stats.peak_bin_edges([np.zeros(0)], 10).size == 0  # no peaks: one bin


def _fields(rng, n, size=32, smooth=0.15):
    white = rng.normal(size=(n, size, size))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    g = np.fft.ifft2(np.fft.fft2(white) * np.exp(-((f / smooth) ** 2))).real
    return np.exp(0.8 * g / g.std())


def test_peak_chisq_is_about_one_for_one_population_and_grows_for_another():
    rng = np.random.default_rng(3)
    val = _fields(rng, 64)
    assert stats.peak_chisq_per_bin(val, val) == 0.0
    same = [stats.peak_chisq_per_bin(val, _fields(rng, 64)) for _ in range(3)]
    assert 0.2 < np.median(same) < 2.5
    smoother = stats.peak_chisq_per_bin(val, _fields(rng, 64, smooth=0.08))  # fewer peaks
    assert smoother > 10 * max(same)
    louder = stats.peak_chisq_per_bin(val, 1.5 * _fields(rng, 64))  # heights in wrong bins
    assert louder > 10 * max(same)
    poisson = stats.peak_chisq_per_bin(val[:1], val[1:2], errors="poisson")
    assert np.isfinite(poisson) and poisson > 0


def test_peak_chisq_invariances():
    rng = np.random.default_rng(4)
    val, gen = _fields(rng, 8), _fields(rng, 8)
    base = stats.peak_chisq_per_bin(val, gen)
    # a common affine change of units (the bins are the reference's quantiles)
    assert stats.peak_chisq_per_bin(3.0 * val + 7.0, 3.0 * gen + 7.0) == pytest.approx(base)
    # the order of the images, and rotating or transposing every image of both sets
    assert stats.peak_chisq_per_bin(val[::-1], gen[::-1]) == pytest.approx(base)
    rot = stats.peak_chisq_per_bin(np.rot90(val, axes=(1, 2)), np.rot90(gen, axes=(1, 2)))
    assert rot == pytest.approx(base)
    assert stats.peak_chisq_per_bin(val.transpose(0, 2, 1), gen.transpose(0, 2, 1)) == (
        pytest.approx(base))
    # unsmoothed, any increasing map of both sets leaves the peaks and their ranks unchanged
    raw = stats.peak_chisq_per_bin(val, gen, sigma=0.0)
    assert stats.peak_chisq_per_bin(np.log(val), np.log(gen), sigma=0.0) == pytest.approx(raw)
    # (n, H, W, 1) input
    assert stats.peak_chisq_per_bin(val[..., None], gen[..., None]) == pytest.approx(base)


def test_peak_statistics_refuse_bad_input():
    x = np.ones((3, 8, 8))
    with pytest.raises(UserError, match="at least 2 images"):
        stats.peak_chisq_per_bin(x[:1], x)
    with pytest.raises(UserError, match="errors"):
        stats.peak_chisq_per_bin(x, x, errors="gauss")
    with pytest.raises(UserError, match="3 x 3"):
        stats.peak_chisq_per_bin(np.ones((3, 2, 8)), x)
    with pytest.raises(UserError, match="sigma"):
        stats.smooth_fields(x, -1.0)
