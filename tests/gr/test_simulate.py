"""Physics of the stand-in GR/Newton pairs: linear limits, the horizon term, second order, files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError
from exagan_tf.gr import simulate as sim

OM = 0.3


def _gaussian(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n, n))
    k = np.fft.fftfreq(n)
    kk = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    field = np.fft.ifftn(np.fft.fftn(x) * np.exp(-((kk / 0.2) ** 2))).real
    return field / field.std()


def test_conformal_hubble_einstein_de_sitter():
    a = np.array([0.01, 0.5, 1.0])
    assert np.allclose(sim.conformal_hubble(a, 1.0), a**-0.5 / 2997.92458, rtol=1e-12)
    # LambdaCDM today: H = H0/c
    assert np.isclose(sim.conformal_hubble(1.0, 0.3), 1 / 2997.92458)


def test_growth_factor_phi():
    assert np.isclose(sim.growth_factor_phi(0.0, OM), 1.0)
    assert np.allclose(sim.growth_factor_phi([0.0, 1.0, 10.0], 1.0), 1.0)  # EdS: D = a
    # Lambda slows growth: D_phi(z=10) > D_phi(0) = 1 (phi decays at late times)
    assert 1.2 < float(sim.growth_factor_phi(10.0, 0.3)) < 1.4


def test_newtonian_potential_single_mode():
    n, box, a = 16, 1000.0, 0.5
    x = np.arange(n) * box / n
    k = 2 * np.pi * 3 / box
    delta = 1e-3 * np.cos(k * x)[:, None, None] * np.ones((n, n, n))
    phi = sim.newtonian_potential(delta, box, a, OM)
    expected = -1.5 * OM / (a * 2997.92458**2) * delta / k**2
    assert np.allclose(phi, expected, rtol=1e-10, atol=1e-20)


def test_gr_linear_limit_is_the_horizon_filter():
    n, box, a = 16, 5120.0, 0.5
    delta = 1e-9 * _gaussian(n)  # tiny amplitude: second order negligible
    phi_n = sim.newtonian_potential(delta, box, a, OM)
    phi_gr = sim.relativistic_potential(delta, box, a, OM, density_gauge="poisson")
    hc, f = sim.conformal_hubble(a, OM), nbody.growth_rate(a, OM)
    kf = 2 * np.pi / box
    kx = np.fft.fftfreq(n, 1 / n)[:, None, None] * kf
    kz = np.fft.rfftfreq(n, 1 / n)[None, None, :] * kf
    k2 = kx**2 + kx.reshape(1, n, 1) ** 2 + kz**2
    k2[0, 0, 0] = 1.0
    ratio = k2 / (k2 + 3 * f * hc**2)
    ratio[0, 0, 0] = 0.0
    expected = np.fft.irfftn(np.fft.rfftn(phi_n) * ratio, s=phi_n.shape)
    assert np.allclose(phi_gr, expected, rtol=1e-6, atol=1e-6 * np.abs(phi_n).max())
    # at the fundamental of the 5120 Mpc/h box at z = 1 the correction is 14 %
    assert 0.80 < kf**2 / (kf**2 + 3 * f * hc**2) < 0.90


def test_gr_equals_newton_far_inside_the_horizon():
    n, box, a = 16, 50.0, 0.5  # k >= 0.13 h/Mpc >> H = 3e-4 h/Mpc
    delta = 1e-9 * _gaussian(n, 1)
    phi_n = sim.newtonian_potential(delta, box, a, OM)
    phi_gr = sim.relativistic_potential(delta, box, a, OM, density_gauge="poisson")
    assert np.max(np.abs(phi_gr - phi_n)) < 1e-4 * np.max(np.abs(phi_n))


def test_nbody_gauge_linear_parts_agree_exactly():
    delta = 1e-9 * _gaussian(16, 2)
    phi_n = sim.newtonian_potential(delta, 5120.0, 0.5, OM)
    phi1, _ = sim.relativistic_potential(
        delta, 5120.0, 0.5, OM, density_gauge="nbody", return_parts=True
    )
    assert np.allclose(phi1, phi_n, rtol=1e-12, atol=1e-12 * np.abs(phi_n).max())
    # the default: a GR/Newton pair differs by the second-order terms only
    assert sim.PairOptions().density_gauge == "nbody"
    linear = sim.simulate_pair(
        3, sim.PairOptions(ngrid=8, nsteps=4, difference=False, second_order=False)
    )
    assert np.array_equal(linear["gr"], linear["newton"])


@pytest.mark.parametrize("gauge", ["poisson", "nbody"])
def test_second_order_single_mode_matches_the_analytic_solution(gauge):
    n, box, a = 32, 5120.0, 0.5
    x = np.arange(n) * box / n
    k = 2 * np.pi * 2 / box
    delta = 1e-2 * np.cos(k * x)[:, None, None] * np.ones((n, n, n))
    phi1, phi2 = sim.relativistic_potential(
        delta, box, a, OM, density_gauge=gauge, return_parts=True
    )
    hc, f = float(sim.conformal_hubble(a, OM)), float(nbody.growth_rate(a, OM))
    m1, m2 = 3 * f * hc**2, 3 * (2 * f - 1) * hc**2
    # nbody: delta_P = delta (1 + m1 / k^2) makes phi1 the Newtonian -S / k^2
    mass = m1 if gauge == "poisson" else 0.0
    source = sim.poisson_source(1e-2, a, OM)
    amp = -source / (k**2 + mass)  # phi1 = amp cos(kx)
    assert np.allclose(phi1[:, 0, 0], amp * np.cos(k * x), rtol=1e-9)
    # -4 phi1 S - 1.5 |grad phi1|^2 with S = source cos(kx): cos(2kx) coefficient
    coeff = -2 * source * amp + 0.75 * k**2 * amp**2
    expected = -coeff * np.cos(2 * k * x) / (4 * k**2 + m2)
    assert np.allclose(phi2[:, 0, 0], expected, rtol=1e-8, atol=1e-8 * abs(expected).max())


def test_second_order_relative_size_grows_as_sqrt_of_amplitude():
    base = _gaussian(16, 3)
    ratios = []
    for amplification in (1.0, 100.0, 1e4):
        delta = 0.01 * np.sqrt(amplification) * base
        phi1, phi2 = sim.relativistic_potential(delta, 5120.0, 0.5, OM, return_parts=True)
        ratios.append(np.linalg.norm(phi2) / np.linalg.norm(phi1))
    assert np.allclose(np.diff(np.log10(ratios)), 1.0, rtol=1e-9)  # x100 in A_s -> x10


def test_default_pair_differs_by_second_order_scaling_as_sqrt_amplitude():
    rel = []
    for amplification in (1.0, 100.0, 1e4):
        opts = sim.PairOptions(
            ngrid=16,
            nsteps=6,
            amplification=amplification,
            difference=False,
            redshifts=sim.REDSHIFTS,
        )
        pair = sim.simulate_pair(3, opts)
        assert pair["gr"].shape == (6, 16, 16, 16)
        rel.append(
            np.std(pair["gr"] - pair["newton"], axis=(1, 2, 3))
            / np.std(pair["newton"], axis=(1, 2, 3))
        )
    rel = np.array(rel)
    # fiducial: GR and Newton agree to ~1e-4 at every redshift (the hard case)
    assert np.all(rel[0] < 3e-4) and np.all(rel[0] > 5e-5)
    # x100 in A_s -> x10 in the relative size of the second-order part (phi ~ A_s^(1/2)),
    # up to the non-linear growth of the density at x1e4
    assert np.allclose(rel[1] / rel[0], 10.0, rtol=0.05)
    assert np.allclose(rel[2] / rel[1], 10.0, rtol=0.15)


def test_pair_amplified_separates_more_and_difference_cancels_linear_growth():
    opts = sim.PairOptions(ngrid=16, nsteps=8, density_gauge="nbody", redshifts=(10.0, 1.0))
    fid = sim.simulate_pair(3, opts)
    again = sim.simulate_pair(3, opts)
    assert fid["gr"].shape == (1, 16, 16, 16) and fid["gr"].dtype == np.float32
    assert np.array_equal(fid["gr"], again["gr"])  # one seed, one pair
    amp = sim.simulate_pair(
        3, sim.PairOptions(ngrid=16, nsteps=8, density_gauge="nbody", amplification=1e4)
    )
    rel = [np.std(p["gr"] - p["newton"]) / np.std(p["newton"]) for p in (fid, amp)]
    assert rel[1] > 10 * rel[0]
    # growth-normalised difference: the linear potential cancels, leaving a small residual
    single = sim.simulate_pair(
        3, sim.PairOptions(ngrid=16, nsteps=8, difference=False, redshifts=(1.0,))
    )
    phi1 = single["newton"][0] / sim.growth_factor_phi(1.0, opts.cosmology.omega_m)
    assert np.std(fid["newton"]) < 0.1 * np.std(phi1)


def test_write_dataset_layout_and_standardisation(tmp_path):
    opts = sim.PairOptions(ngrid=8, nsteps=4, redshifts=(10.0, 1.0), difference=False)
    attrs = sim.write_dataset(tmp_path / "a.h5", [0, 1, 2], opts)
    raw = sim.write_dataset(tmp_path / "b.h5", [0, 1, 2], opts, standardise=False)
    assert np.allclose(attrs["mean"], raw["mean"]) and np.allclose(attrs["std"], raw["std"])
    with h5py.File(tmp_path / "a.h5") as f, h5py.File(tmp_path / "b.h5") as g:
        assert list(f["seeds"][()]) == [0, 1, 2]
        cubes = np.stack([f[sim.cube_name(t, s)][()] for s in range(3) for t in sim.THEORIES])
        raws = np.stack([g[sim.cube_name(t, s)][()] for s in range(3) for t in sim.THEORIES])
        assert cubes.shape == (6, 2, 8, 8, 8)
        assert np.allclose(cubes.mean(axis=(0, 2, 3, 4)), 0.0, atol=1e-5)
        assert np.allclose(cubes.std(axis=(0, 2, 3, 4)), 1.0, atol=1e-5)
        restored = (
            cubes * raw["std"][None, :, None, None, None] + raw["mean"][None, :, None, None, None]
        )
        assert np.allclose(restored, raws, rtol=1e-4, atol=1e-4 * np.abs(raws).max())
        assert not g.attrs["standardised"] and f.attrs["standardised"]
    with pytest.raises(UserError, match="already exists"):
        sim.write_dataset(tmp_path / "a.h5", [0], opts)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "2", "--ngrid", "7"], "ngrid=7"),
        (["--seeds", "2", "--input", "difference", "--redshifts", "1"], "two redshifts"),
        (["--seeds", "2", "--redshifts", "150", "--input", "redshifts"], "z_init"),
        (["--seeds", "0"], "--seeds=0"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        sim.main(["--out", str(tmp_path / "x.h5"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_cli_writes_file(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    assert sim.main(["--out", str(out), "--seeds", "2", "--ngrid", "8", "--nsteps", "4"]) == 0
    with h5py.File(out) as f:
        assert f["gr_seed0001"].shape == (1, 8, 8, 8)
        assert f.attrs["channels"][0].startswith("phi(z=10)/D_phi(10)")


def test_cli_redshifts_default_is_the_originals_six_outputs(tmp_path):
    out = tmp_path / "z6.h5"
    argv = ["--out", str(out), "--seeds", "1", "--ngrid", "8", "--nsteps", "6"]
    assert sim.main([*argv, "--input", "redshifts"]) == 0
    with h5py.File(out) as f:
        assert f["gr_seed0000"].shape == (6, 8, 8, 8)
        assert list(f.attrs["redshifts"]) == [20.0, 15.0, 10.0, 5.0, 1.0, 0.0]
        assert f.attrs["density_gauge"] == "nbody"


@pytest.mark.slow
def test_sigma8_fiducial_matches_camb():
    camb = pytest.importorskip("camb")
    c = sim.Cosmology()
    pars = camb.set_params(
        H0=100 * c.h,
        ombh2=c.omega_b_h2,
        omch2=c.omega_cdm_h2,
        As=c.A_s,
        ns=c.n_s,
        mnu=0.0,
        WantTransfer=True,
    )
    pars.set_matter_power(redshifts=[0.0], kmax=2.0)
    assert np.isclose(camb.get_results(pars).get_sigma8_0(), sim.SIGMA8_FIDUCIAL, rtol=1e-3)
