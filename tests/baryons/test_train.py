"""End to end: train the tiny tags, resume, paint from the run, evaluate, bad configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from exagan_tf.baryons import evaluate, paint, train
from exagan_tf.baryons.config import baryon_tags, load_baryons
from exagan_tf.errors import UserError


def test_tags_do_not_collide_with_exagan():
    tags = baryon_tags()
    assert {"cvae", "cgan", "cvae_demo", "cgan_demo", "cvae_test", "cgan_test"} <= tags
    exagan = set(yaml.safe_load(open(train.__file__.replace(
        "exagan_tf/baryons/train.py", "experiments/exagan.yaml"))))
    assert not tags & exagan


def test_original_hyperparameters():
    cgan = load_baryons("cgan")
    assert (cgan.learning_rate, cgan.adam_betas, cgan.batch_size) == (5e-5, (0.5, 0.999), 6)
    assert (cgan.learning_rate_decay, cgan.lr_decay_iterations) == (0.85, 1568)
    assert cgan.lambda_perceptual == 2.5 and cgan.tile_size == 512
    # the demo-only departures stay off in the original tags
    assert (cgan.lambda_l2, cgan.g_filters, cgan.g_res_blocks, cgan.g_last_batchnorm) == (
        0.0, 32, 9, True)
    assert load_baryons("cgan").transform_shift is load_baryons("cvae").transform_shift is None
    cvae = load_baryons("cvae")
    stages = cvae.schedule()
    assert [s[1] for s in stages][:6] == [4, 8, 12, 16, 20, 24]
    assert {s[2] for s in stages[:6]} == {1e-3}
    assert [s[2] for s in stages[6:]] == [1e-4, 1e-5, 1e-6]
    plan = train.period_plan(cvae)
    assert sum(p["steps"] * p["batch_size"] for p in plan) >= 150000


@pytest.mark.parametrize("tag", ["cvae_test", pytest.param("cgan_test", marks=pytest.mark.slow)])
def test_train_resume_paint_evaluate(tiny_config, tag, capsys):
    cfg_file, expts = tiny_config
    args = [tag, "0", "--config-file", str(cfg_file), "--expts", str(expts)]
    assert train.main(args) == 0
    run = expts / tag / "run0"
    models = run / "models"
    assert (models / "transform.json").exists()
    assert list(models.glob("*_final.weights.h5"))
    assert list(models.glob("*_best_one_minus_r.weights.h5"))
    assert list((run / "logs").glob("events.out.tfevents.*"))
    assert train.main(args) == 0  # resumes: nothing left to do
    assert "nothing to do" in (run / "train.log").read_text()
    painter = paint.load_painter(run)
    dm = np.exp(np.random.default_rng(0).normal(size=(64, 64)) * 0.3) * 2
    out = painter.paint_map(dm, 1.0)
    assert out.shape == (64, 64) and np.all(out >= 0) and np.all(np.isfinite(out))
    assert evaluate.main([tag, "0", "--expts", str(expts), "--pairs", "4"]) == 0
    metrics = json.loads((run / "analysis" / "metrics.json").read_text())
    res = metrics["redshifts"]["0"]
    assert set(res) >= {tag[:4], "floor", "local_baseline", "truth"}
    assert ("cvae_mean" in res) == (tag == "cvae_test")  # the CVAE: a sample and the mean
    # the untrained networks: seeded by the run's seed, so the same numbers twice; not the trained
    assert "untrained" in res and res["untrained"] != res[tag[:4]]
    a, b = paint.load_painter(run, "untrained"), paint.load_painter(run, "untrained")
    assert all(np.array_equal(x, y) for n in a.nets for x, y in
               zip(a.nets[n].get_weights(), b.nets[n].get_weights()))
    assert res["floor"]["r_pred_truth_mean"] > res["local_baseline"]["r_pred_truth_mean"] - 0.2
    capsys.readouterr()


def test_missing_data_and_bad_config(tmp_path, capsys):
    cfg = dict(yaml.safe_load(open(train.__file__.replace(
        "exagan_tf/baryons/train.py", "experiments/baryons.yaml")))["cgan_test"])
    cfg["datadir"] = str(tmp_path / "nothing")
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump({"cgan_test": cfg, "bad": {**cfg, "tile_size": 20}}))
    with pytest.raises(SystemExit):
        train.main(["cgan_test", "0", "--config-file", str(path), "--expts", str(tmp_path)])
    assert "python -m exagan_tf.baryons.simulate --out" in capsys.readouterr().err
    with pytest.raises(UserError, match="tile_size=20"):
        load_baryons("bad", path)


def test_wrong_tile_size_for_the_data(tiny_config):
    cfg_file, expts = tiny_config
    tags = yaml.safe_load(cfg_file.read_text())
    tags["cgan_test"]["tile_size"] = 24
    cfg_file.write_text(yaml.safe_dump(tags))
    with pytest.raises(SystemExit):
        train.main(["cgan_test", "0", "--config-file", str(cfg_file), "--expts", str(expts)])
