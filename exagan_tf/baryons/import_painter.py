"""Import baryon_painter's BAHAMAS stacks (npy maps + files-info pickle) into the suite's layout.

What baryon_painter stores (read from tilmantroester/baryon_painter:
``notebooks/prepare_simulation_data.ipynb`` writes the files, ``baryon_painter/utils/datasets.py``
``BAHAMASDataset`` reads them, ``scripts/CVAE_single_scale.py`` and ``tests/test_dataset.py``
use them):

* A folder with ``train_files_info.pickle`` (and, in its earlier layout, also
  ``test_files_info.pickle``): a pickled list of dicts, one per field and redshift, with keys
  ``field`` (``dm``, ``gas``, ``pressure``, ``stars``), ``z`` (0, 0.125, ..., 2), ``file_100`` and
  ``file_150`` (npy file names relative to the folder, ``{field}_z{z:.3f}_train_100.npy``),
  ``mean_100``, ``mean_150``, ``var_100``, ``var_150`` (mean and ``ddof=1`` variance over all
  pixels of all stacks of the file) and ``n_grid``, ``n_stack``, ``min_*``, ``median_*``,
  ``max_*``.
* Each npy file is float32 ``(n_stack, n_grid, n_grid)``: ``n_stack`` projected slabs of 100
  (two 50 Mpc/h sheets summed) or 150 Mpc/h (three sheets) of the 400 Mpc/h BAHAMAS box, 2048^2
  pixels. ``BAHAMASDataset(L=400)`` tiles them; a sample is a tile of a 100 slab plus a tile
  of a 150 slab.
* Splits: ``CVAE_single_scale.py`` validates on stacks ``[0, 3)`` and trains on ``[3, 14)``
  of the same files (``n_validation_stack = 3``, ``stack_offset``); a ``test_files_info.pickle``,
  where present, holds a separate test volume.
* Dark matter: ``scale_to_SLICS`` multiplies it by 1/(n_grid/8*5) * 0.2793/(0.2793-0.0463),
  which gives a 250 Mpc/h (100 + 150) stack a mean of about 1.

The importer writes ``baryon_maps.h5`` and ``stats.json`` as :mod:`exagan_tf.baryons.simulate`
does: the 100 Mpc/h stacks are the *thin* slabs, the 150 Mpc/h stacks the *thick* ones, for
``dm`` and ``pressure`` (other fields are counted as skipped). Dark matter is brought to the
suite's convention, each slab divided by the mean per pixel of the slabs of its thickness at
that redshift (``mean_100`` / ``mean_150`` of the training info, so a slab reads 1 + delta;
the factors are kept in the attributes ``dm_scale_thin`` / ``dm_scale_thick``); pressure is
kept in the units of the files. The pickle's means are checked against the arrays (a
mismatch means the info does not describe the files). The maps carry no noise-free truth
(``pressure_mean``), so evaluation reports no floor for them. ``stats.json`` holds the
per-redshift statistics of the training maps the transforms are built from, computed as
:func:`exagan_tf.baryons.simulate.map_statistics` computes them, and the pickle's own
statistics under ``source_stats``.

The pickle is read with an unpickler that admits only plain values and numpy scalars, so a
crafted file cannot run code. Maps are streamed (one field, redshift and thickness at a time,
memory-mapped) into the output; nothing is overwritten (:func:`exagan_tf.fileio.atomic_path`).

Command line::

    python -m exagan_tf.baryons.import_painter STACKS_DIR --out data/bahamas
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.baryons import simulate as bsim
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, write_json_atomic

TRAIN_INFO = "train_files_info.pickle"
TEST_INFO = "test_files_info.pickle"
FIELDS = ("dm", "pressure")
KIND_OF = {"100": "thin", "150": "thick"}
REQUIRED = ("field", "z", "file_100", "file_150", "mean_100", "mean_150", "var_100", "var_150")
BOX = 400.0  # BAHAMASDataset's default L [Mpc/h], the BAHAMAS box
TEST_STACKS = 3  # n_validation_stack of scripts/CVAE_single_scale.py


class _InfoUnpickler(pickle.Unpickler):
    """Admits the builtins pickle handles without globals and numpy scalars, nothing else."""

    ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "dtype"), ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_info(path: Path) -> list[dict]:
    """The files-info list of a pickle, checked for the keys ``BAHAMASDataset`` reads."""
    try:
        info = _InfoUnpickler(io.BytesIO(path.read_bytes())).load()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (baryon_painter's files-info pickle)") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as err:
        raise UserError(f"{path}: not a files-info pickle of plain values ({err})") from None
    if not isinstance(info, list) or not info:
        raise UserError(f"{path}: holds a {type(info).__name__}; expected a non-empty list of "
                        "dicts (one per field and redshift)")
    for i, entry in enumerate(info):
        if not isinstance(entry, dict):
            raise UserError(f"{path}: entry {i} is a {type(entry).__name__}; expected a dict")
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise UserError(f"{path}: entry {i} ({entry.get('field')}, z={entry.get('z')}) has "
                            f"no {missing[0]!r}; expected keys {', '.join(REQUIRED)}")
    return info


def _load(root: Path, name, what: str) -> np.ndarray:
    path = root / str(name)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file ({what} in the files-info pickle)") from None
    except ValueError as err:
        raise UserError(f"{path}: not a plain npy array ({err})") from None
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] < 1:
        raise UserError(f"{path}: shape {arr.shape}; expected stacks (n_stack, n_grid, n_grid)")
    if arr.dtype.kind not in "iuf":
        raise UserError(f"{path}: holds {arr.dtype}; expected numbers")
    return arr


def _checked(root: Path, entry: dict, s: str, info_name: str) -> tuple[np.ndarray, float]:
    """The stacks of ``file_{s}`` and the info's ``mean_{s}``, which must be their mean."""
    arr = _load(root, entry[f"file_{s}"], f"file_{s}")
    mean_file = float(np.mean(arr, dtype=np.float64))
    mean_info = float(entry[f"mean_{s}"])
    if not np.isclose(mean_file, mean_info, rtol=1e-3, atol=0):
        raise UserError(f"{root / str(entry[f'file_{s}'])}: mean {mean_file:.6g}, but "
                        f"{info_name} says mean_{s} = {mean_info:.6g}; the info does not "
                        "describe this file")
    return arr, mean_info


def _index(info: list[dict], path: Path, redshifts) -> dict:
    """{(field, z): entry} for the imported fields at ``redshifts`` (None: all)."""
    out = {}
    for entry in info:
        if entry["field"] in FIELDS:
            out[(entry["field"], round(float(entry["z"]), 6))] = entry
    zs = sorted({z for (_, z) in out})
    if redshifts is not None:
        want = [round(float(z), 6) for z in redshifts]
        absent = [z for z in want if z not in zs]
        if absent:
            raise UserError(f"{path}: no maps at z = {absent[0]:g} (the file lists "
                            f"{', '.join(f'{z:g}' for z in zs)})")
        zs = sorted(want)
    for field in FIELDS:
        for z in zs:
            if (field, z) not in out:
                raise UserError(f"{path}: no {field} entry at z = {z:g}; dark matter and "
                                "pressure are needed at every redshift")
    if not zs:
        raise UserError(f"{path}: no dm or pressure entries")
    return {"entries": out, "redshifts": zs}


def import_stacks(src: str | Path, out: str | Path, *, redshifts: Sequence[float] | None = None,
                  test_stacks: int = TEST_STACKS, box: float = BOX,
                  progress: bool = True) -> dict:
    """Read baryon_painter's stacks in ``src`` and write ``out``/baryon_maps.h5 + stats.json.

    Returns a summary: ``redshifts``, ``slabs`` (split -> kind -> count), ``npix``,
    ``skipped`` (field -> entries), ``test_source``.
    """
    import h5py

    src, out = Path(src), Path(out)
    for name in (bsim.MAPS_FILE, bsim.STATS_FILE):
        if (out / name).exists():
            raise UserError(f"{out / name}: already exists; refusing to overwrite it")
    if box <= 0:
        raise UserError(f"--box={box}: expected the box side in Mpc/h (BAHAMAS: 400)")
    train_info = read_info(src / TRAIN_INFO)
    test_info = read_info(src / TEST_INFO) if (src / TEST_INFO).exists() else None
    train = _index(train_info, src / TRAIN_INFO, redshifts)
    zs = train["redshifts"]
    test = _index(test_info, src / TEST_INFO, zs) if test_info is not None else None
    skipped: dict[str, int] = {}
    for entry in train_info + (test_info or []):
        if entry["field"] not in FIELDS:
            skipped[str(entry["field"])] = skipped.get(str(entry["field"]), 0) + 1
        elif round(float(entry["z"]), 6) not in zs:
            key = f"{entry['field']} at z={float(entry['z']):g}"
            skipped[key] = skipped.get(key, 0) + 1
    # shapes from the first redshift's dark matter; every file must agree
    first = {s: _load(src, train["entries"]["dm", zs[0]][f"file_{s}"], f"file_{s}")
             for s in KIND_OF}
    npix = first["100"].shape[1]
    if test is None:
        lo = {"100": min(first["100"].shape[0], first["150"].shape[0])}
        if test_stacks < 1 or test_stacks >= lo["100"]:
            raise UserError(f"--test-stacks={test_stacks}: expected 1..{lo['100'] - 1} (the "
                            f"files hold {first['100'].shape[0]} and {first['150'].shape[0]} "
                            "stacks) or a test_files_info.pickle")
    n_slabs: dict = {"train": {}, "test": {}}
    for s, kind in KIND_OF.items():
        n_all = first[s].shape[0]
        if test is None:
            n_slabs["train"][kind], n_slabs["test"][kind] = n_all - test_stacks, test_stacks
        else:
            n_slabs["train"][kind] = n_all
            n_slabs["test"][kind] = _load(src, test["entries"]["dm", zs[0]][f"file_{s}"],
                                          f"file_{s}").shape[0]
    nz = len(zs)
    acc = {(f, kind): np.zeros((nz, 2)) for f in FIELDS for kind in KIND_OF.values()}
    pmin = {kind: np.full(nz, np.inf) for kind in KIND_OF.values()}
    scale = {kind: np.ones(nz) for kind in KIND_OF.values()}
    source_stats: dict = {f: {} for f in FIELDS}
    jobs = [(f, iz, s) for f in FIELDS for iz in range(nz) for s in KIND_OF]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="file", desc=f"{out.name}/{bsim.MAPS_FILE}")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / bsim.MAPS_FILE) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("redshifts", data=np.asarray(zs, dtype=np.float64))
        dsets = {}
        for split in ("train", "test"):
            for kind in KIND_OF.values():
                g = h5.create_group(f"{split}/{kind}")
                n = n_slabs[split][kind]
                for f in FIELDS:
                    dsets[split, kind, f] = g.create_dataset(
                        f, (nz, n, npix, npix), dtype=np.float32, compression="gzip",
                        compression_opts=1, shuffle=True, chunks=(1, 1, npix, npix))
                # which original stack each slab is; axis and first sheet are not recorded
                # in the files-info pickle (-1)
                slabs = np.full((n, 3), -1, dtype=np.int64)
                slabs[:, 2] = 2 if kind == "thin" else 3
                g.create_dataset("slabs", data=slabs)
        for f, iz, s in jobs:
            kind, z = KIND_OF[s], zs[iz]
            entry = train["entries"][f, z]
            arr, mean_info = _checked(src, entry, s, TRAIN_INFO)
            if arr.shape[1:] != (npix, npix):
                raise UserError(f"{src / str(entry[f'file_{s}'])}: maps of {arr.shape[1:]}; "
                                f"expected ({npix}, {npix}) like the others")
            source_stats[f].setdefault(f"{z:g}", {}).update(
                {f"mean_{s}": mean_info, f"var_{s}": float(entry[f"var_{s}"])})
            if f == "dm":
                if mean_info <= 0:
                    raise UserError(f"{src / TRAIN_INFO}: dm mean_{s} = {mean_info} at z = "
                                    f"{z:g}; expected a positive mean density")
                scale[kind][iz] = 1.0 / mean_info
            factor = scale[kind][iz] if f == "dm" else 1.0
            parts = ({"train": arr[test_stacks:], "test": arr[:test_stacks]} if test is None
                     else {"train": arr,
                           "test": _checked(src, test["entries"][f, z], s, TEST_INFO)[0]})
            for split, stacks in parts.items():
                if stacks.shape[1:] != (npix, npix):
                    raise UserError(f"{split} {f} z={z:g}: maps of {stacks.shape[1:]}; "
                                    f"expected ({npix}, {npix})")
                if len(stacks) != n_slabs[split][kind]:
                    raise UserError(f"{split} {f} z={z:g} ({s} Mpc/h): {len(stacks)} stacks; "
                                    f"expected {n_slabs[split][kind]} like dm at z={zs[0]:g}")
                for i, stack in enumerate(stacks):
                    m = np.asarray(stack, dtype=np.float64) * factor
                    bad = ~np.isfinite(m) | (m < 0)
                    if bad.any():
                        where = tuple(int(j) for j in np.unravel_index(np.argmax(bad), m.shape))
                        raise UserError(f"{split} {f} z={z:g} ({s} Mpc/h) stack {i}: "
                                        f"{int(bad.sum())} NaN, infinite or negative values "
                                        f"(first {m[where]} at pixel {where}); densities and "
                                        "pressures are finite and >= 0")
                    dsets[split, kind, f][iz, i] = m.astype(np.float32)
                    if split == "train":
                        acc[f, kind][iz] += (m.sum(), (m * m).sum())
                        if f == "pressure":
                            pmin[kind][iz] = min(pmin[kind][iz], float(m.min()))
            if bar is not None:
                bar.update(1)
        attrs = {
            "source": "baryon_painter BAHAMAS stacks",
            "box_size_mpc_h": float(box), "npix": npix, "pixel_mpc_h": float(box) / npix,
            "dm_units": "projected dark matter / its mean per pixel over the slabs of that "
                        "thickness (1 + delta)",
            "pressure_units": "as in the source files (BAHAMAS pressure stacks)",
            "dm_scale_thin": scale["thin"], "dm_scale_thick": scale["thick"],
            "thin_mpc_h": 100.0, "thick_mpc_h": 150.0,
            "test_split": (f"stacks 0..{test_stacks - 1} of {TRAIN_INFO}" if test is None
                           else TEST_INFO),
        }
        for key, value in attrs.items():
            h5.attrs[key] = value
        if bar is not None:
            bar.close()
        stats = _statistics(zs, acc, pmin, n_slabs["train"], npix)
        stats["source_stats"] = source_stats
        stats["attrs"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                          for k, v in attrs.items()}
    write_json_atomic(out / bsim.STATS_FILE, stats)
    return {"redshifts": zs, "slabs": n_slabs, "npix": npix, "skipped": skipped,
            "test_source": attrs["test_split"]}


def _statistics(zs, acc, pmin, n_train: dict, npix: int) -> dict:
    """What :func:`exagan_tf.baryons.simulate.map_statistics` gives for the training maps,
    from streamed sums: per redshift, mean(thin) + mean(thick), sqrt(var(thin) + var(thick)),
    and min(thin) + min(thick) of the pressure."""
    out: dict = {"redshifts": [float(z) for z in zs]}
    for f in FIELDS:
        mean, var = np.zeros(len(zs)), np.zeros(len(zs))
        for kind in ("thin", "thick"):
            count = n_train[kind] * npix * npix
            m = acc[f, kind][:, 0] / count
            mean += m
            var += np.maximum(acc[f, kind][:, 1] / count - m * m, 0.0)
        out[f"{f}_mean"] = mean.tolist()
        out[f"{f}_std"] = np.sqrt(var).tolist()
    out["pressure_min"] = (pmin["thin"] + pmin["thick"]).tolist()
    return out


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: import, then print what was read and what was skipped."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.baryons.import_painter",
        description="Import baryon_painter's BAHAMAS stacks (train_files_info.pickle and its npy "
        "files) into baryon_maps.h5 and stats.json for the baryon-painting models.")
    p.add_argument("src", help="folder with train_files_info.pickle and the npy stacks")
    p.add_argument("--out", required=True, help="output folder (files in it never overwritten)")
    p.add_argument("--redshifts", type=float, nargs="+", default=None,
                   help="redshifts to import (default: all in the pickle)")
    p.add_argument("--test-stacks", type=int, default=TEST_STACKS,
                   help="without test_files_info.pickle: the first N stacks are the test "
                   "split (3, as baryon_painter validates)")
    p.add_argument("--box", type=float, default=BOX, help="box side in Mpc/h (400, BAHAMAS)")
    args = p.parse_args(argv)
    s = import_stacks(args.src, args.out, redshifts=args.redshifts,
                      test_stacks=args.test_stacks, box=args.box)
    sl = s["slabs"]
    print(f"wrote {Path(args.out) / bsim.MAPS_FILE} and {bsim.STATS_FILE}: dm and pressure at "
          f"{len(s['redshifts'])} redshifts ({', '.join(f'{z:g}' for z in s['redshifts'])}), "
          f"{s['npix']}^2 pixels; train {sl['train']['thin']} thin (100 Mpc/h) + "
          f"{sl['train']['thick']} thick (150 Mpc/h) slabs, test {sl['test']['thin']} + "
          f"{sl['test']['thick']} ({s['test_source']})")
    skipped = s["skipped"]
    print("skipped: " + ("; ".join(f"{k}: {v} entries" for k, v in sorted(skipped.items()))
                         if skipped else "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
