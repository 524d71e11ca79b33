"""Muon preprocessing, as the original (``create_fragments_*`` + ``combine_sample_save_*``).

Steps, streaming over many ROOT files so memory holds one file at a time:

1. **Scan** (:func:`scan_file`): read each file (``rootio.read_file``, cm and GeV/c): FairShip's
   ``pythia8-Geant4`` TNtuple/TTree, 11 or 17 leaves, the start as MuonBackGenerator takes it,
   or its simulation output ``cbmsim`` (muons at the veto); a folder may mix them. Split into
   the 4 categories (:func:`split_categories`) and keep per-file minimum and maximum of every
   feature, counts, weight sums and the largest weight. Blacklisted files (the original's rogue
   charm file) are skipped. Non-muons are skipped and counted per PDG id; the summary
   (:func:`summarise`, printed and kept in ``transform.json``) also names empty trees and
   branches that are not Float_t.
2. **Global range**: minimum of the per-file minima, maximum of the maxima; the weight
   normalisation ``w_max`` is the largest weight of the production (the original's 768.75).
3. **Normalise** (second pass over the files): u = 2 (x - min)/(max - min) - 1 in [-1, 1],
   written per category to ``<out>/<category>.h5`` (``features`` float64, ``weights`` =
   w / w_max float64).
4. **Broaden** StartX, StartY (6-D categories; third pass, over the HDF5 file in chunks):
   v = m + sign(u - m) sqrt|u - m| with m the (unweighted) mean of u, then a second min-max to
   [-1, 1] with the range of v. Everything needed to invert (min_max_1, means, min_max_2, w_max)
   is saved as plain numbers in ``<out>/transform.json`` (:class:`CategoryTransform`).

Categories (PDG: mu- = +13, mu+ = -13; prompt means StartX = StartY = 0 exactly):

==================  ==========  =====  =====================================
name                original    id     features
==================  ==========  =====  =====================================
``mup_prompt``      Category 1  -13    StartZ Px Py Pz (4-D)
``mum_prompt``      Category 2  +13    StartZ Px Py Pz (4-D)
``mup_displaced``   Category 3  -13    StartX StartY StartZ Px Py Pz (6-D)
``mum_displaced``   Category 4  +13    StartX StartY StartZ Px Py Pz (6-D)
==================  ==========  =====  =====================================

Weighted minibatches (:class:`WeightedSampler`, :func:`weighted_dataset`) draw rows with
probability w_i / sum(w), **with replacement**: i.i.d. draws are exactly the weighted
distribution the generator must learn, cost O(batch log N) by a binary search of the
cumulative weights, and are stateless-seeded per step. The original used
``np.random.choice(p=w, replace=False)``, which costs O(N) per batch and, for heavy weights,
under-represents the heaviest rows within a batch (a row cannot be drawn twice); with
N >> batch and max(p) << 1/batch the two agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import write_json_atomic

FEATURES_6 = ("StartX", "StartY", "StartZ", "Px", "Py", "Pz")
FEATURES_4 = ("StartZ", "Px", "Py", "Pz")
_KEYS = {"StartX": "x", "StartY": "y", "StartZ": "z", "Px": "px", "Py": "py", "Pz": "pz"}


@dataclasses.dataclass(frozen=True)
class Category:
    """One of the four training categories."""

    name: str
    number: int  # the original's Category 1-4
    pdg: int
    prompt: bool

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURES_4 if self.prompt else FEATURES_6

    @property
    def dim(self) -> int:
        return len(self.features)


CATEGORIES = {
    c.name: c
    for c in (
        Category("mup_prompt", 1, -13, True),
        Category("mum_prompt", 2, 13, True),
        Category("mup_displaced", 3, -13, False),
        Category("mum_displaced", 4, 13, False),
    )
}


def get_category(name: str | int) -> Category:
    """A category by name or by the original's number 1-4."""
    if str(name).isdigit():
        for c in CATEGORIES.values():
            if c.number == int(name):
                return c
    if name in CATEGORIES:
        return CATEGORIES[name]
    raise UserError(f"category {name!r}: expected one of {', '.join(CATEGORIES)} (or 1-4)")


def split_categories(muons: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Muon arrays (cm, GeV/c) -> {category: (raw weights (n,), features (n, d))}."""
    prompt = (muons["x"] == 0) & (muons["y"] == 0)
    out = {}
    for c in CATEGORIES.values():
        sel = (muons["id"] == c.pdg) & (prompt if c.prompt else ~prompt)
        feats = np.stack([muons[_KEYS[f]][sel] for f in c.features], axis=1)
        out[c.name] = (np.asarray(muons["w"][sel], dtype=np.float64), feats.astype(np.float64))
    return out


@dataclasses.dataclass
class CategoryTransform:
    """Plain parameters of one category's transform (JSON-serialisable)."""

    category: str
    features: tuple[str, ...]
    min_max_1: list[list[float]]  # (d, 2) global min and max of the raw features
    means: list[float] | None = None  # (2,) mean of normalised StartX, StartY (6-D only)
    min_max_2: list[list[float]] | None = None  # (2, 2) range after the sqrt broadening
    w_max: float = 1.0
    count: int = 0
    weight_sum: float = 0.0  # sum of raw weights

    @property
    def broadened(self) -> bool:
        return self.means is not None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CategoryTransform:
        d = dict(d)
        d["features"] = tuple(d["features"])
        return cls(**d)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Raw features (n, d) -> [-1, 1] (first min-max only)."""
        mm = np.asarray(self.min_max_1, dtype=np.float64)
        return 2.0 * (np.asarray(x, np.float64) - mm[:, 0]) / (mm[:, 1] - mm[:, 0]) - 1.0

    def broaden(self, u: np.ndarray) -> np.ndarray:
        """Normalised (n, d) -> training space: sqrt broadening of columns 0, 1 (6-D)."""
        u = np.array(u, dtype=np.float64)
        if not self.broadened:
            return u
        m = np.asarray(self.means)
        mm2 = np.asarray(self.min_max_2)
        d = u[:, :2] - m
        v = np.sign(d) * np.sqrt(np.abs(d)) + m
        u[:, :2] = 2.0 * (v - mm2[:, 0]) / (mm2[:, 1] - mm2[:, 0]) - 1.0
        return u

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Raw features (cm, GeV/c) -> training space in [-1, 1]."""
        return self.broaden(self.normalise(x))

    def inverse(self, t: np.ndarray) -> np.ndarray:
        """Training space -> raw features (cm, GeV/c): the exact inverse of :meth:`forward`."""
        t = np.array(t, dtype=np.float64)
        if self.broadened:
            m = np.asarray(self.means)
            mm2 = np.asarray(self.min_max_2)
            v = (t[:, :2] + 1.0) / 2.0 * (mm2[:, 1] - mm2[:, 0]) + mm2[:, 0]
            d = v - m
            t[:, :2] = np.sign(d) * d * d + m
        mm = np.asarray(self.min_max_1, dtype=np.float64)
        return (t + 1.0) / 2.0 * (mm[:, 1] - mm[:, 0]) + mm[:, 0]


@dataclasses.dataclass
class FileScan:
    """Per-file summary of the first pass."""

    path: str
    min_max: dict[str, list[list[float]]]  # category -> (d, 2); absent when empty
    counts: dict[str, int]
    weight_sums: dict[str, float]
    w_max: float
    report: dict | None = None  # rootio.FileReport.to_dict(): layout, skipped PDG ids, notes


def scan_file(path: str | Path) -> FileScan:
    """First pass over one file: per-category min/max, counts, weight sums, largest weight."""
    from exagan_tf.muons import rootio

    muons, report = rootio.read_file(path)
    cats = split_categories(muons)
    mm, counts, sums = {}, {}, {}
    for name, (w, f) in cats.items():
        counts[name] = len(w)
        sums[name] = float(w.sum())
        if len(w):
            mm[name] = np.stack([f.min(axis=0), f.max(axis=0)], axis=1).tolist()
    w_max = float(muons["w"].max()) if len(muons["w"]) else 0.0
    return FileScan(str(path), mm, counts, sums, w_max, report.to_dict())


def summarise(scans: list[FileScan], transforms: dict | None = None) -> list[str]:
    """Lines telling what was read: layouts, entries, muons, non-muons skipped per PDG id,
    notes per file (double branches, empty trees, ...) and, given, the categories."""
    reports = [s.report or {} for s in scans]
    layouts: dict[str, int] = {}
    for r in reports:
        layouts[r.get("layout", "?")] = layouts.get(r.get("layout", "?"), 0) + 1
    lines = [f"read {len(scans)} files: " + "; ".join(f"{n} x {k}" for k, n in layouts.items())]
    skipped: dict[int, int] = {}
    for r in reports:
        for code, n in r.get("skipped", {}).items():
            skipped[int(code)] = skipped.get(int(code), 0) + n
    entries = sum(r.get("entries", 0) for r in reports)
    muons = sum(r.get("muons", 0) for r in reports)
    line = f"{entries} entries, {muons} muons kept"
    if skipped:
        per = ", ".join(f"{c}: {n}" for c, n in sorted(skipped.items(), key=lambda x: -x[1]))
        line += f"; skipped {sum(skipped.values())} non-muons by PDG id ({per})"
    lines.append(line)
    for r in reports:
        for note in r.get("notes", []):
            lines.append(f"note: {Path(r.get('path', '?')).name}: {note}")
    if transforms:
        lines.append("categories: " + ", ".join(
            f"{k} {t.count} muons (weight sum {t.weight_sum:.6g})" for k, t in transforms.items()))
    return lines


def list_files(inputs: Iterable[str | Path], blacklist: Iterable[str] = ()) -> list[Path]:
    """ROOT files from files and folders (``*.root``, sorted), without blacklisted names."""
    black = {Path(b).name for b in blacklist}
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(p.glob("*.root")))
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"{p}: no such file or folder")
    kept = [f for f in files if f.name not in black]
    if not kept:
        raise UserError(
            f"no ROOT files left in {[str(i) for i in inputs]} "
            f"({len(files)} found, {len(files) - len(kept)} blacklisted)"
        )
    return kept


def read_blacklist(path: str | Path | None) -> list[str]:
    """File names, one per line ('#' comments allowed); None -> empty."""
    if path is None:
        return []
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such blacklist file")
    lines = (ln.split("#")[0].strip() for ln in p.read_text().splitlines())
    return [ln for ln in lines if ln]


def combine_scans(
    scans: list[FileScan], w_max: float | None = None
) -> dict[str, CategoryTransform]:
    """Global min/max of each category from the per-file scans (the second stage)."""
    if not any(sum(s.counts.values()) for s in scans):
        why = "; ".join(f"{Path(s.path).name}: " + (
            "; ".join((s.report or {}).get("notes", [])) or
            f"{(s.report or {}).get('entries', 0)} entries, none a muon "
            f"(PDG ids {sorted((s.report or {}).get('skipped', {}))})") for s in scans[:4])
        raise UserError(f"no muons in {len(scans)} files ({why})")
    if w_max is None:
        w_max = max(s.w_max for s in scans)
    if not w_max > 0:
        raise UserError(f"largest weight is {w_max}; expected positive weights")
    out = {}
    for c in CATEGORIES.values():
        per_file = [np.asarray(s.min_max[c.name]) for s in scans if c.name in s.min_max]
        count = sum(s.counts.get(c.name, 0) for s in scans)
        if count < 2:
            raise UserError(
                f"category '{c.name}' has {count} muons in {len(scans)} files; "
                "at least 2 are needed to normalise it"
            )
        stack = np.stack(per_file)
        mm = np.stack([stack[:, :, 0].min(axis=0), stack[:, :, 1].max(axis=0)], axis=1)
        flat = np.flatnonzero(mm[:, 1] <= mm[:, 0])
        if flat.size:
            raise UserError(
                f"category '{c.name}': feature {c.features[flat[0]]} is constant "
                f"({mm[flat[0], 0]}); cannot min-max normalise"
            )
        out[c.name] = CategoryTransform(
            c.name,
            c.features,
            mm.tolist(),
            w_max=float(w_max),
            count=int(count),
            weight_sum=float(sum(s.weight_sums.get(c.name, 0.0) for s in scans)),
        )
    return out


def preprocess(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    blacklist: Iterable[str] = (),
    w_max: float | None = None,
    broaden: bool = True,
    chunk: int = 262144,
    progress: bool = True,
) -> dict[str, CategoryTransform]:
    """Run the whole preprocessing; returns the transforms (also in ``out_dir/transform.json``)."""
    import h5py

    from exagan_tf.muons import rootio

    out_dir = Path(out_dir)
    files = list_files(inputs, blacklist)
    if (out_dir / "transform.json").exists():
        raise UserError(f"{out_dir}/transform.json exists; refusing to overwrite preprocessed data")
    t0 = time.perf_counter()

    def log(msg, done: float | None = None):
        """Elapsed time, ``msg`` and, given the fraction ``done`` of the work, the time left."""
        if progress:
            elapsed = time.perf_counter() - t0
            left = ""
            if done:
                left = " | left " + time.strftime("%H:%M:%S", time.gmtime(elapsed / done
                                                                          - elapsed))
            print(f"[{elapsed:6.1f} s] {msg}{left}", flush=True)

    scans = []
    for i, f in enumerate(files):
        scans.append(scan_file(f))
        log(f"scan {i + 1}/{len(files)} {f.name}", (i + 1) / (2 * len(files)))
    transforms = combine_scans(scans, w_max)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_paths = {}
    handles = {}
    try:
        for name, tr in transforms.items():
            path = out_dir / f"{name}.h5"
            if path.exists():
                raise UserError(f"{path}: exists; refusing to overwrite preprocessed data")
            tmp = out_dir / f".{name}.h5.tmp"
            tmp_paths[name] = (tmp, path)
            h = h5py.File(tmp, "w")
            h.create_dataset(
                "features",
                (0, len(tr.features)),
                "float64",
                maxshape=(None, len(tr.features)),
                chunks=(4096, len(tr.features)),
            )
            h.create_dataset("weights", (0,), "float64", maxshape=(None,), chunks=(4096,))
            h.attrs["features"] = list(tr.features)
            h.attrs["category"] = name
            handles[name] = h
        for i, f in enumerate(files):
            for name, (w, x) in split_categories(rootio.read_muons(f)).items():
                h = handles[name]
                n0 = h["weights"].shape[0]
                h["features"].resize(n0 + len(w), axis=0)
                h["weights"].resize(n0 + len(w), axis=0)
                h["features"][n0:] = transforms[name].normalise(x)
                h["weights"][n0:] = w / transforms[name].w_max
            log(f"normalise {i + 1}/{len(files)} {f.name}", 0.5 + (i + 1) / (2 * len(files)))
        for name, tr in transforms.items():
            if broaden and not CATEGORIES[name].prompt:
                _broaden_in_place(handles[name]["features"], tr, chunk)
                log(f"broadened StartX, StartY of {name}")
    finally:
        for h in handles.values():
            h.close()
    for tmp, path in tmp_paths.values():
        tmp.replace(path)
    summary = summarise(scans, transforms)
    ecuts = [s.report["ecut"] for s in scans if s.report and s.report.get("ecut") is not None]
    meta = {
        "files": [str(f) for f in files],
        "summary": summary,
        "ecut": max(ecuts) if ecuts else None,
        "inputs": [s.report for s in scans],
        "blacklist": sorted(set(blacklist)),
        "categories": {k: v.to_dict() for k, v in transforms.items()},
    }
    write_json_atomic(out_dir / "transform.json", meta)
    log(f"wrote {out_dir}: " + ", ".join(f"{k} {v.count}" for k, v in transforms.items()))
    if progress:
        print("\n".join(summary), flush=True)
    return transforms


def _broaden_in_place(ds, tr: CategoryTransform, chunk: int) -> None:
    """Third pass: mean, sqrt broadening and second min-max of columns 0, 1, chunk by chunk.

    Features are stored in float64: the square root amplifies rounding near the mean
    (d sqrt(u)/du -> inf), so a float32 intermediate would not invert exactly.
    """
    n = ds.shape[0]
    total = np.zeros(2)
    for s in range(0, n, chunk):
        total += ds[s : s + chunk, :2].astype(np.float64).sum(axis=0)
    means = total / n
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for s in range(0, n, chunk):
        d = ds[s : s + chunk, :2].astype(np.float64) - means
        v = np.sign(d) * np.sqrt(np.abs(d)) + means
        lo, hi = np.minimum(lo, v.min(axis=0)), np.maximum(hi, v.max(axis=0))
    tr.means = means.tolist()
    tr.min_max_2 = np.stack([lo, hi], axis=1).tolist()
    stage1 = CategoryTransform(tr.category, tr.features, tr.min_max_1, tr.means, tr.min_max_2)
    for s in range(0, n, chunk):
        block = ds[s : s + chunk].astype(np.float64)
        ds[s : s + chunk] = stage1.broaden(block)


def load_transforms(data_dir: str | Path) -> dict[str, CategoryTransform]:
    """The transforms saved by :func:`preprocess`."""
    path = Path(data_dir) / "transform.json"
    if not path.is_file():
        raise UserError(f"{path}: no such file; run `python -m exagan_tf.muons.preprocess` first")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        reason = f"{err.msg} at line {err.lineno}" if hasattr(err, "lineno") else type(
            err).__name__
        raise UserError(f"{path}: not valid JSON ({reason})") from None
    categories = meta.get("categories") if isinstance(meta, dict) else None
    if not isinstance(categories, dict):
        raise UserError(f"{path}: not a transform file of this suite (expected "
                        '{"categories": {name: transform, ...}, ...})')
    out = {}
    for name, values in categories.items():
        try:
            out[name] = CategoryTransform.from_dict(values)
        except KeyError as err:
            raise UserError(f"{path}: category {name!r}: no key {err}") from None
        except (TypeError, ValueError) as err:  # not a mapping, an unknown key, a bad value
            reason = (str(err).splitlines() or [type(err).__name__])[0]
            raise UserError(f"{path}: category {name!r}: not a transform ({reason:.80})") from None
    return out


def load_category(
    data_dir: str | Path, category: str, max_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(features float64 (n, d) in [-1, 1], weights float64 (n,)) of one category."""
    from exagan_tf.fileio import open_h5

    cat = get_category(category)
    path = Path(data_dir) / f"{cat.name}.h5"
    with open_h5(path) as h:
        for key in ("features", "weights"):
            if key not in h or not hasattr(h[key], "dtype"):
                raise UserError(f"{path}: no dataset '{key}'")
            if h[key].dtype.kind not in "iuf":
                raise UserError(f"{path}: dataset '{key}' holds {h[key].dtype}; expected numbers")
            if h[key].ndim == 0:
                raise UserError(f"{path}: dataset '{key}' is a scalar; expected an array")
        x = h["features"][:max_rows]
        w = h["weights"][:max_rows]
    if x.ndim != 2 or x.shape[1] != cat.dim:
        raise UserError(f"{path}: features have shape {x.shape}, expected (n, {cat.dim})")
    if len(x) == 0:
        raise UserError(f"{path}: category '{cat.name}' is empty")
    bad = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
    if bad.size:
        raise UserError(f"{path}: features of {bad.size} muons are NaN or infinite "
                        f"(first: row {bad[0]})")
    check_weights(w, str(path))
    if len(w) != len(x):
        raise UserError(f"{path}: {len(w)} weights for {len(x)} muons; expected one per muon")
    return x, w


def check_weights(w: np.ndarray, where: str) -> None:
    """Weights must be finite, non-negative and not all zero."""
    w = np.asarray(w)
    if w.ndim != 1 or not len(w):
        raise UserError(f"{where}: weights have shape {w.shape}, expected a non-empty (n,)")
    if w.dtype.kind not in "iuf":
        raise UserError(f"{where}: weights hold {w.dtype}, expected numbers")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise UserError(f"{where}: weights must be finite and >= 0 ({bad.size} are not; "
                        f"first {w[bad[0]]} at row {bad[0]})")
    if not w.sum() > 0:
        raise UserError(f"{where}: all weights are zero")


def split_train_val(
    x: np.ndarray, w: np.ndarray, val_fraction: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Last ``val_fraction`` of the rows (files are already shuffled) held out for the FOM."""
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction={val_fraction}: expected a number in (0, 1)")
    n_val = max(1, int(round(len(x) * val_fraction)))
    if n_val >= len(x):
        raise UserError(f"{len(x)} muons: too few to hold out {val_fraction:.0%} for validation")
    return (x[:-n_val], w[:-n_val]), (x[-n_val:], w[-n_val:])


class WeightedSampler:
    """Draw row indices with probability w_i / sum(w), with replacement (see module notes)."""

    def __init__(self, weights: np.ndarray, seed: int = 0):
        check_weights(weights, "WeightedSampler")
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        self.cdf = cdf / cdf[-1]
        self.rng = np.random.default_rng(seed)

    def indices(self, n: int) -> np.ndarray:
        """``n`` row indices."""
        idx = np.searchsorted(self.cdf, self.rng.random(n), side="right")
        return np.minimum(idx, len(self.cdf) - 1)

    def sample(self, x: np.ndarray, n: int) -> np.ndarray:
        """``n`` rows of ``x`` drawn by weight."""
        return x[self.indices(n)]


def weighted_dataset(x: np.ndarray, w: np.ndarray, batch_size: int, seed: int = 0):
    """An endless ``tf.data.Dataset`` of (batch_size, d) float32 batches drawn by weight.

    Batch k uses the stateless seed (seed, k), so the stream is reproducible and a resumed run
    can continue it by passing ``seed + start_step``.
    """
    import tensorflow as tf

    check_weights(w, "weighted_dataset")
    cdf = np.cumsum(np.asarray(w, dtype=np.float64))
    cdf = tf.constant(cdf / cdf[-1])
    feats = tf.constant(np.asarray(x, dtype=np.float32))
    last = len(x) - 1

    def draw(k):
        u = tf.random.stateless_uniform(
            [batch_size], tf.stack([tf.cast(seed, tf.int64), k]), dtype=tf.float64
        )
        idx = tf.minimum(tf.searchsorted(cdf, u, side="right"), last)
        return tf.gather(feats, idx)

    return tf.data.Dataset.counter().map(draw).prefetch(2)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.preprocess",
        description="Split muon ROOT files into the 4 categories, normalise and broaden.",
    )
    p.add_argument("inputs", nargs="+", help="ROOT files or folders of *.root")
    p.add_argument("--out", required=True, help="output folder (<category>.h5, transform.json)")
    p.add_argument("--blacklist", default=None, help="text file of file names to exclude")
    p.add_argument("--exclude", nargs="*", default=[], help="file names to exclude")
    p.add_argument(
        "--w-max",
        type=float,
        default=None,
        help="weight normalisation (default: the largest weight found; 768.75 originally)",
    )
    p.add_argument("--no-broaden", action="store_true", help="skip the sqrt broadening")
    return p.parse_args(argv)


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    black = read_blacklist(args.blacklist) + list(args.exclude)
    preprocess(args.inputs, args.out, black, args.w_max, not args.no_broaden)
    return 0


if __name__ == "__main__":
    sys.exit(main())
