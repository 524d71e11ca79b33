"""The BDT figure of merit: hand-checked chi^2, identical vs different distributions."""

import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.muons import fom


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
    floor = fom.fom_floor(a, rng.normal(size=(8000, 4)), 4000, 4000, "hist")
    assert floor["auc"] < r["auc"] and floor["rchi2"] < r["rchi2"]


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
