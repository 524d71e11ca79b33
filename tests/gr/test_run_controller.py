"""Run controller: config errors, a tiny training run, resume by name, a refused resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from exagan_tf.errors import UserError
from exagan_tf.gr import run_controller
from exagan_tf.gr.config import load_gr_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_configs_load():
    files = sorted((REPO / "experiments" / "gr").glob("*.yaml"))
    assert {"temp.yaml", "demo.yaml", "demo_amplified.yaml", "test.yaml"} <= {f.name for f in files}
    names = [load_gr_config(f).model_params.name for f in files]
    assert len(set(names)) == len(names)  # every demo trains its own run
    temp = load_gr_config(REPO / "experiments" / "gr" / "temp.yaml")
    assert (temp.model_params.layer_param, temp.model_params.dropout) == (16, 0.5)
    assert (temp.data_params.train_seeds, temp.data_params.test_seeds) == (150, 100)
    assert (temp.train_params.epochs, temp.train_params.lr) == (10, 0.001)


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_params: [1, 2\n", "not valid YAML"),
        ("model_params: {}\ndata_params: {}\n", "section 'train_params' is missing"),
        (
            "model_params: {}\ndata_params: {}\ntrain_params: {}\nextra: {}\n",
            "unknown section 'extra'",
        ),
    ],
)
def test_bad_yaml_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_gr_config(path)


def test_bad_keys_and_values(tmp_path, gr_files, make_config):
    path = make_config(
        tmp_path / "a.yaml", gr_files["std"], tmp_path / "runs", model_params__layer_parm=3
    )
    with pytest.raises(UserError, match="unknown key 'layer_parm'"):
        load_gr_config(path)
    path = make_config(
        tmp_path / "b.yaml",
        gr_files["std"],
        tmp_path / "runs",
        data_params__newton_augmentation=-1.0,
    )
    with pytest.raises(UserError, match="newton_augmentation=-1.0"):
        load_gr_config(path)
    path = make_config(
        tmp_path / "c.yaml", gr_files["std"], tmp_path / "runs", train_params__lr="fast"
    )
    with pytest.raises(UserError, match="key 'lr' = 'fast' is not a float"):
        load_gr_config(path)
    path = make_config(
        tmp_path / "d.yaml",
        gr_files["std"],
        tmp_path / "runs",
        train_params__bn_recalibration_batches=-1,
    )
    with pytest.raises(UserError, match="bn_recalibration_batches=-1"):
        load_gr_config(path)


def test_missing_datafile_fails_before_making_a_run(tmp_path, capsys, make_config):
    path = make_config(tmp_path / "t.yaml", tmp_path / "missing.h5", tmp_path / "runs")
    with pytest.raises(SystemExit) as exit_info:
        run_controller.main([str(path)])
    assert exit_info.value.code == 2
    assert "missing.h5: no such file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_train_resume_by_name_and_refuse_other_settings(tmp_path, gr_files, make_config):
    runs = tmp_path / "runs"
    path = make_config(tmp_path / "t.yaml", gr_files["std"], runs)
    assert run_controller.main([str(path)]) == 0
    run = runs / "tiny"
    metrics = json.loads((run / "analysis" / "epoch1" / "metrics.json").read_text())
    for who in ("cnn", "pk_baseline"):
        r = metrics[who]
        assert set(r) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix"}
        assert sum(map(sum, r["confusion_matrix"])) == r["n"] == 2 * 2 * 3 * 16
    assert (run / "analysis" / "epoch1" / "roc.png").stat().st_size > 1000
    assert (run / "models" / "model_epoch1.keras").exists()
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    # same name and settings: continue from the checkpoint for `epochs` more
    assert run_controller.main([str(path)]) == 0
    assert (run / "models" / "model_epoch2.keras").exists()
    assert "resumed" in (run / "train.log").read_text()
    assert (run / "command.txt").read_text().count("resume:") == 1
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["train_params"]["epochs"] == 1
    # epochs may change on resume; anything else may not
    more = make_config(tmp_path / "more.yaml", gr_files["std"], runs, train_params__epochs=0)
    assert run_controller.main([str(more), "--no-evaluate"]) == 0
    other = make_config(tmp_path / "o.yaml", gr_files["std"], runs, train_params__lr=0.01)
    with pytest.raises(UserError, match=r"'train_params.lr' was 0.001, now 0.01"):
        run_controller.train(load_gr_config(other), [str(other)])


def test_batch_norm_recalibration_of_the_exported_model(tmp_path, gr_files, make_config):
    import tensorflow as tf

    from exagan_tf.fileio import load_model_safe

    path = make_config(
        tmp_path / "t.yaml",
        gr_files["std"],
        tmp_path / "runs",
        train_params__bn_recalibration_batches=3,
    )
    assert run_controller.main([str(path), "--no-evaluate"]) == 0
    run = tmp_path / "runs" / "tiny"
    assert "re-estimated from 3 shuffled training batches" in (run / "train.log").read_text()
    # the checkpoint keeps the moving statistics of training; the exported model has new ones
    exported = load_model_safe(run / "models" / "model_epoch1.keras").get_layer("conv1_bn")
    model, _ = run_controller.build_classifier(load_gr_config(path), (16, 16, 1), "channels_last")
    ckpt = tf.train.Checkpoint(model=model)
    ckpt.restore(tf.train.latest_checkpoint(run / "checkpoints")).expect_partial()
    trained = model.get_layer("conv1_bn")
    assert not np.allclose(exported.moving_variance.numpy(), trained.moving_variance.numpy())
    assert np.array_equal(exported.gamma.numpy(), trained.gamma.numpy())  # weights unchanged


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, gr_files, make_config):
    import os
    import subprocess
    import sys

    path = make_config(
        tmp_path / "m.yaml",
        gr_files["std"],
        tmp_path / "runs",
        train_params__distribute="mirrored",
        train_params__bn_recalibration_batches=2,
    )
    env = {**os.environ, "EXAGAN_CPU_DEVICES": "2"}
    out = subprocess.run(
        [sys.executable, "-m", "exagan_tf.gr.run_controller", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    meta = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    assert meta["strategy"] == "MirroredStrategy" and meta["replicas"] == 2
    assert (tmp_path / "runs" / "tiny" / "analysis" / "epoch1" / "metrics.json").exists()
