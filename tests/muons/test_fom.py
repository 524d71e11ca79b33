"""The BDT figure of merit: hand-checked chi^2, identical vs different distributions; the
real sample from disjoint held-out halves, the floor a perfect generator scores (and the
former construction that a perfect generator did not), the memorisation check."""

import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.muons import fom
from exagan_tf.muons import preprocess as pp


def weighted_muons(n: int, rng: np.random.Generator):
    """(features in (-1, 1), weights) of a correlated 4-D toy with weights over two decades
    (effective size of the held-out rows: a third of their number, as the demo's 26-79%)."""
    z = rng.normal(size=(n, 4))
    z[:, 1] += 0.8 * z[:, 0] ** 2 - 0.8
    w = np.exp(0.9 * rng.normal(size=n) + 0.5 * z[:, 2])
    return np.tanh(0.6 * z), w


def test_reduced_chi2_by_hand():
    r = np.array([100, 50, 5, 20])
    f = np.array([80, 50, 30, 9])
    # bins 0 and 1 qualify (> 9 in both): (20^2/180 + 0) / 2
    chi2, dof = fom.reduced_chi2(r, f)
    assert dof == 2 and chi2 == pytest.approx(400 / 180 / 2)
    assert fom.reduced_chi2([1, 2], [3, 4]) == (1e8, 0)


@pytest.mark.parametrize("kind", ["hist", "gbc"])
def test_identical_distributions(kind):
    rng = np.random.default_rng(0)
    n = 4000 if kind == "hist" else 1500
    a = rng.normal(size=(2 * n, 4))
    b = rng.normal(size=(2 * n, 4))
    r = fom.bdt_fom(a, b, n, n, kind, seed=1)
    assert abs(r["auc"] - 0.5) < 0.04
    assert 0.3 < r["rchi2"] < 2.5 and r["dof"] > 5
    assert r["overlap"] > 0.85 and r["nonoverlap"] == pytest.approx(1 - r["overlap"])


def test_different_distributions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8000, 4))
    b = rng.normal(size=(8000, 4))
    b[:, 2] = 0.5 * b[:, 2] + 0.8
    r = fom.bdt_fom(a, b, 4000, 4000, "hist", seed=1)
    assert r["auc"] > 0.75 and r["rchi2"] > 8 and r["overlap"] < 0.7
    floor = fom.fom_floor(a, rng.normal(size=(8000, 4)), np.ones(8000), 4000, 4000, "hist",
                          draws=2)
    assert floor["auc"] < r["auc"] and floor["rchi2"] < r["rchi2"]
    assert floor["draws"] == 2 and len(floor["auc_draws"]) == 2
    assert floor["auc_min"] <= floor["auc"] <= floor["auc_max"] and floor["auc_sd"] > 0


def test_heldout_sample_halves_are_disjoint():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 3))
    w = np.ones(400)
    w[:4] = 200.0  # four heavy rows: the former sample drew each on both sides
    s = fom.heldout_real_sample(x, w, 300, 500, seed=3)
    assert s.shape == (800, 3)
    row = {tuple(r): i for i, r in enumerate(x)}
    train = {row[tuple(r)] for r in s[:300]}
    test = {row[tuple(r)] for r in s[300:]}
    assert not train & test
    assert len(train) + len(test) <= 400 and len(train | test) > 150
    # drawn by weight within the half: k heavy rows there hold 200 k / (200 k + 200 - k) of it
    k = sum(i < 4 for i in train)
    heavy = np.mean([row[tuple(r)] < 4 for r in s[:300]])
    assert 1 <= k <= 3 and heavy == pytest.approx(200 * k / (200 * k + 200 - k), abs=0.06)
    np.testing.assert_array_equal(s, fom.heldout_real_sample(x, w, 300, 500, seed=3))
    with pytest.raises(UserError, match="400 held-out muons but 399 weights"):
        fom.heldout_real_sample(x, w[:-1], 10, 10)
    with pytest.raises(UserError, match="1 training muons; at least 2"):
        fom.copies_sample(x[:1], w[:1], 10, 10)


def test_perfect_generators_score_the_floor_and_did_not_before():
    """Copies of the training muons, and a fresh sample of the same weighted distribution,
    score within the floor's noise against the disjoint-halves sample; against the former
    sample (both BDT halves drawn from all held-out rows) they scored far above its floor."""
    rng = np.random.default_rng(0)
    x, w = weighted_muons(6000, rng)
    (x_tr, w_tr), (x_val, w_val) = pp.split_train_val(x, w, 1 / 3)
    n = 1000
    real = fom.heldout_real_sample(x_val, w_val, n, n, seed=0)
    floor = fom.fom_floor(real, x_tr, w_tr, n, n, "hist", seed=0, draws=5)
    assert abs(floor["auc"] - 0.5) < 0.03 and 0.005 < floor["auc_sd"] < 0.03
    copies = fom.copies_sample(x_tr, w_tr, n, n, seed=99)
    x_new, w_new = weighted_muons(20 * n, rng)
    fresh = pp.WeightedSampler(w_new, 5).sample(x_new, 2 * n)
    for fake in (copies, fresh):
        auc = fom.bdt_fom(real, fake, n, n, "hist", seed=7)["auc"]
        assert abs(auc - floor["auc"]) < 3 * floor["auc_sd"]
    # the former construction: real sample and its floor drawn from all held-out rows
    old = pp.WeightedSampler(w_val, 1).sample(x_val, 2 * n)
    old_floor = fom.bdt_fom(old, pp.WeightedSampler(w_val, 2).sample(x_val, 2 * n), n, n,
                            "hist", 0)["auc"]
    assert abs(old_floor - 0.5) < 0.03
    for fake in (copies, fresh):
        auc = fom.bdt_fom(old, fake, n, n, "hist", seed=7)["auc"]
        assert auc > 0.6 and auc - floor["auc"] > 8 * floor["auc_sd"]


def test_memorisation_flags_training_copies():
    rng = np.random.default_rng(5)
    x, w = weighted_muons(9000, rng)
    (x_tr, w_tr), (x_val, w_val) = pp.split_train_val(x, w, 1 / 3)
    real = fom.heldout_real_sample(x_val, w_val, 1000, 1000, seed=1)
    x_new, w_new = weighted_muons(40_000, rng)
    honest = pp.WeightedSampler(w_new, 2).sample(x_new, 2000)
    copies = pp.WeightedSampler(w_tr, 3).sample(x_tr, 2000)  # a generator returning training rows
    m = fom.memorisation(x_tr, real, honest)
    assert not m["memorised"] and m["nn_close"] < 0.03 and 0.85 < m["nn_ratio"] < 1.15
    m = fom.memorisation(x_tr, real, copies)
    assert m["memorised"] and m["nn_close"] == 1.0 and m["nn_ratio"] == 0.0
    part = np.concatenate([honest[:1600], copies[:400]])  # a fifth memorised
    m = fom.memorisation(x_tr, real, part)
    assert m["memorised"] and 0.19 < m["nn_close"] < 0.24
    blurred = np.clip(honest + rng.normal(0, 0.2, honest.shape), -1, 1)
    m = fom.memorisation(x_tr, real, blurred)
    assert not m["memorised"] and m["nn_ratio"] > 1.1  # further from training muons


def test_bad_input():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(100, 3))
    bad = a.copy()
    bad[5, 1] = np.nan
    with pytest.raises(UserError, match="NaN"):
        fom.bdt_fom(a, bad, 50, 50, "hist")
    with pytest.raises(UserError, match="100 rows, 200 needed"):
        fom.bdt_fom(a, a, 100, 100, "hist")
    with pytest.raises(UserError, match="classifier 'svm'"):
        fom.make_classifier("svm")


def test_figures():
    rng = np.random.default_rng(3)
    a = np.tanh(rng.normal(size=(500, 4)))
    b = np.tanh(rng.normal(size=(500, 4)))
    names = ["StartZ", "Px", "Py", "Pz"]
    fig = fom.pair_histograms_figure(a, b, names)
    assert len(fig.axes) == 2 * 6
    assert len(fom.feature_histograms_figure(a, b, names).axes) == 4
    assert len(fom.bdt_output_figure(rng.random(100), rng.random(100)).axes) == 1
