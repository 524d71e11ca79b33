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


def test_signal_bands():
    assert evaluate.signal_bands([4e-7, 2e-9, 2e-11, 5e-15]).tolist() == [True, True, False,
                                                                          False]
    assert evaluate.signal_bands([1.0, 1e-4]).tolist() == [True, True]


def _metrics(folder, arch, inputs, noise, channel, resid, base_resid, cl_truth):
    import json

    def part(values):
        return {"residual_ratio": values, "r": [0.5] * len(values), "cl_truth": cl_truth}

    folder.mkdir(parents=True)
    entry = {"ell_edges": [72, 500, 1000, 1500], "model": part(resid),
             "baseline": part(base_resid), "baseline_name": "analytic B from lensed q, u"}
    (folder / "metrics.json").write_text(json.dumps({
        "architecture": arch, "inputs": inputs, "noise": noise, "channels": {channel: entry}}))


def test_table_gives_the_change_against_the_baseline_in_bands_with_signal(tmp_path):
    cl = [1e-6, 1e-8, 1e-14]  # the last band holds no signal
    _metrics(tmp_path / "pix2pix_quek-b_noise0", "pix2pix", "quek", 0.0, "b",
             [1.0, 0.5, 300.0], [88.0, 2.0, 7e7], cl)
    _metrics(tmp_path / "astroencoder_quEB-b_noise0", "astroencoder", "quEB", 0.0, "b",
             [44.0, 2.5, 1.0], [88.0, 2.0, 7e7], cl)
    table = evaluate.collect_table(tmp_path, untrained_seeds=0, floor=False)
    assert "| ell 72-500 | ell 500-1000 |\n" in table and "1000-1500" not in table
    assert "| pix2pix (quek, pix2pix_quek-b_noise0) | 1.000 (0.500) | 0.500 (0.500) |" in table
    assert "| change vs baseline: pix2pix_quek-b_noise0 | -99% | -75% |" in table
    assert "| change vs baseline: astroencoder_quEB-b_noise0 | -50% | +25% |" in table
    assert table.count("| baseline: analytic B from lensed q, u |") == 1


def _tiny_config(tiny_data_dir, *flags):
    from exagan_tf.cmb.config import CMBConfig
    from exagan_tf.cmb.main import parse_args

    return CMBConfig.from_args(parse_args([
        "--experiment", "experiments/cmb/experiments.yaml:tiny", "--data-dir", str(tiny_data_dir),
        "--ndeg", "1.25", "-vs", "0.25", *flags]))


def test_untrained_with_analytic_skip_is_the_baseline(tiny_data_dir, monkeypatch, request):
    """--analytic-skip: the output convolution starts at zero, so the untrained e is the
    analytic E, for any seed and behind the kappa stage; without the skip it is not."""
    monkeypatch.chdir(request.config.rootpath)
    args = _tiny_config(tiny_data_dir, "-i", "quEB", "-o", "ek", "--analytic-skip",
                        "--kappa-stage", "--no-adversarial", "-gdrop", "0")
    data = evaluate.run_data(args)
    untrained = evaluate.untrained_metrics(args, [args.seed, args.seed + 1], data)
    assert list(untrained) == [483, 484]
    for per_channel in untrained.values():
        e, k = per_channel["e"], per_channel["k"]
        for key in ("residual_ratio", "r", "cl_pred"):
            assert np.allclose(e["model"][key], e["baseline"][key], rtol=1e-5, atol=0), key
        assert np.all(np.asarray(k["model"]["cl_pred"]) > 0)  # kappa: a network's output
    k0, k1 = (u["k"]["model"]["cl_pred"] for u in untrained.values())
    assert not np.allclose(k0, k1, rtol=1e-3, atol=0)  # the seed draws the weights
    plain = _tiny_config(tiny_data_dir, "-i", "quEB", "-o", "e", "--no-adversarial", "-gdrop",
                         "0")
    e = evaluate.untrained_metrics(plain, data=evaluate.run_data(plain))[483]["e"]
    assert not np.allclose(e["model"]["residual_ratio"], e["baseline"]["residual_ratio"],
                           rtol=0.1)
