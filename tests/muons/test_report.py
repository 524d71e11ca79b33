"""The FOM table of muon runs."""

import json

import numpy as np
import pytest

from exagan_tf.muons import report


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def fomd(rchi2, overlap, auc, **extra):
    return {"rchi2": rchi2, "overlap": overlap, "auc": auc, **extra}


def test_table_from_runs(tmp_path, capsys):
    gan = tmp_path / "muon_gan_demo" / "run3_mup_prompt"
    write(gan / "fom_floor.json", fomd(1.13, 0.971, 0.5012, auc_min=0.4961, auc_max=0.5049))
    write(gan / "fom_untrained.json", fomd(1583.2, 0.034, 0.9991))
    write(gan / "models" / "final.json",
          fomd(22.84, 0.781, 0.6554, step=3000, nn_ratio=1.034, nn_close=0.0042))
    vae = tmp_path / "muon_vae_demo" / "run3_mup_prompt"
    write(vae / "fom_untrained.json", fomd(1e8, 0.001, 0.9998))
    write(vae / "models" / "final.json",
          fomd(26.2, 0.73, 0.69, step=5000, nn_ratio=0.21, nn_close=0.62))
    assert report.main(["--expts", str(tmp_path), "--run", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "| category | floor (copies of training muons) | GAN untrained | GAN (3000 steps) "
        "| VAE untrained | VAE (5000 steps) |"
    )
    assert lines[2] == (
        "| μ⁺ prompt (4-D) | 1.13 / 0.97 / 0.501 (0.496–0.505) | 1.58e+03 / 0.03 / 0.999 "
        "| 22.8 / 0.78 / 0.655 | – / 0.00 / 1.000 | 26.2 / 0.73 / 0.690 |"
    )
    assert lines[3] == "| μ⁻ prompt (4-D) | – | – | – | – | – |" and lines[6] == ""
    assert lines[7] == "| category | GAN (3000 steps) | VAE (5000 steps) |"
    assert lines[9] == "| μ⁺ prompt (4-D) | 1.03 / 0.004 | 0.21 / 0.620 memorised |"
    assert lines[10] == "| μ⁻ prompt (4-D) | – | – |" and len(lines) == 13
    # the mixture's column (no untrained state) and the flow's, once their runs exist
    write(tmp_path / "muon_gmm_demo" / "run3_mup_prompt" / "models" / "final.json",
          fomd(3.1, 0.93, 0.548, step=41))
    write(tmp_path / "muon_flow_demo" / "run3_mum_prompt" / "models" / "final.json",
          fomd(1.2, 0.96, 0.511, step=6000))
    assert report.main(["--expts", str(tmp_path), "--run", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        "| Gaussian mixture (41 EM iterations) | FLOW untrained | FLOW (6000 steps) |")
    assert lines[2].endswith("| 3.10 / 0.93 / 0.548 | – | – |")
    assert lines[3].endswith("| – | – | 1.20 / 0.96 / 0.511 |")
    assert lines[7].endswith("| Gaussian mixture (41 EM iterations) | FLOW (6000 steps) |")
    with pytest.raises(SystemExit) as err:
        report.main(["--expts", str(tmp_path), "--run", "9"])
    assert err.value.code == 2 and "no muon runs" in capsys.readouterr().err
    write(gan.parent / "run4_mup_prompt" / "fom_floor.json", {})
    (gan.parent / "run4_mup_prompt" / "fom_floor.json").write_text("{")
    with pytest.raises(SystemExit):
        report.main(["--expts", str(tmp_path), "--run", "4"])
    assert "not valid JSON" in capsys.readouterr().err


def test_yardstick(preprocessed, capsys):
    """The yardstick measurement on the tiny production: the former sample scores copies of the
    training muons above the disjoint-halves sample."""
    data, _ = preprocessed
    res = report.yardstick(data, 150, 2, categories=["mup_displaced"], log=lambda s: None)
    r = res["mup_displaced"]
    assert set(r) >= {"copies_old", "copies_new", "copies_weighted", "blurred_nn_close"}
    assert all(len(r[k]) == 2 for k in ("copies_old", "copies_new", "blurred_weighted"))
    assert np.mean(r["copies_old"]) > np.mean(r["copies_new"]) + 0.03
    assert abs(np.mean(r["copies_new"]) - 0.5) < 0.08
    assert 0 < r["ess_heldout"] < r["n_heldout"]
    assert "| μ⁺ displaced (6-D) |" in report.yardstick_table(res)
    with pytest.raises(SystemExit) as err:
        report.main(["--yardstick", str(data), "--draws", "0"])
    assert err.value.code == 2 and "--draws 0" in capsys.readouterr().err


def test_table_over_seeds(tmp_path, capsys):
    """Several runs: median (range) of AUC and reduced chi^2, the largest nn_close, the number
    of runs found; a missing run counts as missing, not as zero."""
    for run, (auc, chi, close) in enumerate([(0.63, 16.3, 0.004), (0.66, 20.0, 0.002),
                                             (0.61, 18.0, 0.007)]):
        rd = tmp_path / "muon_gan_demo" / f"run{run}_mup_prompt"
        write(rd / "fom_floor.json", fomd(1.8, 0.96, 0.495 + 0.002 * run))
        write(rd / "fom_untrained.json", fomd(1e8, 0.0, 0.999))
        write(rd / "models" / "final.json",
              fomd(chi, 0.8, auc, step=3000, nn_ratio=1.0, nn_close=close))
    vae = tmp_path / "muon_vae_demo" / "run1_mup_prompt"
    write(vae / "models" / "final.json", fomd(25.0, 0.7, 0.70, step=3000, nn_ratio=1, nn_close=0.01))
    assert report.main(["--expts", str(tmp_path), "--run", "0", "--run", "1", "--run", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| category | floor (copies of training muons) | GAN untrained | GAN "
                        "| VAE untrained | VAE |")
    assert lines[2] == (
        "| μ⁺ prompt (4-D) | 0.497 (0.495–0.499); χ² 1.8 (1.8–1.8) [3] | 0.999 (0.999–0.999) [3] "
        "| 0.630 (0.610–0.660); χ² 18 (16.3–20); nn_close ≤ 0.007 [3] | – "
        "| 0.700; χ² 25; nn_close ≤ 0.010 [1] |"
    )
    assert lines[3] == "| μ⁻ prompt (4-D) | – | – | – | – | – |"
