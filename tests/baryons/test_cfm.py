"""The conditional flow-matching painter (``cfm_test``): trained through ``exagan train`` after
a stop, resumed, painted (draws differ, a seed repeats its draw) and analysed with the scatter
report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exagan_tf import cli
from exagan_tf.baryons import paint, train
from exagan_tf.baryons.config import load_baryons
from exagan_tf.errors import UserError


def test_cfm_config_and_its_checks(tmp_path):
    cfg = load_baryons("cfm_test")
    assert (cfg.model, cfg.fm_steps, tuple(cfg.fm_widths)) == ("cfm", 2, (4, 8))
    demo = load_baryons("cfm_demo")
    assert demo.model == "cfm" and demo.tile_size == 64 and demo.datafmt == "channels_last"
    import yaml

    path = tmp_path / "b.yaml"
    base = yaml.safe_load(open(train.__file__.replace(
        "exagan_tf/baryons/train.py", "experiments/baryons.yaml")))
    bad = {"odd": {"tile_size": 30, "fm_widths": [4, 8, 16]}, "first": {"datafmt": "channels_first"},
           "steps": {"fm_steps": 0}}
    path.write_text(yaml.safe_dump({k: {**base["cfm_test"], **v} for k, v in bad.items()}))
    for tag, match in (("odd", "multiple of 4"), ("first", "channels_last"),
                       ("steps", "fm_steps=0")):
        with pytest.raises(UserError, match=match):
            load_baryons(tag, path)


def test_cfm_trains_resumes_paints_and_reports_scatter(tiny_config, tiny_data, monkeypatch,
                                                       capsys):
    cfg_file, expts = tiny_config
    monkeypatch.chdir(expts.parent)
    # stop after one pseudo-epoch (4 of 8 steps), then `exagan train` resumes the same run
    assert train.main(["cfm_test", "0", "--config-file", str(cfg_file), "--expts", str(expts),
                       "--max-steps", "4"]) == 0
    assert cli.main(["train", "cfm_test", "0", "--set", f"datadir={tiny_data}"]) == 0
    run = expts / "cfm_test" / "run0"
    log = (run / "train.log").read_text()
    assert "resumed" in log and "steps 4->8" in log
    models = run / "models"
    for name in ("velocity_final.keras", "velocity_final.weights.h5",
                 "velocity_best_one_minus_r.weights.h5", "transform.json"):
        assert (models / name).is_file(), name
    assert list((run / "logs").glob("events.out.tfevents.*"))

    painter = paint.load_painter(run)
    assert (painter.kind, painter.fm_steps) == ("cfm", 2)
    dm = np.random.default_rng(0).lognormal(size=(3, 32, 32))
    a, b = painter.tiles(dm, 1.0, seed=0), painter.tiles(dm, 1.0, seed=1)
    np.testing.assert_array_equal(a, painter.tiles(dm, 1.0, seed=0))  # a seed is one draw
    assert np.all(np.isfinite(a)) and np.all(a >= 0)
    assert np.mean(np.abs(np.log1p(a) - np.log1p(b))) > 1e-4  # other seeds, other draws

    big = np.random.default_rng(1).lognormal(size=(48, 48)).astype(np.float32)
    np.save("dm.npy", big)
    assert cli.main(["generate", "cfm_test", "0", "--dm", "dm.npy", "--z", "0.5",
                     "--out", "p1.npy", "--seed", "1"]) == 0
    p1 = np.load("p1.npy")
    assert p1.shape == big.shape and np.all(np.isfinite(p1))
    np.testing.assert_allclose(p1, painter.paint_map(big, 0.5, seed=1), rtol=1e-5)
    assert not np.allclose(p1, painter.paint_map(big, 0.5, seed=0), rtol=1e-3)

    assert cli.main(["analyze", "cfm_test", "0", "--pairs", "4", "--draws", "2",
                     "--redshifts", "0"]) == 0
    metrics = json.loads((run / "analysis" / "metrics.json").read_text())
    res = metrics["redshifts"]["0"]
    assert set(res) >= {"cfm", "cfm_mean", "floor", "local_baseline", "truth"}
    assert res["cfm"]["scatter"] > 0 and res["floor"]["scatter"] == 0.0
    assert res["local_baseline"]["scatter"] == 0.0 and "scatter" not in res["cfm_mean"]
    assert 0.0 < res["truth"]["scatter"] < 0.3  # the stand-in's s = 0.3, projected
    assert metrics["speed"]["cfm"]["maps"] == 2 * 4 and metrics["draws"] == 2
    assert "spread of draws" in (run / "analysis" / "summary.md").read_text()
    capsys.readouterr()
