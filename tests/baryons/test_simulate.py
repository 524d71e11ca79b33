"""Simulator: N-body agreement, gas scalings, conservation, scatter statistics, files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exagan_tf.baryons import simulate
from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError


def test_snapshots_match_nbody_run_simulation():
    phys = (0.3, 0.8, 0.96, 70.0)
    zs = (0.0, 1.0, 2.0)
    ref = nbody.run_simulation(phys, ngrid=16, box_size=32.0, nsteps=8, seed=3, redshifts=zs,
                               method="eh")
    for iz, z, pos in simulate.evolve_particles(phys, 16, 32.0, zs, nsteps=8, seed=3):
        assert z == zs[iz]
        np.testing.assert_array_equal(nbody.ngp_counts(pos, 16, 32.0), ref.counts[..., iz])


def test_virial_temperature_value_and_self_similar_scaling():
    # by hand: h = 0.7, M = 1e15/h Msun, rho_c = 2.775e11 h^2 Msun/Mpc^3
    h = 0.7
    m = 1e15 / h * 1.98847e33
    rho = 200 * 2.775e11 * h**2 * 1.98847e33 / 3.0857e24**3
    r = (3 * m / (4 * np.pi * rho)) ** (1 / 3)
    kt = 0.59 * 1.6726e-24 * 6.674e-8 * m / (2 * r) / 1.602177e-9
    got = simulate.virial_temperature(1e15, 0.0, 0.3, h)
    assert got == pytest.approx(kt, rel=1e-10)
    assert 7.0 < got < 9.0  # a 1e15 cluster is ~8 keV
    # kT ∝ M^(2/3) E(z)^(2/3)
    assert simulate.virial_temperature(8e14, 0.0, 0.3, h) / simulate.virial_temperature(
        1e14, 0.0, 0.3, h) == pytest.approx(4.0, rel=1e-12)
    e1 = float(simulate.hubble_e(1.0, 0.3))
    assert e1 == pytest.approx(np.sqrt(0.3 * 8 + 0.7))
    ratio = simulate.virial_temperature(1e14, 1.0, 0.3, h) / simulate.virial_temperature(
        1e14, 0.0, 0.3, h)
    assert ratio == pytest.approx(e1 ** (2 / 3), rel=1e-12)


def test_gas_fraction_and_diffuse_temperature():
    model = simulate.GasModel()
    assert simulate.bound_gas_fraction(model.m_c) == pytest.approx(0.5)
    assert simulate.bound_gas_fraction(1e17) > 0.95
    assert simulate.bound_gas_fraction(1e11) < 0.05
    # T = T0 (1 + delta)^(gamma - 1), gamma = 2: linear in 1 + delta
    t = simulate.diffuse_temperature(np.array([0.0, 9.0]))
    assert t[0] == pytest.approx(8.617333e-8 * 1e4)
    assert t[1] / t[0] == pytest.approx(10.0)


def test_scatter_field_unit_variance_and_lognormal_mean():
    rng = np.random.default_rng(0)
    g = simulate.scatter_field(32, 64.0, 2.0, rng)
    assert abs(g.mean()) < 0.1
    assert g.std() == pytest.approx(1.0, abs=0.1)
    s = np.exp(0.3 * g - 0.045)
    assert s.mean() == pytest.approx(1.0, abs=0.03)


def test_fof_links_across_the_periodic_boundary():
    pos = np.array([[0.1, 9.95, 5.0, 5.3, 2.0], [1.0, 1.0, 5.0, 5.0, 8.0],
                    [1.0, 1.0, 5.0, 5.0, 8.0]])
    labels, sizes = simulate.fof_groups(pos, 10.0, 0.5)
    assert labels[0] == labels[1]  # 0.15 apart through the boundary
    assert labels[2] == labels[3]
    assert len({labels[0], labels[2], labels[4]}) == 3
    assert sorted(sizes.tolist()) == [1, 2, 2]


def test_deposit_and_slabs_conserve_particles_and_energy():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 20.0, (3, 5000))
    w = rng.uniform(0, 2, 5000)
    m = simulate.deposit_2d(pos[0], pos[1], w, 16, 20.0)
    assert m.sum() == pytest.approx(w.sum(), rel=1e-12)
    for axis in range(3):
        total_n, total_w = 0.0, 0.0
        for first in range(0, 6, 2):  # the thin slabs of one axis tile the box
            n, e = simulate.project_slab(pos, [None, w], axis, first * 20 / 6,
                                         (first + 2) * 20 / 6, 16, 20.0)
            total_n += n.sum()
            total_w += e.sum()
        assert total_n == pytest.approx(5000, rel=1e-12)
        assert total_w == pytest.approx(w.sum(), rel=1e-12)
    # gas elements of any size keep the energy of every slab and stay >= 0
    h = rng.choice([0.0, 0.3, 1.0, 4.0], 5000)
    for first in range(0, 6, 3):
        lo, hi = first * 20 / 6, (first + 3) * 20 / 6
        n, e = simulate.project_slab(pos, [None, w], 2, lo, hi, 16, 20.0, smoothing=h)
        inside = (pos[2] >= lo) & (pos[2] < hi)
        assert e.sum() == pytest.approx(w[inside].sum(), rel=1e-12)
        assert e.min() >= 0
        assert n.sum() == pytest.approx(inside.sum(), rel=1e-12)  # counts stay plain CIC


def test_gas_elements_have_their_gaussian_size():
    # one particle at a pixel node: its map is a periodic Gaussian of sigma h (in pixels)
    npix, box = 64, 64.0
    for h in (1.0, 4.0):  # sizes on the 1/8-octave grid
        m = simulate.smoothed_deposit_2d(np.array([32.0]), np.array([32.0]), [np.ones(1)],
                                         np.array([h]), npix, box)[0]
        x = np.arange(npix) - 32.0
        var = np.sum(m.sum(1) * x**2) / m.sum()
        assert var == pytest.approx(h**2, rel=0.02)
        assert m.max() == pytest.approx(1 / (2 * np.pi * h**2), rel=0.05)
    # sizes are grouped in 1/8-octave steps: within a step the map is the same
    a = simulate.smoothed_deposit_2d(np.array([5.0]), np.array([9.0]), [np.ones(1)],
                                     np.array([2.0]), npix, box)[0]
    b = simulate.smoothed_deposit_2d(np.array([5.0]), np.array([9.0]), [np.ones(1)],
                                     np.array([2.0 * 2 ** 0.05]), npix, box)[0]
    np.testing.assert_allclose(a, b)


def test_radius_200m_and_halo_centres_across_the_boundary():
    # by hand: M = 200 * Omega_m rho_c0 * 4/3 pi R^3
    r = simulate.radius_200m(1e14, 0.3)
    assert 200 * 0.3 * 2.775e11 * 4 / 3 * np.pi * r**3 == pytest.approx(1e14, rel=1e-12)
    assert 1.0 < r < 1.3  # ~1.1 Mpc/h for 1e14 Msun/h
    pos = np.array([[9.8, 0.2, 0.4, 5.0, 5.2], [1.0, 1.0, 1.3, 5.0, 5.0],
                    [2.0, 2.0, 2.0, 7.0, 7.0]])
    labels = np.array([0, 0, 0, 1, 1])
    c = simulate.halo_centres(pos, labels, np.array([0, 1]), 10.0)
    np.testing.assert_allclose(c[0], [(9.8 + 10.2 + 10.4) / 3 - 10.0, 1.1, 2.0], atol=1e-12)
    np.testing.assert_allclose(c[1], [5.1, 5.0, 7.0], atol=1e-12)


def test_atmosphere_temperature_profile_and_hottest_halo_wins():
    model = simulate.GasModel(shock_radius=2.0, outskirt_slope=1.0)
    box, om, h = 100.0, 0.3, 0.7
    m_big, m_small = 1e15, 1e14
    r200 = simulate.radius_200m(m_big, om)
    # particles on a line through the big halo's centre at 50, plus one at the small halo
    radii = np.array([0.5, 1.0, 1.5, 1.99, 2.01, 3.0]) * r200
    pos = np.zeros((3, radii.size + 1)) + 50.0
    pos[0, :-1] += radii
    pos[:, -1] = [10.0, 10.0, 99.9]
    centres = np.array([[50.0, 50.0, 50.0], [10.0, 10.0, 0.1]])  # the small one wraps in z
    kt, mass = simulate.atmosphere_temperature(pos, centres, np.array([m_big, m_small]), 0.0,
                                               om, h, box, model)
    kvir = simulate.virial_temperature(m_big, 0.0, om, h)
    expect = kvir * np.array([1.0, 1.0, 1 / 1.5, 1 / 1.99, 0.0, 0.0])
    np.testing.assert_allclose(kt[:-1], expect, rtol=1e-9)
    assert mass[:4].tolist() == [m_big] * 4 and mass[4] == 0
    assert kt[-1] == pytest.approx(simulate.virial_temperature(m_small, 0.0, om, h))
    # where two atmospheres overlap, the hotter one sets the temperature and the mass
    pos2 = np.array([[50.0 + 1.9 * r200], [50.0], [50.0]])
    kt2, mass2 = simulate.atmosphere_temperature(
        pos2, np.array([[50.0, 50.0, 50.0], [50.0 + 1.9 * r200, 50.0, 50.0]]),
        np.array([m_big, m_small]), 0.0, om, h, box, model)
    assert kt2[0] == pytest.approx(max(kvir / 1.9, simulate.virial_temperature(m_small, 0, om,
                                                                                h)))
    assert mass2[0] == (m_big if kvir / 1.9 > simulate.virial_temperature(m_small, 0, om, h)
                        else m_small)
    none, _ = simulate.atmosphere_temperature(pos, centres, np.array([m_big, m_small]), 0.0, om,
                                              h, box, simulate.GasModel(shock_radius=0.0))
    assert not none.any()


def test_layout_counts():
    layout = simulate.slab_layout(6)
    assert len(layout["thin"]) == 9 and len(layout["thick"]) == 6
    assert all(width == 2 for _, _, width in layout["thin"])
    layout8 = simulate.slab_layout(8)  # the original's 50 Mpc/h sheets of a 400 Mpc/h box
    assert len(layout8["thin"]) == 12 and len(layout8["thick"]) == 6
    with pytest.raises(UserError, match="at least 3 sheets"):
        simulate.slab_layout(2)


def test_painting_scatter_is_exactly_lognormal_around_the_mean():
    phys = simulate.FIDUCIAL
    _, _, pos = next(iter(simulate.evolve_particles(phys, 16, 64.0, (0.0,), nsteps=6, seed=2)))
    gas = simulate.paint_particles(pos, 0.0, phys, 64.0, 16, np.random.default_rng(5))
    ln_s = np.log(gas.energy / gas.energy_mean)
    assert np.all(gas.energy_mean > 0)
    assert ln_s.mean() == pytest.approx(-0.045, abs=0.05)
    assert ln_s.std() == pytest.approx(0.3, abs=0.06)
    # halo and atmosphere gas is hotter than any diffuse gas; atmospheres add hot gas
    hot = (gas.halo_mass > 0) | gas.in_atmosphere
    assert hot.any() and gas.in_atmosphere.any()
    assert gas.temperature[hot].min() > gas.temperature[~hot].max() / 10
    bare = simulate.paint_particles(pos, 0.0, phys, 64.0, 16, np.random.default_rng(5),
                                    simulate.GasModel(shock_radius=0.0))
    assert not bare.in_atmosphere.any()
    assert gas.energy_mean.sum() > bare.energy_mean.sum()
    # gas elements: haloes' scale with R_200m, diffuse gas the fixed size
    model = simulate.GasModel()
    diffuse = ~hot
    np.testing.assert_allclose(gas.smoothing[diffuse], model.diffuse_smoothing)
    members = (gas.halo_mass > 0) & ~gas.in_atmosphere
    np.testing.assert_allclose(gas.smoothing[members], model.halo_smoothing
                               * simulate.radius_200m(gas.halo_mass[members], phys[0]))


def test_written_maps_and_stats(tiny_data):
    stats = json.loads((tiny_data / simulate.STATS_FILE).read_text())
    maps = simulate.read_maps(tiny_data, "train")
    assert maps["thin"]["dm"].shape == (3, 9, 32, 32)
    assert maps["thick"]["dm"].shape == (3, 6, 32, 32)
    # each kind's slabs tile the box along every axis: mean 1 + delta = 1 (particle number
    # conserved), so the thin + thick sums have mean 2
    np.testing.assert_allclose(maps["thin"]["dm"].mean(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(maps["thick"]["dm"].mean(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(stats["dm_mean"], 2.0, rtol=1e-5)
    assert maps["thin"]["dm"].mean(axis=(2, 3)).std() > 0.01  # slab-to-slab fluctuations kept
    # the stored sigma is that of a thin + thick sum with independently placed pixels:
    # var(a + b) = var(a) + var(b); check against a Monte Carlo of random pixel pairs
    a = maps["thin"]["pressure"][0].astype(np.float64).reshape(-1)
    b = maps["thick"]["pressure"][0].astype(np.float64).reshape(-1)
    assert stats["pressure_std"][0] == pytest.approx(np.sqrt(a.var() + b.var()), rel=1e-6)
    rng = np.random.default_rng(0)
    mc = a[rng.integers(0, a.size, 400000)] + b[rng.integers(0, b.size, 400000)]
    assert stats["dm_std"][0] > 0
    assert stats["pressure_std"][0] == pytest.approx(mc.std(), rel=0.1)
    assert stats["pressure_mean"][0] == pytest.approx(a.mean() + b.mean(), rel=1e-6)
    # pressure falls with redshift (fewer, cooler haloes)
    assert stats["pressure_mean"][0] > stats["pressure_mean"][-1]
    test = simulate.read_maps(tiny_data, "test")
    assert not np.allclose(test["thin"]["dm"], maps["thin"]["dm"])  # independent universe


def test_missing_data_names_the_simulate_command(tmp_path):
    with pytest.raises(UserError, match="python -m exagan_tf.baryons.simulate --out"):
        simulate.read_maps(tmp_path / "nowhere", "train")


def test_cli_refuses_to_overwrite(tiny_data, capsys):
    with pytest.raises(SystemExit) as exc:
        simulate.main(["--out", str(tiny_data)])
    assert exc.value.code == 2
    assert "refusing to overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, expect", [
    ("--shock-radius", "-1", "--shock-radius=-1.0: expected >= 0"),
    ("--halo-smoothing", "-0.5", "expected sizes >= 0"),
    ("--diffuse-smoothing", "-2", "expected sizes >= 0"),
    ("--scatter", "-0.1", "expected sigma >= 0"),
])
def test_cli_rejects_negative_gas_options(tmp_path, capsys, flag, value, expect):
    with pytest.raises(SystemExit) as exc:
        simulate.main(["--out", str(tmp_path / "d"), flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_extra_training_universes_append_slabs_and_keep_the_test_universe(tmp_path, capsys):
    opts = ["--npart", "8", "--box", "32", "--npix", "8", "--nsteps", "4", "--redshifts", "0",
            "1"]
    assert simulate.main(["--out", str(tmp_path / "u2"), "--train-universes", "2", *opts]) == 0
    train = simulate.read_maps(tmp_path / "u2", "train")
    test = simulate.read_maps(tmp_path / "u2", "test")
    assert train["thin"]["dm"].shape == (2, 18, 8, 8)  # 9 thin slabs per universe
    assert train["thick"]["pressure"].shape == (2, 12, 8, 8)
    assert test["thin"]["dm"].shape == (2, 9, 8, 8)
    assert list(train["attrs"]["train_seeds"]) == [0, 2] and train["attrs"]["test_seed"] == 1
    # the first block is the seed-0 universe, the second the seed-2 one; the test is seed 1
    kw = {"npart": 8, "box_size": 32.0, "npix": 8, "nsteps": 4, "redshifts": (0.0, 1.0)}
    for block, seed in ((slice(0, 9), 0), (slice(9, 18), 2)):
        ref = simulate.simulate_maps(seed=seed, **kw)
        np.testing.assert_allclose(train["thin"]["pressure"][:, block],
                                   ref.maps["thin"]["pressure"], rtol=1e-6)
    ref = simulate.simulate_maps(seed=1, **kw)
    np.testing.assert_allclose(test["thick"]["dm"], ref.maps["thick"]["dm"], rtol=1e-6)
    # each universe conserves its particles: every kind of slab has mean 1 + delta = 1
    np.testing.assert_allclose(train["thin"]["dm"].mean(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    stats = json.loads((tmp_path / "u2" / simulate.STATS_FILE).read_text())
    assert stats["pressure_std"][0] == pytest.approx(np.sqrt(
        train["thin"]["pressure"][0].astype(np.float64).var()
        + train["thick"]["pressure"][0].astype(np.float64).var()), rel=1e-6)
    with pytest.raises(SystemExit):
        simulate.main(["--out", str(tmp_path / "u0"), "--train-universes", "0", *opts])
    assert "--train-universes=0: expected at least 1" in capsys.readouterr().err
