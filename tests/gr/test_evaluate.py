"""Evaluation helpers: per-cube decisions from slice probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.gr.evaluate import classification_metrics, per_cube_metrics


def test_per_cube_metrics_averages_log_odds_of_each_cube():
    # 2 GR cubes (ids 1, 3) and 2 Newton cubes (ids 0, 2) of 3 slices each
    labels = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    cubes = np.array([1, 1, 1, 0, 0, 0, 3, 3, 3, 2, 2, 2])
    # per slice: one GR slice of cube 1 and one Newton slice of cube 2 are misread
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.4, 0.6, 0.7, 0.6, 0.45, 0.7, 0.1])
    slices = classification_metrics(labels, p)
    assert slices["accuracy"] == pytest.approx(10 / 12)
    res = per_cube_metrics(labels, p, cubes)
    assert res["n"] == 4 and res["confusion_matrix"] == [[2, 0], [0, 2]]
    assert res["roc_auc"] == 1.0
    # cube 2: mean log-odds of (0.45, 0.7, 0.1) is negative -> Newton, though one slice says GR
    lo = np.log(np.array([0.45, 0.7, 0.1]) / (1 - np.array([0.45, 0.7, 0.1]))).mean()
    assert lo < 0
    # a cube that is GR on average by probability (mean p 0.5) but not by log-odds
    p2 = p.copy()
    p2[6:9] = [0.99, 0.3, 0.2]  # mean p 0.497, mean log-odds +0.79 -> GR
    assert per_cube_metrics(labels, p2, cubes)["confusion_matrix"] == [[2, 0], [0, 2]]


def test_per_cube_metrics_rejects_mixed_labels():
    with pytest.raises(UserError, match="both labels"):
        per_cube_metrics(np.array([1, 0]), np.array([0.6, 0.4]), np.array([5, 5]))
    with pytest.raises(UserError, match="expected equal"):
        per_cube_metrics(np.array([1, 0]), np.array([0.6]), np.array([5, 6]))


def test_untrained_network_is_the_runs_start_and_scores_near_chance(
    tmp_path, gr_files, make_config, capsys
):
    """A run of 0 epochs exports the network it starts from: the untrained network of its
    config has the same weights and the same scores; a run evaluated before the untrained
    scores existed gets them added, the rest kept."""
    import json

    from exagan_tf.fileio import load_model_safe
    from exagan_tf.gr import evaluate, run_controller
    from exagan_tf.gr.config import load_gr_config

    path = make_config(tmp_path / "t.yaml", gr_files["std"], tmp_path / "runs",
                       train_params__epochs=0)
    assert run_controller.main([str(path)]) == 0
    capsys.readouterr()
    out = tmp_path / "runs" / "tiny" / "analysis" / "epoch0"
    metrics = json.loads((out / "metrics.json").read_text())
    cfg = load_gr_config(path)
    start = load_model_safe(tmp_path / "runs" / "tiny" / "models" / "model_epoch0.keras")
    fresh = evaluate.untrained_model(cfg, (16, 16, 1), "channels_last")
    assert len(fresh.weights) == len(start.weights) == 17  # 3 conv + 3 batch norm + 2 dense
    for a, b in zip(fresh.weights, start.weights, strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), a.path
    unt = metrics["untrained"]
    assert unt["seed"] == 0 and unt["n"] == 2 * 2 * 3 * 16
    for key in ("roc_auc", "accuracy", "confusion_matrix"):
        assert unt[key] == metrics["cnn"][key]  # epoch 0: the trained network is the untrained
        assert metrics["untrained_per_cube"][key] == metrics["cnn_per_cube"][key]
    assert abs(unt["roc_auc"] - 0.5) < 0.15  # near chance, not at it
    # an evaluation without the untrained entries (written before they existed) gets them
    old = {k: v for k, v in metrics.items() if not k.startswith("untrained")}
    (out / "metrics.json").write_text(json.dumps(old))
    assert evaluate.main([str(path)]) == 0
    table = capsys.readouterr().out
    again = json.loads((out / "metrics.json").read_text())
    assert again == metrics
    assert "floor: chance" in table and "RACOON untrained (seed 0)" in table
    row = next(t for t in table.splitlines() if t.startswith("RACOON untrained (seed 0)"))
    assert row.split()[4:6] == [f"{unt['roc_auc']:.3f}", f"{unt['accuracy']:.3f}"]
    # any seeds, without a trained model and without writing
    (out / "metrics.json").unlink()
    assert evaluate.main([str(path), "--untrained-seeds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"RACCOON untrained, seed 0: slice AUC {unt['roc_auc']:.3f}")
    assert lines[1].startswith("RACCOON untrained, seed 1: slice AUC ")
    assert lines[0][30:] != lines[1][30:]  # another seed, another network
    assert lines[2].startswith("range over 2 seeds, per slice: AUC ")
    assert not (out / "metrics.json").exists()
