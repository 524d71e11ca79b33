"""The flat-sky lensed CMB simulator against theory."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy import ndimage

from exagan_tf.cmb import simulate as sim
from exagan_tf.cmb import spectra as sp
from exagan_tf.errors import UserError

PARAMS = sim.SimParams(npix=64, ndeg=5.0, pad=2, r=0.1, beam_arcmin=1.0)


@pytest.fixture(scope="module")
def spec():
    return sim.camb_spectra(PARAMS.lmax, PARAMS.r)


@pytest.fixture(scope="module")
def boxes(spec):
    """Full periodic boxes (128^2 over 10 deg), lensed and unlensed from the same seeds."""
    lensed = [sim.simulate_map(sim.map_rng(7, i), PARAMS, spec, full=True) for i in range(24)]
    plain = [
        sim.simulate_map(sim.map_rng(7, i), PARAMS, spec, lens=False, full=True)
        for i in range(24)
    ]
    return lensed, plain


def beam2(spec):
    ell = spec["ell"]
    theta = PARAMS.beam_arcmin * sim.ARCMIN
    return np.exp(-ell * (ell + 1) * theta**2 / (8 * np.log(2)))


def test_camb_spectra_are_physical(spec):
    ell = spec["ell"]
    # EE acoustic peaks of D_ell = ell(ell+1)C/2pi (Planck 2018): ~21 uK^2 at ell ~ 400, the
    # highest ~ 44 uK^2 near ell ~ 1000
    d_ee = ell * (ell + 1) * spec["ee"] / (2 * np.pi)
    peak = 300 + int(np.argmax(d_ee[300:500]))
    assert 370 < peak < 420 and 17 < d_ee[peak] < 26
    top = 200 + int(np.argmax(d_ee[200:2000]))
    assert 940 < top < 1040 and 38 < d_ee[top] < 50
    # kappa: C^kk = [l(l+1)]^2 C^pp / 4, of order 1e-7 at L ~ 100
    assert 3e-8 < spec["kk"][100] < 3e-7
    assert np.allclose(spec["kk"][500], (500 * 501) ** 2 * spec["pp"][500] / 4)
    # tensors: r = 0.1 gives primordial BB of order 1e-2 uK^2 in D_ell at the recombination bump
    d_bb = ell * (ell + 1) * spec["bb"] / (2 * np.pi)
    assert 3e-3 < d_bb[80] < 3e-2
    assert np.all(spec["bb"] >= 0) and spec["bb"][0] == 0


def test_gaussian_fields_match_input_spectra(boxes, spec):
    lensed, _ = boxes
    big = PARAMS.pad * PARAMS.npix
    edges = np.linspace(80, 2000, 7)
    _, modes = sp.band_info(big, PARAMS.pixel_rad, edges)
    n = len(lensed)
    for key, cl in (("e", spec["ee"]), ("k", spec["kk"]), ("b", spec["bb"])):
        maps = np.array([m[key] for m in lensed])
        measured = sp.binned_spectra(maps, None, PARAMS.pixel_rad, edges).mean(0)
        theory = sp.binned_theory(cl, big, PARAMS.pixel_rad, edges)
        ok = theory > 0
        # cosmic variance of the band mean: 2 <C^2> / (modes n) (C varies within a band)
        c2 = sp.binned_theory(np.asarray(cl) ** 2, big, PARAMS.pixel_rad, edges)
        sigma = np.sqrt(2.0 * c2[ok] / (modes[ok] * n))
        z = (measured[ok] - theory[ok]) / sigma
        assert np.all(np.abs(z) < 4), (key, z)
        assert ok.sum() >= (2 if key == "b" else 6)


def test_eb_qu_round_trip_and_sign_convention():
    rng = np.random.default_rng(0)
    pix = PARAMS.pixel_rad
    e, b = rng.standard_normal((2, 3, 32, 32))
    q, u = sim.eb_to_qu(e, b, pix)
    e2, b2 = sim.qu_to_eb(q, u, pix)

    def rotatable(m):  # without the mean and the Nyquist row/column (no E/B there)
        mk = np.fft.rfft2(m)
        mk[..., 0, 0] = 0
        mk[..., 16, :] = 0
        mk[..., :, -1] = 0
        return np.fft.irfft2(mk, s=(32, 32))

    assert np.allclose(e2, rotatable(e), atol=1e-10)
    assert np.allclose(b2, rotatable(b), atol=1e-10)
    q2, u2 = sim.eb_to_qu(e2, b2, pix)
    assert np.allclose(q2, q, atol=1e-10) and np.allclose(u2, u, atol=1e-10)
    # pure E plane wave along x is pure Q (+), along the diagonal pure U (+); pure B along x is -U
    x = np.arange(32)
    wave_x = np.cos(2 * np.pi * 3 * x / 32)[None, :] * np.ones((32, 1))
    q, u = sim.eb_to_qu(wave_x, np.zeros_like(wave_x), pix)
    assert np.allclose(q, wave_x, atol=1e-12) and np.allclose(u, 0, atol=1e-12)
    q, u = sim.eb_to_qu(np.zeros_like(wave_x), wave_x, pix)
    assert np.allclose(q, 0, atol=1e-12) and np.allclose(u, wave_x, atol=1e-12)
    diag = np.cos(2 * np.pi * 3 * (x[:, None] + x[None, :]) / 32)
    q, u = sim.eb_to_qu(diag, np.zeros_like(diag), pix)
    assert np.allclose(q, 0, atol=1e-12) and np.allclose(u, diag, atol=1e-12)


def test_deflection_of_a_cosine_potential():
    n, pix = 64, PARAMS.pixel_rad
    ell = 2 * np.pi * 4 / (n * pix)
    x = np.arange(n)[None, :] * pix * np.ones((n, 1))
    phi = 1e-6 * np.cos(ell * x)
    kappa = 0.5 * ell**2 * phi  # kappa = -lap(phi)/2
    dy, dx = sim.kappa_to_deflection(kappa, pix)
    assert np.allclose(dx, -1e-6 * ell * np.sin(ell * x), atol=1e-12 * ell)
    assert np.allclose(dy, 0, atol=1e-15)


def test_lensing_by_a_constant_deflection_is_a_shift():
    rng = np.random.default_rng(1)
    pix = PARAMS.pixel_rad
    m = sim.gaussian_map(rng, np.exp(-np.arange(4000) / 100.0), 64, pix)[0]
    d = (np.full((64, 64), 3 * pix), np.full((64, 64), -2 * pix))
    lensed = sim.lens_maps(m[None], d, pix)[0]
    assert np.allclose(lensed, np.roll(m, (-3, 2), axis=(0, 1)), atol=1e-10)
    # half a pixel on a smooth field: the quintic spline is accurate to ~1e-4 of the rms
    half = sim.lens_maps(m[None], (np.zeros((64, 64)), np.full((64, 64), 0.5 * pix)), pix)[0]
    mk = np.fft.fft2(m)
    kx = np.fft.fftfreq(64)[None, :]
    exact = np.fft.ifft2(mk * np.exp(2j * np.pi * kx * 0.5)).real
    assert np.abs(half - exact).max() < 1e-3 * m.std()


def test_lensing_conserves_the_mean(boxes):
    lensed, plain = boxes
    for key in ("q", "u"):
        rms = np.std([m[key] for m in plain])
        diff = np.array([m1[key].mean() - m0[key].mean() for m1, m0 in zip(lensed, plain)])
        assert np.all(np.abs(diff) < 1e-2 * rms) and np.mean(np.abs(diff)) < 3e-3 * rms
        # a constant polarisation stays constant under any remapping
        const = sim.lens_maps(np.full((1, 16, 16), 5.0), (np.ones((16, 16)) * 1e-4,) * 2, 1e-3)
        assert np.allclose(const, 5.0)


def test_lensing_smooths_ee_peaks_and_creates_bb(spec):
    params = sim.SimParams(npix=64, ndeg=5.0, r=0.0, beam_arcmin=1.0)
    spec0 = sim.camb_spectra(params.lmax, 0.0)
    big, pix = params.pad * params.npix, params.pixel_rad
    lensed = [sim.simulate_map(sim.map_rng(3, i), params, spec0, full=True) for i in range(24)]
    plain = [
        sim.simulate_map(sim.map_rng(3, i), params, spec0, lens=False, full=True)
        for i in range(24)
    ]
    e1, b1 = sim.qu_to_eb(np.array([m["q"] for m in lensed]), np.array([m["u"] for m in lensed]), pix)
    e0, b0 = sim.qu_to_eb(np.array([m["q"] for m in plain]), np.array([m["u"] for m in plain]), pix)
    assert np.abs(b0).max() < 1e-9 * np.abs(e0).max()  # r = 0: no B before lensing
    # BB from lensing E: CAMB's lensed BB within 10% in 300 <= ell < 1500
    edges = np.linspace(300, 1500, 5)
    c_bb = sp.binned_spectra(b1, None, pix, edges).mean(0)
    t_bb = sp.binned_theory(spec0["lensed_bb"] * beam2(spec0), big, pix, edges)
    assert np.all(np.abs(c_bb / t_bb - 1) < 0.1), c_bb / t_bb
    # EE: narrow bands across peaks and troughs; lensing moves power from peaks to troughs
    edges = np.arange(250, 1500, 50.0)
    c1 = sp.binned_spectra(e1, None, pix, edges).mean(0)
    c0 = sp.binned_spectra(e0, None, pix, edges).mean(0)
    theory_ratio = sp.binned_theory(spec0["lensed_ee"], big, pix, edges) / sp.binned_theory(
        spec0["ee"], big, pix, edges
    )
    sim_ratio = c1 / c0
    assert np.corrcoef(sim_ratio, theory_ratio)[0, 1] > 0.8
    assert np.abs(sim_ratio - theory_ratio).max() < 0.06
    # peaks (where CAMB loses > 3% of the power) lose power, troughs (gain > 3%) gain it
    assert np.all(sim_ratio[theory_ratio < 0.97] < 1.0)
    assert np.all(sim_ratio[theory_ratio > 1.03] > 1.0)
    assert (theory_ratio < 0.97).sum() >= 3 and (theory_ratio > 1.03).sum() >= 3


def test_beam_matches_a_gaussian_filter():
    pix = PARAMS.pixel_rad
    delta = np.zeros((64, 64))
    delta[32, 32] = 1.0
    fwhm_pix = 4.0
    beamed = sim.apply_beam(delta, pix, fwhm_pix * PARAMS.pixel_arcmin)
    ref = ndimage.gaussian_filter(delta, fwhm_pix / np.sqrt(8 * np.log(2)), mode="wrap")
    assert np.abs(beamed - ref).max() < 2e-3 * ref.max()
    assert np.isclose(beamed.sum(), 1.0)


def test_noise_sigma():
    # 1 uK-arcmin in temperature -> sqrt(2) uK-arcmin in polarisation, per 2.34' pixel
    assert np.isclose(sim.noise_sigma(1.0, 5 * 60 / 128), np.sqrt(2) / (5 * 60 / 128))
    assert np.isclose(sim.noise_sigma(5.0, 2.0, polarization=False), 2.5)


def test_dataset_file(tmp_path):
    params = sim.SimParams(npix=16, ndeg=2.0, r=0.05)
    path = tmp_path / "maps.h5"
    sim.write_dataset(path, 5, params, seed=3, chunk=2, log=lambda s: None)
    with h5py.File(path) as f:
        maps = f["maps"][()]
        assert maps.shape == (5, 16, 16, 5) and f["maps"].attrs["channels"] == "quekb"
        assert f.attrs["ndeg"] == 2.0 and f.attrs["seed"] == 3 and f.attrs["r"] == 0.05
    # map i depends only on (seed, i), not on the chunking
    again = sim.simulate_maps(2, params, seed=3, start=3)
    assert np.array_equal(maps[3:], again)
    spectra = sim.read_spectra(path)
    assert {"ell", "ee", "bb", "pp", "kk", "lensed_ee", "lensed_bb"} <= set(spectra)
    with pytest.raises(UserError, match="already exists"):
        sim.write_dataset(path, 5, params, seed=3, log=lambda s: None)
    with pytest.raises(UserError, match="npix"):
        sim.SimParams(npix=15).validate()
