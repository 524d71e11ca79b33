"""Yardsticks for ExaGAN samples: the validation reference and the floors a generator is read by.

A statistic of generated images against validation images means little alone; it is read
against what real images score on the same comparison. Two such floors are made here, on the
same reference set and with the same number of images as the generated set:

- **same universes**: the validation images interleaved with the reference (``val[1::2]``
  against ``val[0::2]``), i.e. neighbouring slices and tiles of the *same* universes. This is the
  original kind of floor. It is correlated with the reference and therefore tighter than any
  generator can be.
- **independent universes**: images of the *training* universes, never in the validation set
  (``slice_universes`` splits by universe), drawn at random in several disjoint draws. This is
  what a perfect generator of the training data scores: the same population of universes,
  other realisations and other cosmologies (Omega_m, sigma8, n_s, H0 each within +-10%).

Measured on the demo data (3 validation, 6 training universes, 384 images per set, 3 draws):
same universes pk_frac_err 0.019, pixel KS 0.0008, hist_chisq_dof 0.47; independent universes
0.032 (draws 0.018-0.040), 0.0044 (0.0037-0.0047), 1.47 (1.26-1.75): 1.7x, 5x and 3x the
same-universe floor. Draws are taken from all training universes at once: a single training
universe scores 0.045-0.13, 0.002-0.020 and 1.0-15 (what a perfect generator of one of them,
i.e. of one cosmology, would score).

The reference is spread over every validation universe: ``n`` images taken in equal shares
from each validation shard, evenly spaced inside it (:func:`read_spread`), so that more
validation universes make a better reference instead of being ignored (``read_images`` takes the
first ``n`` images in file order, i.e. the first universes only).

How many validation universes a P(k) comparison needs is measured by :func:`universe_scatter`
(``python -m exagan_tf.cosmo.yardsticks FOLDER``): from the per-universe geometric-mean spectra
of a pool of sliced universes it evaluates ``pk_frac_err`` between random disjoint sets of N and
M universes, exactly the suite's statistic for sets with equal images per universe, and fits
``pk_frac_err ~ c sqrt(1/N + 1/M)``; the floor of a perfect generator against N reference
universes is then ``c / sqrt(N)`` (M -> infinity). Numbers in the README.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from exagan_tf.cosmo import data as cosmo_data
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import open_h5

#: Labels of the floors, as printed by ``analyze`` and written to metrics.json and TensorBoard.
FLOOR_SAME = "floor, same universes"
FLOOR_INDEPENDENT = "floor, independent universes"
FLOOR_DESCRIPTIONS = {
    FLOOR_SAME: "validation images interleaved with the reference: neighbouring slices and "
    "tiles of the same validation universes (correlated with the reference; a lower bound)",
    FLOOR_INDEPENDENT: "images of the training universes (none in the reference) against the "
    "reference, several disjoint random draws: what a perfect generator of the training data "
    "scores",
}
#: Independent-floor draws made by default, and the seed that picks their images (fixed, so
#: runs with different training seeds are read against the same floor).
DEFAULT_DRAWS = 3
DRAW_SEED = 0


# ----------------------------------------------------------------------------- reading images
def spread_indices(total: int, n: int) -> np.ndarray:
    """``min(n, total)`` increasing indices in ``range(total)``, evenly spaced from 0."""
    n = min(int(n), int(total))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    return (np.arange(n, dtype=np.int64) * total) // n


def _read_indices(path: Path, idx: np.ndarray) -> np.ndarray:
    """Images ``idx`` (any order) of one shard as float32 counts, in the order of ``idx``."""
    if idx.size == 0:
        return np.zeros((0,), dtype=np.float32)
    order = np.argsort(idx, kind="stable")
    try:
        with h5py.File(path, "r") as f:
            rows = f[cosmo_data.DATASET][np.sort(idx)]
    except OSError as err:
        raise UserError(f"{path}: cannot read {idx.size} images ({err})") from None
    out = np.empty_like(rows, dtype=np.float32)
    out[order] = rows
    return out


def _quotas(counts: list[int], n: int) -> list[int]:
    """Equal shares of ``n`` images per file (the first files take the remainder), capped at each
    file's size, with what a small file cannot give passed on to the others."""
    quotas = [0] * len(counts)
    left = min(n, sum(counts))
    while left > 0:
        open_files = [i for i, c in enumerate(counts) if quotas[i] < c]
        share, extra = divmod(left, len(open_files))
        for rank, i in enumerate(open_files):
            add = min(share + (rank < extra), counts[i] - quotas[i])
            quotas[i] += add
            left -= add
    return quotas


def read_spread(files: list[Path], n: int, img_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images spread over ``files``: equal shares per file, evenly spaced inside each.

    Returns ``(images (m, H, W) float32, file index of each image)``; ``m = min(n, total)``.
    With ``n`` at least the total every image is read, in file order (as ``read_images``).
    """
    counts = cosmo_data.check_shards(files, img_dim)
    parts, owner = [], []
    for i, (path, q) in enumerate(zip(files, _quotas(counts, n), strict=True)):
        if q:
            parts.append(_read_indices(path, spread_indices(counts[i], q)))
            owner.append(np.full(q, i))
    if not parts:
        raise UserError(f"{files[0].parent}: no images to read")
    return np.concatenate(parts), np.concatenate(owner)


def random_draws(
    files: list[Path], n: int, draws: int, img_dim: int, seed: int = DRAW_SEED
) -> tuple[list[np.ndarray], bool]:
    """``draws`` sets of ``n`` images drawn at random from all images of ``files``.

    The draws are disjoint blocks of one seeded permutation when the files hold ``draws * n``
    images, otherwise each draw is its own permutation (they then share images). Returns the
    draws and whether they are disjoint.
    """
    counts = cosmo_data.check_shards(files, img_dim)
    total = sum(counts)
    if n > total:
        raise UserError(
            f"{files[0].parent}: {total} images, fewer than the {n} of one floor draw"
        )
    rng = np.random.default_rng(seed)
    disjoint = draws * n <= total
    perm = rng.permutation(total)
    picks = []
    for d in range(draws):
        picks.append(perm[d * n : (d + 1) * n] if disjoint else rng.permutation(total)[:n])
    starts = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for pick in picks:
        images = np.empty((n, img_dim, img_dim), dtype=np.float32)
        owner = np.searchsorted(starts, pick, side="right") - 1
        for i in np.unique(owner):
            where = np.flatnonzero(owner == i)
            images[where] = _read_indices(files[i], pick[where] - starts[i])
        out.append(images)
    return out, disjoint


def _universe_ids(files: list[Path]) -> dict[str, Path]:
    """The universe each shard was sliced from (``source`` attribute of slice_universes shards);
    shards without it (made by other tools) are not listed."""
    ids = {}
    for path in files:
        with open_h5(path) as f:
            source = f.attrs.get("source")
        if source is not None:
            ids[source.decode() if isinstance(source, bytes) else str(source)] = path
    return ids


# ------------------------------------------------------------------------------- the floors
@dataclass
class Yardsticks:
    """The reference set and the real-image sets judged against it (all counts, (n, H, W)).

    ``ref``: validation images; ``same``: other validation images of the same universes;
    ``independent``: draws of training-universe images, each ``len(ref)`` images.
    """

    ref: np.ndarray
    same: np.ndarray
    independent: list[np.ndarray]
    disjoint: bool
    val_universes: int
    train_universes: int

    def describe(self) -> dict:
        """What the sets are, for metrics.json and logs."""
        return {
            "reference": f"{len(self.ref)} validation images spread over "
            f"{self.val_universes} validation universe(s)",
            "images_per_set": len(self.ref),
            "val_universes": self.val_universes,
            "train_universes": self.train_universes,
            "independent_draws": len(self.independent),
            "independent_draws_disjoint": self.disjoint,
            "floors": FLOOR_DESCRIPTIONS,
        }


def load_yardsticks(
    datadir: str | Path,
    dataname: str,
    img_dim: int,
    n: int,
    draws: int = DEFAULT_DRAWS,
    seed: int = DRAW_SEED,
) -> Yardsticks:
    """Read ``n`` validation images spread over the validation universes, split them into the
    reference ``val[0::2]`` and the same-universe set ``val[1::2]``, and draw ``draws`` sets of
    as many training-universe images. A shard sliced from the same universe in both splits is a
    one-line error (the independent floor would not be independent)."""
    val_files = cosmo_data.shard_files(datadir, dataname, "val")
    train_files = cosmo_data.shard_files(datadir, dataname, "train")
    val_ids, train_ids = _universe_ids(val_files), _universe_ids(train_files)
    common = sorted(set(val_ids) & set(train_ids))
    if common:
        source = common[0]
        raise UserError(
            f"{train_ids[source]} and {val_ids[source]}: both sliced from universe {source}; "
            "the independent floor needs training and validation universes to differ"
        )
    if draws < 1:
        raise UserError(f"draws={draws}: need at least one independent-floor draw")
    val, _ = read_spread(val_files, n, img_dim)
    half = len(val) // 2
    if half < 2:
        raise UserError(f"{val_files[0].parent}: {len(val)} validation images; need at least 4")
    ref, same = val[0 : 2 * half : 2], val[1 : 2 * half : 2]
    independent, disjoint = random_draws(train_files, half, draws, img_dim, seed)
    return Yardsticks(ref, same, independent, disjoint, len(val_files), len(train_files))


def spread_of(draws: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median, min and max over draws of each statistic."""
    keys = draws[0].keys()
    return {
        name: {k: float(fn([d[k] for d in draws])) for k in keys}
        for name, fn in (("median", np.median), ("min", np.min), ("max", np.max))
    }


def floor_statistics(yard: Yardsticks, stats_fn: Callable) -> dict:
    """``{FLOOR_SAME: stats, FLOOR_INDEPENDENT: {"draws": [...], "median"/"min"/"max": ...}}``
    with ``stats_fn(ref, other)`` (e.g. ``stats.summary_statistics``)."""
    draws = [stats_fn(yard.ref, d) for d in yard.independent]
    return {
        FLOOR_SAME: stats_fn(yard.ref, yard.same),
        FLOOR_INDEPENDENT: {"draws": draws, **spread_of(draws)},
    }


def monitor_yardsticks(cfg, logger: logging.Logger) -> tuple[Yardsticks, dict]:
    """The training monitor's reference and floors, for every model kind: ``2 n_eval``
    validation images spread over the validation universes (the reference is half of them) and
    the floors of :func:`floor_statistics` with ``summary_statistics``, logged
    (:func:`log_floors`); the same sets as ``analyze`` with its default ``--n``."""
    from exagan_tf.core import stats

    yard = load_yardsticks(cfg.datadir, cfg.dataname, cfg.img_dim, 2 * cfg.n_eval)
    floors = floor_statistics(yard, stats.summary_statistics)
    log_floors(floors, yard, logger)
    return yard, floors


def log_floors(floors: dict, yard: Yardsticks, logger: logging.Logger) -> None:
    """One line per floor in the training log (independent: median [min, max] per statistic)."""
    d = yard.describe()
    logger.info(
        f"reference: {d['reference']}; independent floor from {d['train_universes']} training "
        f"universe(s), {d['independent_draws']} draw(s) of {d['images_per_set']}"
    )
    same = " ".join(f"{k}={v:.4g}" for k, v in floors[FLOOR_SAME].items())
    logger.info(f"{FLOOR_SAME} (interleaved validation halves): {same}")
    ind = floors[FLOOR_INDEPENDENT]
    shown = " ".join(
        f"{k}={ind['median'][k]:.4g} [{ind['min'][k]:.4g}, {ind['max'][k]:.4g}]"
        for k in ind["median"]
    )
    logger.info(f"{FLOOR_INDEPENDENT} (training vs validation, median [min, max]): {shown}")


def tensorboard_lines(floors: dict) -> dict[str, dict[str, float]]:
    """Floors as TensorBoard runs (sub-folder name -> statistics), drawn on the model's charts:
    the same-universe floor and each independent draw."""
    lines = {"floor_same_universes": floors[FLOOR_SAME]}
    for i, d in enumerate(floors[FLOOR_INDEPENDENT]["draws"]):
        lines[f"floor_independent_{i}"] = d
    return lines


# ------------------------------------------------------------ how many validation universes
def universe_spectra(files: list[Path], img_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, lnG)``: per shard (universe) the log of its images' geometric-mean spectrum
    ``(n_files, nk)``, by :func:`exagan_tf.core.stats.power_spectrum_2d`.

    Every spectrum uses ``mu = 1``: one constant for all, which scales P(k) without changing
    any k > 0 mode, so ratios between sets are those ``summary_statistics`` gives (where both
    sets use the reference's mean).
    """
    from exagan_tf.core import stats

    tiny = np.finfo(np.float64).tiny
    out, k = [], None
    for path in files:
        images = cosmo_data.read_images([path], None, img_dim)
        k, pk = stats.power_spectrum_2d(images, mean=1.0)
        out.append(np.log(np.maximum(pk, tiny)).mean(axis=0))
    return k, np.stack(out)


def set_pk_frac_err(k: np.ndarray, ln_a: np.ndarray, ln_b: np.ndarray) -> float:
    """``pk_frac_err`` between two sets of universes with equal images per universe, from their
    per-universe log spectra ``(N, nk)`` and ``(M, nk)``: the set's geometric-mean spectrum is
    then the geometric mean of its universes' ones."""
    from exagan_tf.core import stats

    return stats.pk_mean_fractional_error(
        np.exp(ln_a.mean(axis=0)), np.exp(ln_b.mean(axis=0)), k, average="geometric"
    )


def universe_scatter(
    k: np.ndarray,
    ln_spectra: np.ndarray,
    pairs: list[tuple[int, int]],
    draws: int = 500,
    seed: int = 0,
) -> dict:
    """``pk_frac_err`` between random disjoint sets of N and M universes of a pool.

    For every ``(N, M)`` in ``pairs`` (N + M at most the pool), ``draws`` random disjoint pairs
    of sets; their mean, median and 95th percentile. Then the least-squares fit of the means to
    ``c sqrt(1/N + 1/M)`` (the scatter of a mean over independent universes) and the ratio of
    95th percentile to mean (median over pairs), which give the floor of a perfect generator
    (M -> infinity) against N reference universes: mean ``c / sqrt(N)``, 95% below
    ``q95 c / sqrt(N)``.
    """
    pool = ln_spectra.shape[0]
    rng = np.random.default_rng(seed)
    rows = []
    for n, m in pairs:
        if n < 1 or m < 1 or n + m > pool:
            raise UserError(f"sets of {n} and {m} universes: need 1 <= N, M and N + M <= {pool}")
        values = np.empty(draws)
        for d in range(draws):
            perm = rng.permutation(pool)
            values[d] = set_pk_frac_err(k, ln_spectra[perm[:n]], ln_spectra[perm[n : n + m]])
        rows.append({
            "n": n, "m": m, "mean": float(values.mean()), "median": float(np.median(values)),
            "p95": float(np.quantile(values, 0.95)), "std": float(values.std(ddof=1)),
        })
    x = np.array([np.sqrt(1 / r["n"] + 1 / r["m"]) for r in rows])
    y = np.array([r["mean"] for r in rows])
    c = float(x @ y / (x @ x))
    for r, xi in zip(rows, x, strict=True):
        r["fit"] = c * float(xi)
    q95 = float(np.median([r["p95"] / r["mean"] for r in rows]))
    return {"pool": pool, "draws": draws, "rows": rows, "c": c, "q95_over_mean": q95}


def universes_needed(fit: dict, target: float) -> dict[str, int]:
    """Reference universes for a perfect generator's pk_frac_err to be below ``target`` on
    average, and in 95% of references (from :func:`universe_scatter`'s fit)."""
    c, q = fit["c"], fit["q95_over_mean"]
    return {
        "mean": int(np.ceil((c / target) ** 2)),
        "p95": int(np.ceil((q * c / target) ** 2)),
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.cosmo.yardsticks",
        description="P(k) scatter between sets of N and M universes, and the validation "
        "universes a comparison needs to resolve a target pk_frac_err",
    )
    p.add_argument("folders", nargs="+", help="slice_universes output folders (train/ and val/ "
                   "shards of every folder form the pool of universes)")
    p.add_argument("--img-dim", type=int, default=64, help="image side of the shards")
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8],
                   help="N of the sets compared (each against N and against the rest)")
    p.add_argument("--draws", type=int, default=500, help="random pairs of sets per (N, M)")
    p.add_argument("--target", type=float, default=0.05, help="pk_frac_err to resolve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    return p.parse_args(argv)


@cli_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    files = []
    for folder in args.folders:
        for split in ("train", "val"):
            files += sorted((Path(folder) / split).glob("*.h5"))
    if len(files) < 2:
        raise UserError(f"{', '.join(args.folders)}: {len(files)} shard(s); need 2 or more")
    if args.draws < 2:
        raise UserError(f"--draws={args.draws}: need at least 2")
    k, ln = universe_spectra(files, args.img_dim)
    pool = len(files)
    pairs = []
    for n in args.sizes:
        for m in sorted({n, pool - n}):
            if 1 <= n and 1 <= m and n + m <= pool:
                pairs.append((n, m))
    fit = universe_scatter(k, ln, pairs, args.draws, args.seed)
    need = universes_needed(fit, args.target)
    print(f"{pool} universes, {args.draws} draws per row; pk_frac_err between disjoint sets")
    print(f"{'N':>4}{'M':>5}{'mean':>9}{'median':>9}{'p95':>9}{'fit':>9}")
    for r in fit["rows"]:
        print(f"{r['n']:>4}{r['m']:>5}{r['mean']:>9.4f}{r['median']:>9.4f}{r['p95']:>9.4f}"
              f"{r['fit']:>9.4f}")
    print(f"fit: pk_frac_err = {fit['c']:.4f} sqrt(1/N + 1/M); p95/mean {fit['q95_over_mean']:.2f}")
    for n in (1, 2, 4, 8, 16, 32, 64):
        floor = fit["c"] / np.sqrt(n)
        print(f"perfect generator vs {n:>2} reference universes: mean {floor:.4f}, "
              f"95% below {fit['q95_over_mean'] * floor:.4f}")
    print(f"to resolve pk_frac_err {args.target}: {need['mean']} reference universes "
          f"(mean floor), {need['p95']} (95% of references)")
    if args.json:
        from exagan_tf.fileio import write_json_atomic

        write_json_atomic(Path(args.json), {**fit, "needed": need, "target": args.target,
                                            "files": [str(f) for f in files]}, overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
