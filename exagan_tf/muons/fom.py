"""BDT figure of merit of generated muons, and the training figures.

The original (``GAN_BC.py`` ``plot_images``): train
``GradientBoostingClassifier(n_estimators=100, learning_rate=0.1, max_depth=4)`` on 50k real
(label 1) vs 50k generated (label 0) muons, apply it to 50k other real and 50k other generated
muons, histogram the two ``predict_proba[:, 1]`` outputs in 100 bins on [0, 1] and compute

* reduced chi^2 = sum_b (R_b - F_b)^2 / (R_b + F_b) / dof over the bins with R_b > 9 and
  F_b > 9 (dof = their number; 1e8 when there is none, as the original);
* overlap = sum_b min(R_b, F_b), here also as a fraction of the test size (1 = identical);
* ROC AUC of the classifier on the test samples (later versions; 0.5 = indistinguishable).

**The real sample** (:func:`heldout_real_sample`): the held-out muons are split into two
disjoint random halves, the BDT's training real muons are drawn by weight from one, its test
real muons from the other. Drawing both from all held-out rows (as this suite did before) puts
copies of the same heavy muons in both halves (weights span three decades; the effective size
of the demo's 11-17k held-out rows is 3-13k, so 10k + 10k draws repeat them): the BDT learns
those exact points as "real" and any generator that does not reproduce them scores above 0.5.
Measured on the ``make muons-demo`` data (``python -m exagan_tf.muons.report --yardstick``:
histogram BDT, 10k + 10k, 3 draws): copies of the training muons scored AUC 0.544-0.623 against
that sample, 0.493-0.504 (sd 0.002-0.007) against the disjoint halves. A BDT trained with
``sample_weight`` on the held-out rows themselves (no resampling) gave the same floor
(0.492-0.502, sd up to 0.011 in 6-D) and the same separation of a blurred copy (muons +
N(0, 0.03): 0.603-0.634 against 0.598-0.627) and of a 64-component Gaussian mixture
(0.550-0.574 against 0.545-0.572), so resampling is kept: it leaves the
original's count histograms (reduced chi^2, overlap) and the monitor's figures as they were.

**The floor** (:func:`fom_floor`) is computed the way a generator is judged: the same held-out
sample against copies of the *training* muons drawn the same way (:func:`copies_sample`: by
weight, from disjoint halves of the training rows: an i.i.d. sample of the distribution the
generator learns, no muon on both sides), ``FLOOR_DRAWS`` draws for its mean and spread. A
perfect generator scores the floor. (Copies drawn from all training rows repeat heavy muons
between the BDT's halves on the generated side, and scored 0.51-0.52 on the demo data, μ⁺ prompt
and displaced, 5 draws.)

**Memorisation** (:func:`memorisation`): the distance (in the preprocessed [-1, 1] space) from
each generated muon to its nearest training muon, against the same for the held-out real
sample; a generator returning training muons has distance 0. ``nn_ratio`` is the ratio of the
medians, ``nn_close`` the fraction of generated muons closer than the real muons' 1st
percentile (0.01 when honest; the blurred copy of the demo muons: 0.003-0.008).

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
FLOOR_DRAWS = 3  # samples of copies of the training muons behind the floor's mean and spread
NN_QUANTILE = 0.01  # memorisation: the real muons' nearest-training-muon distance quantile
MEMORISED_ABOVE = 0.05  # memorised when this fraction of generated muons is closer than it


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


def _draw(x: np.ndarray, w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``x`` drawn with probability w_i / sum(w), with replacement."""
    from exagan_tf.muons.preprocess import check_weights

    check_weights(w, "FOM")
    cdf = np.cumsum(np.asarray(w, np.float64))
    idx = np.searchsorted(cdf / cdf[-1], rng.random(n), side="right")
    return np.asarray(x, np.float64)[np.minimum(idx, len(cdf) - 1)]


def disjoint_halves_sample(
    x: np.ndarray, w: np.ndarray, n_train: int, n_test: int, seed: int = 0, where: str = "rows"
) -> np.ndarray:
    """``n_train`` rows for the BDT's training followed by ``n_test`` rows for its test, drawn
    by weight (with replacement) from two **disjoint** random halves of the rows of ``x``, so
    that no row, and no copy of one, is in both."""
    if len(x) != len(w):
        raise UserError(f"FOM: {len(x)} {where} but {len(w)} weights")
    if len(x) < 2:
        raise UserError(f"FOM: {len(x)} {where}; at least 2 needed (two disjoint halves)")
    rng = np.random.default_rng([seed, 17])
    perm = rng.permutation(len(x))
    a, b = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2 :])
    return np.concatenate([_draw(x[a], w[a], n_train, rng), _draw(x[b], w[b], n_test, rng)])


def heldout_real_sample(
    x_val: np.ndarray, w_val: np.ndarray, n_train: int, n_test: int, seed: int = 0
) -> np.ndarray:
    """The real sample a generator is judged against: :func:`disjoint_halves_sample` of the
    held-out muons."""
    return disjoint_halves_sample(x_val, w_val, n_train, n_test, seed, "held-out muons")


def copies_sample(
    x_tr: np.ndarray, w_tr: np.ndarray, n_train: int, n_test: int, seed: int = 0
) -> np.ndarray:
    """A perfect generator: copies of the training muons drawn as the real sample is (by
    weight, from disjoint halves of the rows: an i.i.d. sample of the weighted distribution
    every generator is trained to reproduce, no muon on both sides of the BDT)."""
    return disjoint_halves_sample(x_tr, w_tr, n_train, n_test, seed + 1_000_003,
                                  "training muons")


def fom_floor(
    real: np.ndarray,
    x_tr: np.ndarray,
    w_tr: np.ndarray,
    n_train: int,
    n_test: int,
    classifier: str = "gbc",
    seed: int = 0,
    draws: int = FLOOR_DRAWS,
) -> dict:
    """What a perfect generator scores: :func:`bdt_fom` of ``real`` (the held-out sample a
    generator is judged against) and ``draws`` independent samples of copies of the training
    rows (:func:`copies_sample`), each with its own BDT seed.

    Returns the mean of each FOM key over the draws, and ``auc_draws``, ``auc_sd`` (sample
    standard deviation; 0 for one draw), ``auc_min``, ``auc_max``, ``draws``.
    """
    if draws < 1:
        raise UserError(f"FOM floor: draws={draws}, expected at least 1")
    runs = [
        bdt_fom(real, copies_sample(x_tr, w_tr, n_train, n_test, seed + k), n_train, n_test,
                classifier, seed + k)
        for k in range(draws)
    ]
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    aucs = [r["auc"] for r in runs]
    out.update(
        auc_draws=aucs,
        auc_sd=float(np.std(aucs, ddof=1)) if draws > 1 else 0.0,
        auc_min=min(aucs),
        auc_max=max(aucs),
        draws=draws,
    )
    return out


def memorisation(
    train_rows, real: np.ndarray, gen: np.ndarray, quantile: float = NN_QUANTILE
) -> dict:
    """Nearest-training-muon distances of generated muons against those of held-out real ones.

    ``train_rows``: the training muons (n, d) in the preprocessed space, or a
    :class:`scipy.spatial.cKDTree` of them (build it once when calling often). Returns
    ``nn_ratio`` = median distance of ``gen`` / median distance of ``real`` (about 1 for an
    honest generator, 0 for one that returns training muons, above 1 for a blurred one) and
    ``nn_close`` = fraction of ``gen`` closer to a training muon than the ``quantile`` of the
    real distances (about ``quantile`` when honest, 1 for copies); ``memorised`` when it is
    above ``MEMORISED_ABOVE``.
    """
    from scipy.spatial import cKDTree

    tree = train_rows if isinstance(train_rows, cKDTree) else cKDTree(np.asarray(train_rows))
    d_real = tree.query(np.asarray(real, np.float64), k=1)[0]
    d_gen = tree.query(np.asarray(gen, np.float64), k=1)[0]
    med = float(np.median(d_real))
    close = float(np.mean(d_gen < np.quantile(d_real, quantile)))
    return {
        "nn_ratio": float(np.median(d_gen)) / med if med > 0 else float("inf"),
        "nn_close": close,
        "memorised": close > MEMORISED_ABOVE,
    }


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
