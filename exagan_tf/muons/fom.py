"""BDT figure of merit of generated muons, and the training figures.

The original (``GAN_BC.py`` ``plot_images``): train
``GradientBoostingClassifier(n_estimators=100, learning_rate=0.1, max_depth=4)`` on 50k real
(label 1) vs 50k generated (label 0) muons, apply it to 50k other real and 50k other generated
muons, histogram the two ``predict_proba[:, 1]`` outputs in 100 bins on [0, 1] and compute

* reduced chi^2 = sum_b (R_b - F_b)^2 / (R_b + F_b) / dof over the bins with R_b > 9 and
  F_b > 9 (dof = their number; 1e8 when there is none, as the original);
* overlap = sum_b min(R_b, F_b), here also as a fraction of the test size (1 = identical);
* ROC AUC of the classifier on the test samples (later versions; 0.5 = indistinguishable).

The same numbers for real vs real (two independent real samples) are the floor a perfect
generator reaches at that sample size (:func:`fom_floor`).

``classifier="hist"`` uses :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with the same
100 iterations, learning rate 0.1 and depth 4 (at most 16 leaves): features binned into 255
levels, much faster (ratio measured in ``benchmarks/bench_muons.py``).

Lower is better for ``rchi2``, ``nonoverlap`` (= 1 - overlap) and ``auc_gap`` (= |AUC - 0.5|),
the keys the training keeps best models for. (The original kept the model with the *lowest*
overlap, i.e. the worst; here the best overlap is the highest.)
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from matplotlib.colors import LogNorm

from exagan_tf.core.plots import _new_figure
from exagan_tf.errors import UserError

N_BINS = 100
MIN_ENTRIES = 9


def make_classifier(kind: str = "gbc", seed: int = 0):
    """The original GBC (``"gbc"``) or the histogram-based fast option (``"hist"``)."""
    if kind == "gbc":
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(
            n_estimators=100, learning_rate=0.1, max_depth=4, random_state=seed
        )
    if kind == "hist":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            max_depth=4,
            max_leaf_nodes=16,
            early_stopping=False,
            random_state=seed,
        )
    raise UserError(f"classifier {kind!r}: expected 'gbc' (original) or 'hist' (fast)")


def reduced_chi2(real_hist: np.ndarray, fake_hist: np.ndarray, min_entries: int = MIN_ENTRIES):
    """(reduced chi^2, dof) of two histograms over bins with more than ``min_entries`` in both."""
    r = np.asarray(real_hist, np.float64)
    f = np.asarray(fake_hist, np.float64)
    use = (r > min_entries) & (f > min_entries)
    dof = int(use.sum())
    if dof == 0:
        return 1e8, 0
    return float(np.sum((r[use] - f[use]) ** 2 / (r[use] + f[use])) / dof), dof


def _check(name: str, x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise UserError(f"FOM: {name} has shape {x.shape}, expected (n, features)")
    if len(x) < n:
        raise UserError(f"FOM: {name} has {len(x)} rows, {n} needed")
    if not np.all(np.isfinite(x[:n])):
        raise UserError(f"FOM: {name} contains NaN or infinite values")
    return x[:n]


def bdt_fom(
    real: np.ndarray,
    fake: np.ndarray,
    n_train: int = 50_000,
    n_test: int = 50_000,
    classifier: str = "gbc",
    seed: int = 0,
    keep_outputs: bool = False,
    n_threads: int | None = 1,
) -> dict:
    """The figure of merit of ``fake`` against ``real`` (each ``n_train + n_test`` rows used:
    the first ``n_train`` to train the BDT, the next ``n_test`` to test it).

    Returns rchi2, dof, overlap (fraction), overlap_count, nonoverlap, auc, auc_gap,
    fit_seconds; with ``keep_outputs`` also the test outputs ``out_real``, ``out_fake``.
    ``n_threads`` limits the OpenMP threads of the histogram BDT (None: all cores). One thread
    is the default: the original GBC is single-threaded, and on a shared machine OpenMP's
    busy-waiting made 2 threads up to 10x slower than one.
    """
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    n = n_train + n_test
    real = _check("real", real, n)
    fake = _check("generated", fake, n)
    if real.shape[1] != fake.shape[1]:
        raise UserError(f"FOM: real has {real.shape[1]} features, generated {fake.shape[1]}")
    clf = make_classifier(classifier, seed)
    x = np.concatenate([real[:n_train], fake[:n_train]])
    y = np.concatenate([np.ones(n_train), np.zeros(n_train)])
    with threadpool_limits(n_threads):
        t0 = time.perf_counter()
        clf.fit(x, y)
        fit_s = time.perf_counter() - t0
        out_real = clf.predict_proba(real[n_train:])[:, 1]
        out_fake = clf.predict_proba(fake[n_train:])[:, 1]
    rh = np.histogram(out_real, bins=N_BINS, range=(0, 1))[0]
    fh = np.histogram(out_fake, bins=N_BINS, range=(0, 1))[0]
    rchi2, dof = reduced_chi2(rh, fh)
    overlap_count = int(np.minimum(rh, fh).sum())
    auc = float(roc_auc_score(np.r_[np.ones(n_test), np.zeros(n_test)], np.r_[out_real, out_fake]))
    out = {
        "rchi2": rchi2,
        "dof": dof,
        "overlap": overlap_count / n_test,
        "overlap_count": overlap_count,
        "nonoverlap": 1.0 - overlap_count / n_test,
        "auc": auc,
        "auc_gap": abs(auc - 0.5),
        "fit_seconds": fit_s,
    }
    if keep_outputs:
        out["out_real"], out["out_fake"] = out_real, out_fake
    return out


def fom_floor(
    real_a: np.ndarray,
    real_b: np.ndarray,
    n_train: int,
    n_test: int,
    classifier: str = "gbc",
    seed: int = 0,
) -> dict:
    """The FOM of one real sample against another: what a perfect generator would score."""
    return bdt_fom(real_a, real_b, n_train, n_test, classifier, seed)


def feature_histograms_figure(real: np.ndarray, gen: np.ndarray, names, bins: int = 100):
    """1D histograms of each feature, real (black) vs generated (red)."""
    d = real.shape[1]
    fig = _new_figure((3.0 * d, 2.6))
    axes = fig.subplots(1, d)
    for i, ax in enumerate(np.atleast_1d(axes)):
        lo = min(real[:, i].min(), gen[:, i].min())
        hi = max(real[:, i].max(), gen[:, i].max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        ax.hist(real[:, i], edges, histtype="step", color="black", label="real")
        ax.hist(gen[:, i], edges, histtype="step", color="tab:red", label="generated")
        ax.set_yscale("log")
        ax.set_title(names[i], fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return fig


def pair_histograms_figure(real: np.ndarray, gen: np.ndarray, names, bins: int = 50):
    """2D histograms of each pair of features: real on the top row, generated below."""
    pairs = list(itertools.combinations(range(real.shape[1]), 2))
    fig = _new_figure((2.2 * len(pairs), 4.4))
    axes = np.array(fig.subplots(2, len(pairs))).reshape(2, len(pairs))
    for j, (a, b) in enumerate(pairs):
        rng = [[-1, 1], [-1, 1]]
        for row, data in enumerate((real, gen)):
            ax = axes[row, j]
            h, _, _ = np.histogram2d(data[:, a], data[:, b], bins, range=rng)
            ax.imshow(
                np.where(h > 0, h, np.nan).T,
                origin="lower",
                extent=(-1, 1, -1, 1),
                norm=LogNorm(),
                aspect="auto",
                cmap="viridis",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{names[a]}-{names[b]}", fontsize=7)
        axes[0, 0].set_ylabel("real")
        axes[1, 0].set_ylabel("generated")
    return fig


def bdt_output_figure(out_real: np.ndarray, out_fake: np.ndarray):
    """The BDT output distributions on the test samples (the original's ``BDT_out`` plot)."""
    fig = _new_figure((4.5, 3.2))
    ax = fig.subplots()
    edges = np.linspace(0, 1, N_BINS + 1)
    ax.hist(out_real, edges, histtype="step", color="black", label="real")
    ax.hist(out_fake, edges, histtype="step", color="tab:red", label="generated")
    ax.set_xlabel("BDT output")
    ax.legend(fontsize=8)
    return fig
