"""Tests of exagan_tf.core.stats: the batched spectra equal the original per-image method, and
every statistic gives the known answer on fields whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from exagan_tf.core import stats
from exagan_tf.errors import UserError


def correlated_lognormal(rng, n, size=32, smooth=0.1):
    """Positive, spatially correlated, heavy-tailed fields (mean about 1), like counts maps."""
    white = rng.normal(size=(n, size, size))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    g = np.fft.ifft2(np.fft.fft2(white) * np.exp(-((f / smooth) ** 2))).real
    g /= g.std()
    return np.exp(0.8 * g - 0.32)


def annulus_counts_original(n):
    """Pixels per integer radius around the original's centre, counted independently."""
    c = (n - 1) / 2
    y, x = np.indices((n, n))
    return np.bincount(np.floor(np.hypot(x - c, y - c)).astype(int).ravel())


# ------------------------------------------------------------------ original power spectrum
@pytest.mark.parametrize("size", [128, 31, 16])
def test_batched_spectrum_equals_original_per_image(size):
    rng = np.random.default_rng(size)
    images = rng.lognormal(sigma=1.0, size=(4, size, size)) * 3.0
    k, pk = stats.power_spectrum_2d(images, mean=stats.ORIGINAL_GLOBAL_MEAN)
    ref = np.stack([stats.power_spectrum_original(im) for im in images])
    assert pk.shape == ref.shape == (4, k.size)
    np.testing.assert_allclose(pk, ref, rtol=1e-10, atol=0)
    # the same with the batch's own mean and without the overdensity transform
    mu = images.mean()
    _, pk_mu = stats.power_spectrum_2d(images)
    ref_mu = np.stack([stats.power_spectrum_original(im, mean=mu) for im in images])
    np.testing.assert_allclose(pk_mu, ref_mu, rtol=1e-10, atol=0)
    _, raw = stats.power_spectrum_2d(images, subtract_mean=False)
    ref_raw = np.stack([stats.power_spectrum_original(im, subtract_mean=False) for im in images])
    np.testing.assert_allclose(raw, ref_raw, rtol=1e-10, atol=0)


def test_original_bins_for_128():
    k, pk = stats.power_spectrum_2d(np.ones((2, 128, 128)) + np.eye(128))
    # the original drops the r < 1 annulus (with the zero frequency) and the last one (r = 89)
    np.testing.assert_array_equal(k, np.arange(1, 89))
    assert pk.shape == (2, 88)


def test_channel_axes_and_float32_accepted():
    rng = np.random.default_rng(1)
    x = rng.lognormal(size=(3, 16, 16))
    _, ref = stats.power_spectrum_2d(x)
    for shaped in (x[..., None], x[:, None]):
        np.testing.assert_allclose(stats.power_spectrum_2d(shaped)[1], ref, rtol=1e-12)
    counts = np.rint(x * 10).astype(np.int16)  # CosmoFlow stores int16 counts
    np.testing.assert_allclose(
        stats.power_spectrum_2d(counts)[1],
        stats.power_spectrum_2d(counts.astype(np.float64))[1],
        rtol=1e-12,
    )
    x32 = x.astype(np.float32)  # computed in float64 all the same
    np.testing.assert_allclose(
        stats.power_spectrum_2d(x32)[1],
        stats.power_spectrum_2d(x32.astype(np.float64))[1],
        rtol=1e-12,
    )
    _, single = stats.power_spectrum_2d(x[0], mean=x.mean())
    np.testing.assert_allclose(single[0], ref[0], rtol=1e-12)


def test_cosine_lands_in_the_two_annuli_of_the_half_pixel_centre():
    n, m = 64, 5
    x = np.arange(n)
    image = 1.0 + 0.5 * np.cos(2 * np.pi * m * x / n)[None, :].repeat(n, axis=0)
    k, pk = stats.power_spectrum_2d(image)  # mean is exactly 1
    counts = annulus_counts_original(n)
    # delta = 0.5 cos -> |F|^2 = (0.5 n^2 / 2)^2 at +-m; the +m partner is at radius m + 1/2
    # from the centre, the -m partner at m - 1/2, so they fall in annuli m and m - 1
    peak = (0.25 * n * n) ** 2
    expected = np.zeros_like(k)
    expected[k == m] = peak / counts[m]
    expected[k == m - 1] = peak / counts[m - 1]
    np.testing.assert_allclose(pk[0], expected, rtol=1e-12, atol=1e-12 * peak)


def test_white_noise_spectrum_is_flat_at_n2_sigma2_over_mu2():
    rng = np.random.default_rng(7)
    n, mu, sigma = 32, 2.0, 0.5
    images = mu + sigma * rng.normal(size=(400, n, n))
    _, pk = stats.power_spectrum_2d(images, mean=mu)
    level = n * n * (sigma / mu) ** 2  # unnormalised FFT: E|F|^2 = N_pix var(delta)
    mean_pk = pk.mean(axis=0)
    assert abs(mean_pk.mean() / level - 1) < 0.01
    # every annulus flat to within its sampling noise (>= 4 pixels x 400 images)
    assert np.all(np.abs(mean_pk / level - 1) < 0.12)


def test_non_square_and_bad_shapes_are_user_errors():
    with pytest.raises(UserError, match="not square"):
        stats.power_spectrum_2d(np.ones((2, 16, 20)))
    with pytest.raises(UserError, match="channel"):
        stats.power_spectrum_2d(np.ones((2, 3, 16, 16)))
    with pytest.raises(UserError):
        stats.power_spectrum_2d(np.ones(16))
    with pytest.raises(UserError, match="mean"):
        stats.power_spectrum_2d(np.zeros((1, 8, 8)))


# --------------------------------------------------------------------------- chi-squares
def test_chisq_hist_known_value():
    # 100 pixels, values 0..24 four times each: 25 bins of width 0.96, one value per bin
    val = np.repeat(np.arange(25.0), 4).reshape(1, 10, 10)
    gen = val.copy()
    gen[gen == 0] = 1.0  # bin 0: 4 -> 0, bin 1: 4 -> 8
    gen[gen == 24] = 21.0  # changes only the last five bins, which are left out
    assert stats.chisq_hist(val, gen) == pytest.approx((4 - 0) ** 2 / 4 + (4 - 8) ** 2 / 4)
    assert stats.chisq_hist(val, val) == 0.0
    # the generated set is scaled to the validation size: two copies give the same answer
    assert stats.chisq_hist(val, np.concatenate([gen, gen])) == pytest.approx(8.0)
    # with all bins kept the tail differences count too: bin 21: 4 -> 8, bin 24: 4 -> 0
    assert stats.chisq_hist(val, gen, skip_last=0) == pytest.approx(8.0 + 4.0 + 4.0)


def test_pixel_histogram_matches_numpy_and_uses_validation_edges():
    rng = np.random.default_rng(3)
    x = rng.poisson(2.0, size=(5, 8, 8))
    edges, counts = stats.pixel_histogram(x)
    ref_counts, ref_edges = np.histogram(x.ravel(), bins=25)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(edges, ref_edges)
    assert counts.sum() == x.size and edges[0] == x.min() and edges[-1] == x.max()


def test_histogram_in_given_edges_equals_numpy_exactly():
    rng = np.random.default_rng(15)
    x = rng.lognormal(size=(6, 16, 16))
    edges = np.linspace(0.2, 5.0, 26)
    x[0, :5, 0] = edges[[0, 3, 7, 24, 25]]  # values exactly on edges, the last one included
    x[1, 0, 0] = np.nan
    x[1, 0, 1] = np.inf
    for data in (x, x.astype(np.float32)):
        _, counts = stats.pixel_histogram(data, bins=edges)
        np.testing.assert_array_equal(counts, np.histogram(data.ravel(), bins=edges)[0])


def test_per_image_counts_sum_to_the_set_histogram():
    rng = np.random.default_rng(16)
    x = rng.lognormal(size=(70, 12, 12))  # more than one chunk of images
    edges_t = np.linspace(0.0, np.log1p(x.max()), 11)
    per_image = stats._per_image_counts(x, edges_t, np.log1p)
    assert per_image.shape == (70, 10)
    assert per_image.sum() == x.size  # nothing lost, the maximum lands in the last bin
    ref = np.stack([np.histogram(np.log1p(im), bins=edges_t)[0] for im in x])
    assert np.abs(per_image - ref).sum() <= 2  # float32 binning may move a value on an edge


def test_statistics_leave_their_inputs_untouched():
    rng = np.random.default_rng(17)
    val = rng.lognormal(size=(4, 16, 16)).astype(np.float32)
    gen = rng.lognormal(size=(4, 16, 16)).astype(np.float32)
    val[0, 0, 1] = -2.0  # a value below -1 forces the linear (in-place) binning path
    copies = val.copy(), gen.copy()
    stats.summary_statistics(val, gen)
    stats.hist_chisq_per_bin(val, gen, log=False)
    stats.cross_correlation_coefficient(val, gen)
    np.testing.assert_array_equal(val, copies[0])
    np.testing.assert_array_equal(gen, copies[1])


def test_chisq_pspect_zero_for_identical_and_known_for_scaled():
    rng = np.random.default_rng(4)
    val = correlated_lognormal(rng, 8)
    assert stats.chisq_pspect(val, val) == 0.0
    # gen = 1 + 2 (val - 1) with mean 1 has delta doubled: P_gen = 4 P_val (same mu)
    mu = val.mean()
    gen = mu + 2.0 * (val - mu)
    _, pv = stats.power_spectrum_2d(val)
    expected = np.sum((4 * pv.mean(0) - pv.mean(0)) ** 2 / pv.mean(0))
    assert stats.chisq_pspect(val, gen) == pytest.approx(expected, rel=1e-10)
    assert stats.pk_mean_fractional_error(pv, 4 * pv) == pytest.approx(3.0)


def test_pk_mean_fractional_error_excludes_k0_and_is_dimensionless():
    val = np.array([[10.0, 1.0, 2.0, 4.0], [30.0, 3.0, 2.0, 4.0]])  # means 20, 2, 2, 4
    gen = np.array([[0.0, 2.2, 1.8, 4.4]])
    k = np.array([0.0, 1.0, 2.0, 3.0])
    assert stats.pk_mean_fractional_error(val, gen, k) == pytest.approx(0.1)
    assert stats.pk_mean_fractional_error(val, gen) == pytest.approx((1 + 0.3) / 4)


# ------------------------------------------------------------------------ pixel KS
def test_pixel_ks_identical_shifted_and_ties():
    rng = np.random.default_rng(5)
    val = rng.normal(size=(10, 32, 32))
    assert stats.pixel_ks(val, val) == 0.0
    shifted = rng.normal(loc=0.5, size=(10, 32, 32))
    d = stats.pixel_ks(val, shifted)
    assert abs(d - (2 * scipy.stats.norm.cdf(0.25) - 1)) < 0.03 and d > 0.15
    assert d == pytest.approx(scipy.stats.ks_2samp(val.ravel(), shifted.ravel()).statistic)
    # integer counts with ties: half zeros/half ones against all ones -> D = 1/2 exactly
    counts = np.zeros((2, 4, 4))
    counts[1] = 1.0
    assert stats.pixel_ks(counts, np.ones((3, 4, 4))) == 0.5
    poisson_a = rng.poisson(1.0, size=(4, 16, 16)).astype(float)
    poisson_b = rng.poisson(1.3, size=(4, 16, 16)).astype(float)
    assert stats.pixel_ks(poisson_a, poisson_b) == pytest.approx(
        scipy.stats.ks_2samp(poisson_a.ravel(), poisson_b.ravel()).statistic
    )


def test_pixel_ks_subsamples_deterministically():
    rng = np.random.default_rng(6)
    val = rng.normal(size=(20, 32, 32))
    gen = rng.normal(loc=0.3, size=(20, 32, 32))
    exact = stats.pixel_ks(val, gen)
    first = stats.pixel_ks(val, gen, max_pixels=5000)
    assert first == stats.pixel_ks(val, gen, max_pixels=5000)
    assert abs(first - exact) < 3 / np.sqrt(5000)


# --------------------------------------------------------------------- per-bin chi-square
def test_hist_chisq_per_bin_is_about_one_for_independent_draws():
    rng = np.random.default_rng(8)
    sample, poisson = [], []
    for _ in range(40):
        a = correlated_lognormal(rng, 24)
        b = correlated_lognormal(rng, 24)
        sample.append(stats.hist_chisq_per_bin(a, b))
        poisson.append(stats.hist_chisq_per_bin(a, b, errors="poisson"))
    # about 0.9 on average over seeds: for skewed pixel distributions a set's sample mean and
    # variance are correlated, which pulls the ratio a little below 1
    assert 0.7 < np.mean(sample) < 1.3
    # Poisson errors ignore the pixel correlations and so overstate the disagreement
    assert np.mean(poisson) > 3 * np.mean(sample)


def test_hist_chisq_per_bin_poisson_about_one_for_iid_pixels_and_large_for_shift():
    rng = np.random.default_rng(9)
    vals = [
        stats.hist_chisq_per_bin(
            rng.lognormal(size=(8, 32, 32)), rng.lognormal(size=(8, 32, 32)), errors="poisson"
        )
        for _ in range(20)
    ]
    assert 0.8 < np.mean(vals) < 1.2
    a = rng.lognormal(size=(8, 16, 16))
    assert stats.hist_chisq_per_bin(a, a) == 0.0
    assert stats.hist_chisq_per_bin(a, 2.0 * rng.lognormal(size=(8, 16, 16))) > 10
    with pytest.raises(UserError, match="poisson"):
        stats.hist_chisq_per_bin(a[:1], a)


# ------------------------------------------------------------------- general cross spectra
def test_cross_spectrum_cosine_all_power_in_its_bin():
    n, m = 64, 5
    x = np.arange(n)[None, :].repeat(n, axis=0)
    field = np.cos(2 * np.pi * m * x / n)
    k, pk = stats.cross_power_spectrum_2d(field)
    full_k = np.hypot(*np.meshgrid(np.fft.fftfreq(n, 1 / n), np.fft.fftfreq(n, 1 / n)))
    modes = np.count_nonzero((full_k >= m - 0.5) & (full_k < m + 0.5))
    target = np.argmin(np.abs(k - m))
    # two modes (+-m) of |F|^2 / N^2 = (N^2 / 2)^2 / N^2 each, averaged over the annulus
    assert pk[0, target] == pytest.approx(2 * (n * n / 2) ** 2 / n**2 / modes, rel=1e-12)
    others = np.delete(pk[0], target)
    assert np.all(np.abs(others) < 1e-20)


def test_cross_spectrum_white_noise_level_and_box_units():
    rng = np.random.default_rng(10)
    n, sigma, box = 32, 1.5, 50.0
    w = sigma * rng.normal(size=(300, n, n))
    k, pk = stats.cross_power_spectrum_2d(w)
    assert k[0] == pytest.approx(1.0, abs=0.25) and k[-1] == pytest.approx(n / 2, abs=0.3)
    assert abs(pk.mean() / sigma**2 - 1) < 0.01
    assert np.all(np.abs(pk.mean(axis=0) / sigma**2 - 1) < 0.15)
    kp, pp = stats.cross_power_spectrum_2d(w, box_size=box)
    np.testing.assert_allclose(kp, k * 2 * np.pi / box, rtol=1e-12)
    np.testing.assert_allclose(pp, pk * (box / n) ** 2, rtol=1e-12)
    kl, pl = stats.cross_power_spectrum_2d(w, log_bins=True, nbins=8)
    assert kl.size <= 8 and np.all(np.diff(np.log(kl)) > 0)
    assert abs(pl.mean() / sigma**2 - 1) < 0.05


def test_cross_of_a_field_with_itself_is_the_auto_spectrum():
    rng = np.random.default_rng(11)
    a = correlated_lognormal(rng, 5, size=24)
    _, auto = stats.cross_power_spectrum_2d(a)
    _, cross = stats.cross_power_spectrum_2d(a, a.copy())
    np.testing.assert_allclose(cross, auto, rtol=1e-12)
    # rectangular fields work and are symmetric in a, b
    b = rng.normal(size=(5, 24, 40))
    c = rng.normal(size=(5, 24, 40))
    np.testing.assert_allclose(
        stats.cross_power_spectrum_2d(b, c)[1], stats.cross_power_spectrum_2d(c, b)[1]
    )
    with pytest.raises(UserError, match="differs"):
        stats.cross_power_spectrum_2d(b, a)


def test_cross_correlation_coefficient_one_for_identical_zero_for_independent():
    rng = np.random.default_rng(12)
    a = correlated_lognormal(rng, 50)
    k, r = stats.cross_correlation_coefficient(a, 3.0 * a)
    assert r.shape == (50, k.size)
    np.testing.assert_allclose(r, 1.0, rtol=1e-12)
    b = rng.normal(size=a.shape)
    _, r_ind = stats.cross_correlation_coefficient(a, b, average=True)
    assert r_ind.shape == k.shape
    assert np.all(np.abs(r_ind) < 0.25) and abs(r_ind.mean()) < 0.05
    _, r_neg = stats.cross_correlation_coefficient(a, -a, average=True)
    np.testing.assert_allclose(r_neg, -1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- summary
def test_summary_statistics_zero_for_identical_and_ordered_for_worse():
    rng = np.random.default_rng(13)
    val = correlated_lognormal(rng, 16)
    same = stats.summary_statistics(val, val)
    assert set(same) == {"chisq", "chisq_pspect", "pk_frac_err", "pk_frac_err_mean", "pixel_ks",
                         "hist_chisq_dof", "peak_chisq_dof"}
    assert all(v == 0.0 for v in same.values())
    good = stats.summary_statistics(val, correlated_lognormal(rng, 16))
    bad = stats.summary_statistics(val, 2.0 * correlated_lognormal(rng, 16))
    assert all(isinstance(v, float) for v in good.values())
    for key in good:
        assert bad[key] > good[key], key
    assert good["hist_chisq_dof"] < 3 and good["pk_frac_err"] < 0.3


def test_summary_statistics_survives_non_finite_generated_pixels():
    rng = np.random.default_rng(14)
    val = correlated_lognormal(rng, 4, size=16)
    gen = correlated_lognormal(rng, 4, size=16)
    gen[0, 0, 0] = np.inf  # a saturated tanh after the inverse transform
    out = stats.summary_statistics(val, gen)
    assert not np.isfinite(out["chisq_pspect"]) and not np.isfinite(out["pk_frac_err"])
    assert not np.isfinite(out["pk_frac_err_mean"])
    assert np.isfinite(out["chisq"])
    assert np.isfinite(out["pixel_ks"]) and np.isfinite(out["hist_chisq_dof"])
    assert np.isfinite(out["peak_chisq_dof"])


def test_geometric_spectrum_is_robust_to_one_halo_core_image():
    """One image with a 2000-count voxel dominates the arithmetic-mean P(k) of a set but barely
    moves the geometric mean: the reason pk_frac_err uses it."""
    rng = np.random.default_rng(21)
    val = rng.poisson(correlated_lognormal(rng, 64, size=32)).astype(float)  # counts: shot noise
    gen = val.copy()
    gen[0, 5, 5] = 2000.0
    k, pv = stats.power_spectrum_2d(val, mean=val.mean())
    _, pg = stats.power_spectrum_2d(gen, mean=val.mean())
    assert stats.pk_mean_fractional_error(pv, pg, k, average="mean") > 1.0
    assert stats.pk_mean_fractional_error(pv, pg, k, average="geometric") < 0.15
    # a constant image has no power at all: geometric average stays finite and scores 1
    flat = np.ones((4, 32, 32))
    _, pf = stats.power_spectrum_2d(flat, mean=val.mean())
    assert stats.pk_mean_fractional_error(pv, pf, k, average="geometric") == pytest.approx(1.0)
