"""The budget of the analytic E baseline: window leakage, lensing, noise, mean-deflection floor."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from exagan_tf.cmb import evaluate
from exagan_tf.errors import UserError


def test_budget_splits_the_analytic_baseline(tiny_data_dir):
    quiet = evaluate.baseline_budget(tiny_data_dir, validation_split=0.25)
    rows = {k: np.array(v) for k, v in quiet["rows"].items()}
    assert list(rows) == ["analytic E", "window leakage", "lensing", "mean-deflection floor"]
    # leakage and lensing are nearly independent: their residual powers add up to the baseline's
    assert np.allclose(rows["window leakage"] + rows["lensing"], rows["analytic E"], rtol=0.25)
    # above ell 1000 the baseline's residual is mostly lensing, of which the patch-mean shift is a part
    high = np.array(quiet["ell_edges"][:-1]) >= 1000
    assert np.all(rows["window leakage"][high] < 0.3 * rows["lensing"][high])
    assert np.all(rows["mean-deflection floor"][high] < rows["lensing"][high])
    assert np.all(rows["mean-deflection floor"] > 0)
    noisy = evaluate.baseline_budget(tiny_data_dir, noise=5.0, validation_split=0.25)
    assert list(noisy["rows"])[3] == "noise"
    assert np.all(np.array(noisy["rows"]["analytic E"]) > rows["analytic E"])
    assert np.allclose(noisy["rows"]["lensing"], rows["lensing"])
    assert "mean-deflection floor" in evaluate.format_budget(noisy)


def test_budget_refuses_a_file_the_simulator_did_not_make(tiny_data_dir, tmp_path):
    shutil.copy(tiny_data_dir / "cmb_maps.h5", tmp_path / "cmb_maps.h5")
    with h5py.File(tmp_path / "cmb_maps.h5", "r+") as f:
        f.attrs["r"] = 0.0  # the maps were made with r = 0.1
        f.attrs["seed"] = 6
    with pytest.raises(UserError, match="is not what this simulator makes"):
        evaluate.baseline_budget(tmp_path, validation_split=0.25)
