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
