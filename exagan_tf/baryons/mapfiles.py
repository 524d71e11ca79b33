"""The files of the baryon data: ``baryon_maps.h5`` (slab maps) and ``stats.json`` (their
per-redshift statistics), written atomically and read back with every field checked.

Layout of ``baryon_maps.h5``: ``redshifts`` (nz,); groups ``train`` and ``test``, each with
``n_haloes`` (nz,) and subgroups ``thin`` and ``thick`` holding ``dm``, ``pressure`` and
``pressure_mean`` (nz, n_slabs, npix, npix) float32 (gzip, one chunk per map), ``slabs``
(n_slabs, 3) int (axis, first sheet, sheets) and ``particles`` (nz, n_slabs); the run's
options as file attributes. Maps imported from the original
(:mod:`exagan_tf.baryons.import_painter`) have no ``pressure_mean``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.baryons.projection import KINDS
from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path, open_h5, write_json_atomic

MAPS_FILE = "baryon_maps.h5"
STATS_FILE = "stats.json"
SPLITS = ("train", "test")


@dataclasses.dataclass
class UniverseMaps:
    """Slab maps of one universe: ``maps[kind][field]`` is (nz, n_slabs, npix, npix) float32
    for kind in thin/thick and field in dm/pressure/pressure_mean; ``slabs[kind]`` is
    (n_slabs, 3) int (axis, first sheet, sheets); ``n_haloes`` (nz,)."""

    maps: dict
    slabs: dict
    n_haloes: np.ndarray
    particles_per_slab: dict


# --------------------------------------------------------------------------------------------
# Statistics stored beside the data
# --------------------------------------------------------------------------------------------


def map_statistics(maps: dict, redshifts: Sequence[float]) -> dict:
    """Per-redshift means and standard deviations of the summed (thin + thick) training maps.

    Over all thin/thick combinations the pixel variance of the sum is exactly
    var(thin pixels) + var(thick pixels) and the mean is the sum of the means, so no pair needs
    forming. Returns plain lists (JSON): ``redshifts``, ``dm_mean``, ``dm_std``,
    ``pressure_mean``, ``pressure_std``, ``pressure_min``.
    """
    out: dict = {"redshifts": [float(z) for z in redshifts]}
    for name, key in (("dm", "dm"), ("pressure", "pressure")):
        thin = maps["thin"][key].astype(np.float64)
        thick = maps["thick"][key].astype(np.float64)
        axes = (1, 2, 3)
        out[f"{name}_mean"] = (thin.mean(axis=axes) + thick.mean(axis=axes)).tolist()
        out[f"{name}_std"] = np.sqrt(thin.var(axis=axes) + thick.var(axis=axes)).tolist()
    out["pressure_min"] = (
        maps["thin"]["pressure"].min(axis=(1, 2, 3)).astype(np.float64)
        + maps["thick"]["pressure"].min(axis=(1, 2, 3))
    ).tolist()
    return out


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def merge_universes(parts: Sequence[UniverseMaps]) -> UniverseMaps:
    """The slabs of several universes as one: maps, slab tables and per-slab particle counts
    concatenated along the slab axis (in the order given), halo counts summed per redshift."""
    if len(parts) == 1:
        return parts[0]
    maps = {kind: {f: np.concatenate([p.maps[kind][f] for p in parts], axis=1)
                   for f in parts[0].maps[kind]} for kind in parts[0].maps}
    slabs = {kind: np.concatenate([p.slabs[kind] for p in parts]) for kind in parts[0].slabs}
    per_slab = {kind: np.concatenate([p.particles_per_slab[kind] for p in parts], axis=1)
                for kind in parts[0].particles_per_slab}
    return UniverseMaps(maps, slabs, np.sum([p.n_haloes for p in parts], axis=0), per_slab)


def write_maps(out_dir: Path, universes: dict[str, UniverseMaps], attrs: dict,
               redshifts: Sequence[float]) -> None:
    """Write ``baryon_maps.h5`` (groups train/test -> thin/thick -> dm, pressure, pressure_mean,
    slabs) and ``stats.json`` (per-redshift statistics of the training maps) atomically."""
    import h5py

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / MAPS_FILE) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("redshifts", data=np.asarray(redshifts, dtype=np.float64))
        for split, uni in universes.items():
            for kind in KINDS:
                g = f.create_group(f"{split}/{kind}")
                for field, arr in uni.maps[kind].items():
                    g.create_dataset(field, data=arr, compression="gzip", compression_opts=1,
                                     shuffle=True, chunks=(1, 1, *arr.shape[2:]))
                g.create_dataset("slabs", data=uni.slabs[kind])
                g.create_dataset("particles", data=uni.particles_per_slab[kind])
            f[split].create_dataset("n_haloes", data=uni.n_haloes)
        for key, value in attrs.items():
            f.attrs[key] = value
    stats = map_statistics(universes["train"].maps, redshifts)
    stats["attrs"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in
                      attrs.items()}
    write_json_atomic(out_dir / STATS_FILE, stats)


def data_missing_message(datadir: str | Path) -> str:
    """The one-line error for a missing data folder, naming the command that makes it."""
    return (
        f"{Path(datadir) / MAPS_FILE}: no such file; make the baryon data first with "
        f"`python -m exagan_tf.baryons.simulate --out {datadir} --train-universes 8` (the "
        "demo data; `make data-baryons` makes data/baryons)"
    )


def read_maps(datadir: str | Path, split: str) -> dict:
    """Read one split: ``{'redshifts', 'thin': {...}, 'thick': {...}, 'attrs'}``.

    Raises:
        UserError: the file is missing (naming the simulate command), unreadable or lacks a
            dataset.
    """
    path = Path(datadir) / MAPS_FILE
    if not path.exists():
        raise UserError(data_missing_message(datadir))
    if split not in SPLITS:
        raise UserError(f"split {split!r}: expected one of {SPLITS}")
    out: dict = {}
    with open_h5(path) as f:
        try:
            out["redshifts"] = f["redshifts"][()]
            for kind in KINDS:
                g = f[f"{split}/{kind}"]
                # pressure_mean (the noise-free truth) exists for simulated maps only
                out[kind] = {k: g[k][()] for k in ("dm", "pressure", "pressure_mean", "slabs")
                             if k != "pressure_mean" or k in g}
        except KeyError as err:
            raise UserError(f"{path}: missing dataset ({err}); re-run the simulate command "
                            "into a new folder") from None
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in
                        f.attrs.items()}
    z = np.asarray(out["redshifts"])
    if z.ndim != 1 or z.size == 0 or z.dtype.kind not in "iuf" or not np.all(np.isfinite(z)):
        raise UserError(f"{path}: 'redshifts' is {z.dtype} of shape {z.shape} "
                        f"({z.ravel()[:4].tolist()}); expected a non-empty list of finite numbers")
    nz = len(z)
    for kind in KINDS:
        shape = out[kind]["dm"].shape
        if len(shape) != 4 or shape[0] != nz or shape[1] == 0 or shape[2] != shape[3]:
            raise UserError(f"{path}: {split}/{kind}/dm has shape {shape}; expected "
                            f"({nz}, n_slabs >= 1, npix, npix)")
        for field in ("dm", "pressure", "pressure_mean"):
            if field not in out[kind]:
                continue
            arr = out[kind][field]
            name = f"{split}/{kind}/{field}"
            if arr.shape != shape:
                raise UserError(f"{path}: {name} has shape {arr.shape}; expected {shape} "
                                f"like {split}/{kind}/dm")
            if arr.dtype.kind not in "iuf":
                raise UserError(f"{path}: {name} holds {arr.dtype}; expected numbers")
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                where = np.unravel_index(bad[0], shape)
                raise UserError(f"{path}: {name} has {bad.size} NaN, infinite or negative "
                                f"values (first {arr[where]} at {tuple(map(int, where))}); "
                                "densities and pressures are finite and >= 0")
    return out


def read_stats(datadir: str | Path) -> dict:
    """The per-redshift statistics written beside the maps (``stats.json``)."""
    path = Path(datadir) / STATS_FILE
    if not path.exists():
        raise UserError(data_missing_message(datadir))
    try:
        stats = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    keys = ("redshifts", "dm_std", "pressure_std")  # what the transforms are built from
    if not isinstance(stats, dict):
        raise UserError(f"{path}: a JSON {type(stats).__name__}; expected a mapping with "
                        f"{', '.join(keys)}")
    for key in keys:
        v = stats.get(key)
        if not (isinstance(v, list) and v and len(v) == len(stats.get("redshifts"))
                and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                        and np.isfinite(x) and (key == "redshifts" or x > 0) for x in v)):
            raise UserError(f"{path}: '{key}' is {str(v)[:60]}; expected one finite number per "
                            "redshift (standard deviations > 0)")
    return stats

