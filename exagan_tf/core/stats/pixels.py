"""One-point (pixel-value) statistics: histograms, their chi-squares and the two-sample KS.

- :func:`pixel_histogram` and :func:`chisq_hist`: the original ExaGAN metric, 25 linear bins
  over the validation set's range, raw counts, ``sum((val - gen)**2 / val)`` without the 5
  highest bins. Equally spaced explicit edges are applied arithmetically (numpy sorts the data
  for explicit edges, several times slower) with the counts corrected to be exactly numpy's.
- :func:`pixel_ks`: the exact two-sample Kolmogorov-Smirnov statistic of the pixels, on a
  fixed-seed subsample of at most ``DEFAULT_MAX_PIXELS`` pixels per set.
- :func:`hist_chisq_per_bin`: a per-bin histogram chi-square with errors from the scatter of
  per-image histograms (pixels of a cosmological field are strongly correlated, so Poisson
  errors understate the spread), about 1 when the sets agree; the per-image histograms are one
  ``bincount`` per chunk of images.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from exagan_tf.core.stats.batch import _chunks, as_image_batch
from exagan_tf.errors import UserError

#: Number of pixel-histogram bins of the original.
ORIGINAL_HIST_BINS = 25
#: The original's histogram chi-square leaves out this many highest bins (the sparse tail).
ORIGINAL_HIST_SKIP_LAST = 5
#: Pixel statistics subsample each set to at most this many pixels (deterministically).
DEFAULT_MAX_PIXELS = 2**20


def pixel_histogram(
    images: ArrayLike,
    bins: int | ArrayLike = ORIGINAL_HIST_BINS,
    range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of all pixel values of a set of images, as the original computes it.

    Raw counts over the whole set (not normalised, not per image), ``np.histogram`` semantics:
    ``bins`` equal-width bins spanning the set's minimum to maximum value unless ``range`` or
    explicit edges are given; values outside the edges are not counted (the original bins the
    generated set into the validation set's edges this way).

    Returns:
        ``(edges, counts)`` with shapes ``(nbins + 1,)`` and ``(nbins,)`` (int64).
    """
    x = as_image_batch(images)
    if np.ndim(bins) == 1:
        edges = np.asarray(bins, dtype=np.float64)
        widths = np.diff(edges)
        if edges.size >= 2 and np.all(widths > 0) and np.allclose(widths, widths[0], rtol=1e-9):
            return edges, _histogram_equal_edges(x.reshape(-1), edges)
    counts, edges = np.histogram(x.reshape(-1), bins=bins, range=range)
    return edges, counts.astype(np.int64)


def _histogram_equal_edges(flat: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(flat, bins=edges)`` for equally spaced ``edges``, without sorting.

    Given an array of edges numpy sorts the data, several times slower than its own path for a
    number of bins; here the bin index is computed arithmetically and then corrected against the
    actual edges, so the counts are exactly numpy's (``[e_i, e_i+1)``, last bin closed).
    """
    nb = edges.size - 1
    scale = nb / (edges[-1] - edges[0])
    counts = np.zeros(nb, dtype=np.int64)
    block = 1 << 20  # bounded temporaries
    for start in range(0, flat.size, block):
        a = np.asarray(flat[start : start + block], dtype=np.float64)
        a = a[(a >= edges[0]) & (a <= edges[-1])]  # drops out-of-range and NaN
        idx = ((a - edges[0]) * scale).astype(np.intp)
        np.minimum(idx, nb - 1, out=idx)
        idx[a < edges[idx]] -= 1  # rounding put it one bin too high
        up = (a >= edges[idx + 1]) & (idx < nb - 1)  # or one too low
        idx[up] += 1
        counts += np.bincount(idx, minlength=nb)
    return counts


def _hist_pair(val, gen, bins):
    """Validation histogram, and the generated one in the same edges scaled to val's size."""
    v = as_image_batch(val, "val_images")
    g = as_image_batch(gen, "gen_images")
    edges, vh = pixel_histogram(v, bins=bins)
    _, gh = pixel_histogram(g, bins=edges)
    # The original draws as many generated images as validation images; scaling by the pixel
    # ratio keeps the statistic meaningful for unequal sets and is a no-op for equal ones.
    return edges, vh.astype(np.float64), gh * (v.size / g.size)


def chisq_hist(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    *,
    bins: int = ORIGINAL_HIST_BINS,
    skip_last: int = ORIGINAL_HIST_SKIP_LAST,
) -> float:
    """The original pixel-histogram chi-square, ``sum((val - gen)**2 / val)``.

    Both sets in counts space. ``bins`` equal-width bins over the validation set's value range;
    the generated counts are scaled by ``val pixels / gen pixels`` (a no-op for equal sets, as in
    the original); the ``skip_last`` highest bins are left out. Bins where the validation count
    is 0 are skipped (the original returned inf or nan there). Lower is better; the value grows
    with the number of pixels, so compare runs only at equal validation set size.
    """
    _, vh, gh = _hist_pair(val_images, gen_images, bins)
    if skip_last:
        vh, gh = vh[:-skip_last], gh[:-skip_last]
    ok = vh > 0
    return float(np.sum((vh[ok] - gh[ok]) ** 2 / vh[ok]))


def _pixel_sample(x: np.ndarray, max_pixels: int, seed: int) -> np.ndarray:
    flat = x.reshape(-1)
    if flat.size > max_pixels:
        # Fixed-seed random pixels (not a stride, which could alias with the image grid), drawn
        # with replacement: as good for the KS statistic and much cheaper than a permutation.
        rng = np.random.default_rng(seed)
        flat = flat[rng.integers(0, flat.size, size=max_pixels)]
    flat = np.asarray(flat, dtype=np.float64)
    return flat[~np.isnan(flat)]


def pixel_ks(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    seed: int = 0,
) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``D = sup_x |F_val(x) - F_gen(x)|`` of pixels.

    Exact for the pixels used: both empirical CDFs (right-continuous) are evaluated at every
    pixel value of either set, so ties in integer-valued counts are handled correctly. A set
    with more than ``max_pixels`` pixels is replaced by ``max_pixels`` of its pixels drawn at
    random (fixed seed, with replacement; the same positions in both sets when their sizes are
    equal, so identical sets still give 0); D then carries a sampling error of about
    ``1 / sqrt(max_pixels)``. NaN pixels are ignored. 0 for identical sets, 1 for disjoint ones.
    """
    a = np.sort(_pixel_sample(as_image_batch(val_images, "val_images"), max_pixels, seed))
    b = np.sort(_pixel_sample(as_image_batch(gen_images, "gen_images"), max_pixels, seed))
    if a.size == 0 or b.size == 0:
        return float("nan")
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for x in arrays:
        xmin, xmax = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(xmin) and np.isfinite(xmax)):
            finite = x[np.isfinite(x)]
            if finite.size == 0:
                continue
            xmin, xmax = float(finite.min()), float(finite.max())
        lo, hi = min(lo, xmin), max(hi, xmax)
    if not np.isfinite(lo):
        raise UserError("images: no finite pixel values to histogram")
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _per_image_counts(x: np.ndarray, edges_t: np.ndarray, transform) -> np.ndarray:
    """Histogram of every image separately: ``(n, nbins)`` counts, one bincount per chunk.

    Bins are half-open ``[e_i, e_i+1)`` in transformed space, the last one closed; values
    outside the edges or non-finite are not counted. Equal-width edges (the usual case) are
    applied arithmetically in float32, which is exact enough: the statistic only needs both
    sets binned the same way.
    """
    n = x.shape[0]
    nb = edges_t.size - 1
    widths = np.diff(edges_t)
    uniform = np.allclose(widths, widths[0], rtol=1e-9)
    counts = np.empty((n, nb))
    for sl in _chunks(n):
        m = sl.stop - sl.start
        if uniform:
            # a private copy: the in-place steps below must never touch the caller's array
            t = transform(np.array(x[sl], dtype=np.float32).reshape(m, -1))
            t -= np.float32(edges_t[0])
            t *= np.float32(nb / (edges_t[-1] - edges_t[0]))
            with np.errstate(invalid="ignore"):
                idx = np.floor(t, out=t)
                idx[idx == nb] = nb - 1  # the last edge itself: closed last bin
                bad = ~((idx >= 0) & (idx < nb))  # also NaN
                idx[bad] = nb
            idx = idx.astype(np.intp)
        else:
            t = transform(np.asarray(x[sl], dtype=np.float64).reshape(m, -1))
            idx = np.searchsorted(edges_t, t, side="right") - 1
            idx[t == edges_t[-1]] = nb - 1
            idx[~((idx >= 0) & (idx < nb))] = nb
        idx += (nb + 1) * np.arange(m)[:, None]
        chunk_counts = np.bincount(idx.ravel(), minlength=m * (nb + 1)).reshape(m, nb + 1)
        counts[sl] = chunk_counts[:, :nb]
    return counts


def hist_chisq_per_bin(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    bins: int | ArrayLike = ORIGINAL_HIST_BINS,
    *,
    errors: str = "sample",
    log: bool = True,
) -> float:
    """Pixel-histogram chi-square per bin with proper errors (about 1 when the sets agree).

    Each set's histogram is expressed as fractions of its pixels, ``f_b``, and compared bin by
    bin: ``chi2 = sum_b (f_val - f_gen)**2 / (s_val**2 + s_gen**2)``, divided by the number of
    bins with a nonzero error. With ``errors="sample"`` (default) ``s**2`` is the variance of
    the per-image fractions divided by the number of images, which accounts for the strong
    pixel-to-pixel correlations of cosmological fields (Poisson errors would not); it needs at
    least 2 images per set. ``errors="poisson"`` uses ``s**2 = f / n_pixels``. For two
    independent sets from one distribution the result is about 1 (about 0.9 for strongly
    skewed pixel distributions, whose per-set mean and variance estimates are correlated).

    Args:
        bins: number of bins, or explicit edges in value space.
        log: with a number of bins, space them evenly in ``log(1 + x)`` (resolving the bulk of
            a heavy-tailed counts distribution) when all values are > -1, else linearly; the
            range spans the finite values of both sets, so no pixel is lost.
    """
    v, g = two_image_sets(val_images, gen_images, errors)
    if np.ndim(bins) == 0:
        lo, hi = _finite_range(v, g)
        use_log = log and lo > -1.0
        transform = np.log1p if use_log else _identity
        t_lo, t_hi = (np.log1p(lo), np.log1p(hi)) if use_log else (lo, hi)
        edges_t = np.linspace(t_lo, t_hi, int(bins) + 1)
    else:
        edges_t = np.asarray(bins, dtype=np.float64)
        transform = _identity
        if edges_t.ndim != 1 or edges_t.size < 2 or np.any(np.diff(edges_t) <= 0):
            raise UserError(f"bins: {bins!r} are not increasing bin edges")
    stats = []
    for x in (v, g):
        frac = _per_image_counts(x, edges_t, transform) / (x.shape[1] * x.shape[2])
        mean = frac.mean(axis=0)
        if errors == "sample":
            var = frac.var(axis=0, ddof=1) / x.shape[0]
        else:
            var = mean / x.size
        stats.append((mean, var))
    return chisq_per_bin(*stats)


def two_image_sets(val_images: ArrayLike, gen_images: ArrayLike,
                   errors: str) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as image batches, checked for a per-bin chi-square with ``errors`` "sample"
    (2 or more images per set) or "poisson"."""
    v = as_image_batch(val_images, "val_images")
    g = as_image_batch(gen_images, "gen_images")
    if errors not in ("sample", "poisson"):
        raise UserError(f"errors: {errors!r} is not 'sample' or 'poisson'")
    if errors == "sample" and min(v.shape[0], g.shape[0]) < 2:
        raise UserError("errors='sample' needs at least 2 images per set; use errors='poisson'")
    return v, g


def chisq_per_bin(a: tuple, b: tuple) -> float:
    """Chi-square per bin of two per-bin estimates ``(mean, variance)`` (arrays of one shape):
    sum over bins of (mean_a - mean_b)^2 / (var_a + var_b), divided by the number of bins
    with a positive variance (bins where both are zero are left out; none left: 0)."""
    (ma, va), (mb, vb) = a, b
    denom = va + vb
    use = denom > 0
    if not np.any(use):
        return 0.0
    return float(np.sum((ma[use] - mb[use]) ** 2 / denom[use]) / np.count_nonzero(use))
