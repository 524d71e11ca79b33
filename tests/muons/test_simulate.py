"""The muon source: geometry, interaction points, decay kinematics, categories and weights."""

import numpy as np
import pytest
from scipy import stats

from exagan_tf.errors import UserError
from exagan_tf.muons import simulate as sim


def test_target_geometry():
    layers = sim.target_layers()
    target = layers.edges[layers.edges <= layers.edges[0] + 144.5 + 1e-9]
    assert layers.edges[0] == -7084.5
    assert target[-1] - target[0] == pytest.approx(144.5)
    assert layers.names.count("Mo") == 8 and layers.names.count("W") == 10
    assert layers.names.count("water") == 17 and layers.names[-1] == "Fe"
    # minimum-ionising loss from the target front to the absorber end
    assert layers.eloss[0] == pytest.approx(
        52 * 13e-3 + 84 * 22.1e-3 + 8.5 * 1.99e-3 + 500 * 11.4e-3
    )


def test_interaction_points_follow_attenuation():
    layers = sim.target_layers()
    rng = np.random.default_rng(0)
    n = 200_000
    z = sim.interaction_z(layers, np.full(n, layers.edges[0]), rng.exponential(1.0, n))
    first = np.mean(z < layers.edges[1])
    expected = 1 - np.exp(-8.0 / 14.96)
    assert first == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / n))
    # first water gap (edges[1]..edges[2]): density ratio to the Mo just before it
    gap = np.mean((z >= layers.edges[1]) & (z < layers.edges[2])) / 0.5
    mo_end = np.mean((z >= layers.edges[1] - 0.5) & (z < layers.edges[1])) / 0.5
    assert gap / mo_end == pytest.approx(14.96 / 83.3, rel=0.15)


def test_pion_decay_energy_fraction_is_uniform():
    rng = np.random.default_rng(1)
    n = 20000
    p = np.zeros((n, 3))
    p[:, 2] = 200.0
    par = sim.PARENTS["pi+"]
    mu = sim.two_body_decay(rng, p, par.mass, np.full(n, par.pstar))
    e = np.sqrt((mu**2).sum(1) + sim.M_MU**2) / np.sqrt(200.0**2 + par.mass**2)
    r = (sim.M_MU / par.mass) ** 2
    assert e.min() >= r - 1e-6 and e.max() <= 1 + 1e-6
    assert stats.kstest((e - r) / (1 - r), "uniform").pvalue > 1e-3
    # rest-frame momentum is preserved: invariant mass of (mu, nu) = pion mass
    nu = p - mu
    e_tot = np.sqrt((mu**2).sum(1) + sim.M_MU**2) + np.linalg.norm(nu, axis=1)
    m = np.sqrt(e_tot**2 - (p**2).sum(1))
    np.testing.assert_allclose(m, par.mass, rtol=1e-4)


@pytest.fixture(scope="module")
def muons():
    return sim.simulate_muons(30000, seed=3)


def test_categories_positions_and_charges(muons):
    prompt = (muons["x"] == 0) & (muons["y"] == 0)
    assert prompt.mean() == pytest.approx(0.56, abs=1e-3)
    assert set(np.unique(muons["id"])) == {-13.0, 13.0}
    disp = ~prompt
    # displaced: sharply peaked at 0 with tails
    ax = np.abs(muons["x"][disp])
    assert np.median(ax) < 0.2 and np.quantile(ax, 0.999) > 20 * np.median(ax)
    # pi+/K+ excess: more mu+ (-13) than mu- among displaced muons
    assert np.sum(muons["id"][disp] == -13) > 1.3 * np.sum(muons["id"][disp] == 13)
    pt = np.hypot(muons["px"], muons["py"])
    assert pt[prompt].mean() > 1.3 * pt[disp].mean()
    layers = sim.target_layers()
    assert muons["z"].min() >= layers.edges[0] and muons["z"].max() <= layers.edges[-1]
    p = np.sqrt(muons["px"] ** 2 + muons["py"] ** 2 + muons["pz"] ** 2)
    assert np.all(p > sim.energy_loss_to_exit(layers, muons["z"])) and p.max() < 400


def test_startz_has_slab_structure(muons):
    layers = sim.target_layers()
    z = muons["z"][(muons["x"] == 0) & (muons["y"] == 0)]
    idx = sim.layer_index(layers, z)
    in_water = np.isin(idx, [i for i, n in enumerate(layers.names) if n == "water"])
    water_len = 8.5 / 144.5
    assert in_water.mean() < 0.3 * water_len


def test_weights(muons):
    w = muons["w"]
    prompt = (muons["x"] == 0) & (muons["y"] == 0)
    charm = np.abs(muons["parentid"]) == 411
    vm = prompt & ~charm
    s_max = sim.weight_scale()
    assert s_max == pytest.approx(5000 * 0.6356 * 83.3 * 0.49368 / (5 * 371.2))
    np.testing.assert_allclose(w[vm], sim.W_MAX / s_max)
    np.testing.assert_allclose(w[charm], sim.W_MAX / s_max / 100)  # x100 subsample undone
    assert 0.2 < charm[prompt].mean() < 0.4
    assert w.max() <= sim.W_MAX and w.min() > 0
    assert w.max() / w.min() > 1e3  # large dynamic range
    # displaced weights fall with the parent momentum (decay length grows as p)
    d = ~prompt & (np.abs(muons["parentid"]) == 211)
    p = np.sqrt(muons["px"] ** 2 + muons["py"] ** 2 + muons["pz"] ** 2)[d]
    assert stats.spearmanr(p, w[d]).statistic < -0.5


def test_rogue_and_bad_arguments():
    rogue = sim.simulate_muons(3000, seed=1, rogue=True)
    assert rogue["z"].min() < sim.Z_TARGET_START - 50
    with pytest.raises(UserError, match="prompt_fraction"):
        sim.simulate_muons(10, prompt_fraction=1.5)
    with pytest.raises(UserError, match="n_files"):
        sim.write_production("unused", 0, 10)


def test_reproducible():
    a = sim.simulate_muons(500, seed=5)
    b = sim.simulate_muons(500, seed=5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
