"""Import gevolution runs (phi snapshots, GR and Newtonian) into the GR/Newton cube file.

What gevolution writes (read from its sources, gevolution 1.2 ``parser.hpp``, ``main.cpp``,
``output.hpp``, and LATfield2 ``LATfield2_save_hdf5.h``, ``LATfield2_Field_decl.hpp``):

* Each run writes ``<output path><generic file base>_settings_used.ini``: one ``name = value``
  line per parameter it used (a ``#`` starts a comment). Keys read here: ``seed``,
  ``gravity theory`` (first letter N/n: Newtonian, G/g or anything else or absent: GR, as the
  parser decides), ``snapshot redshifts`` (comma-separated; the parser sorts them in
  *descending* order and snapshot ``i`` is the i-th of that order), ``snapshot file base``
  (default ``snapshot``), ``snapshot outputs`` (must name ``phi``), ``boxsize`` [Mpc/h],
  ``Ngrid``, ``downgrade factor`` (default 1), ``initial redshift``, ``A_s``, ``h``,
  ``omega_b``, ``omega_cdm`` (physical densities, Omega h^2).
* phi of snapshot ``i`` is ``<output path><snapshot file base><i:03d>_phi.h5``, written by
  ``Field::saveHDF5(filename)`` with LATfield2's default dataset name ``data``: one dataset of
  the global lattice with its dimensions *reversed* (HDF5 shape (Nz, Ny, Nx) for the lattice's
  (x, y, z), x fastest in memory), element type ``Real`` (double unless built with SINGLE),
  little- or big-endian as LATfield2 was built, one chunk of the whole lattice in serial
  builds. With ``downgrade factor`` d the side is Ngrid / d. In Newtonian mode (gr_flag 0)
  the same ``phi`` field holds the Newtonian potential.
* The original thesis runs (Johanmkr/MasterThesis ``data_generation``) put every seed's two
  runs in ``seed{seed:04d}/gr/`` and ``seed{seed:04d}/newton/`` with ``snapshot file base`` =
  ``gr_snap`` / ``newton_snap``, snapshots at z = 20, 15, 10, 5, 1, 0, and read each cube as
  ``f["data"][()]``, slicing all three axes.

The importer finds every ``*.ini`` under the given folder that names a seed and snapshot
redshifts, pairs the GR and the Newtonian run of each seed, reads phi at the requested
redshifts (as stored: cube axes (z, y, x) of the lattice, which only orders the slices, since
all three axes are sliced) and writes the layout of :mod:`exagan_tf.gr.simulate`
(``gr_seed{seed:04d}`` / ``newton_seed{seed:04d}`` float32 (C, N, N, N), ``seeds``, the
standardisation attributes), either one channel per redshift (``--input redshifts``) or the
growth-normalised difference phi(z1)/D_phi(z1) - phi(z2)/D_phi(z2) (``--input difference``,
D_phi = D(z)(1+z) for flat LambdaCDM with Omega_m from the run's settings, as the thesis
scaled its cubes with CLASS's D(z)). Cubes are standardised per channel over the whole file
(both theories, all seeds), like the original's single ``data_z*.h5`` file, unless ``--raw``.

Runs that cannot be used are skipped and counted in the printed summary (a seed with only one
theory, a missing snapshot file, settings that differ from the first pair); a malformed phi
file or no usable pair at all is a one-line error. Nothing is overwritten: the output appears
only when complete (:func:`exagan_tf.fileio.atomic_path`).

Command line::

    python -m exagan_tf.gr.import_gevolution RUNS_DIR --out data/gr/gevolution.h5
    python -m exagan_tf.gr.import_gevolution RUNS_DIR --out z6.h5 --input redshifts
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, open_h5
from exagan_tf.gr import simulate as sim

DATASET = "data"  # LATfield2's default dataset name of Field::saveHDF5(filename)
ZTOL = 1e-6


def parse_settings(path: Path) -> dict[str, str]:
    """``name = value`` pairs of a gevolution settings file, as its ``readline`` reads them:
    the text before ``=`` (trimmed) is the name, the text after it up to a ``#`` the value; a
    line without ``=``, or with ``#`` before the ``=``, is no parameter. The first occurrence of
    a name wins (the parser searches its list from the top)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise UserError(f"{path}: unreadable ({err.strerror})") from None
    for line in text.splitlines():
        eq, hash_ = line.find("="), line.find("#")
        if eq <= 0 or (0 <= hash_ < eq):
            continue
        name = line[:eq].strip(" \t")
        value = line[eq + 1 : hash_ if hash_ >= 0 else len(line)].strip(" \t\r\n")
        if name and value and name not in out:
            out[name] = value
    return out


@dataclasses.dataclass(frozen=True)
class Run:
    """One gevolution run: where its phi snapshots are and the settings that matter here."""

    settings_file: Path
    folder: Path
    seed: int
    theory: str  # "gr" or "newton"
    redshifts: tuple[float, ...]  # in snapshot order (descending)
    file_base: str
    boxsize: float
    ngrid: int  # side of the stored cubes (Ngrid / downgrade factor)
    z_init: float | None
    A_s: float | None
    omega_m: float | None
    settings: dict

    def phi_file(self, z: float) -> Path:
        """The phi snapshot file at redshift ``z`` (which must be a snapshot redshift)."""
        i = int(np.flatnonzero(np.isclose(self.redshifts, z, rtol=0, atol=ZTOL))[0])
        return self.folder / f"{self.file_base}{i:03d}_phi.h5"

    def has(self, z: float) -> bool:
        """Whether ``z`` is one of the run's snapshot redshifts."""
        return bool(np.any(np.isclose(self.redshifts, z, rtol=0, atol=ZTOL)))


def _number(settings: dict, key: str, path: Path, kind=float):
    if key not in settings:
        return None
    try:
        return kind(settings[key])
    except ValueError:
        raise UserError(f"{path}: '{key} = {settings[key]}' is not a number") from None


def read_run(path: Path) -> Run | str:
    """The run a settings file describes, or the reason it is not a usable run (a string)."""
    s = parse_settings(path)
    if "snapshot redshifts" not in s:
        return "no 'snapshot redshifts'"
    if "seed" not in s:
        return "no 'seed'"
    seed = _number(s, "seed", path, int)
    outputs = [o.strip() for o in s.get("snapshot outputs", "").split(",")]
    if not {"phi", "Phi"} & set(outputs):
        return f"snapshot outputs '{s.get('snapshot outputs', '')}' has no phi"
    try:
        zs = sorted((float(z) for z in s["snapshot redshifts"].split(",")), reverse=True)
    except ValueError:
        raise UserError(f"{path}: 'snapshot redshifts = {s['snapshot redshifts']}' is not a "
                        "comma-separated list of numbers") from None
    theory = "newton" if s.get("gravity theory", "GR")[:1] in ("N", "n") else "gr"
    ngrid = _number(s, "Ngrid", path, int)
    box = _number(s, "boxsize", path)
    if ngrid is None or box is None or ngrid < 2 or box <= 0:
        raise UserError(f"{path}: Ngrid = {s.get('Ngrid')}, boxsize = {s.get('boxsize')}; "
                        "expected a grid of at least 2 and a positive box size")
    down = _number(s, "downgrade factor", path, int) or 1
    # the phi files are beside the settings file gevolution writes into its output path; a
    # settings file kept elsewhere points there with a relative 'output path'
    folder = path.parent
    out_path = s.get("output path", "")
    base = s.get("snapshot file base", "snapshot")
    relative = out_path and not Path(out_path).is_absolute()
    if relative and not (folder / f"{base}000_phi.h5").exists():
        folder = path.parent / out_path
    h = _number(s, "h", path)
    ob, oc = _number(s, "omega_b", path), _number(s, "omega_cdm", path)
    omega_m = (ob + oc) / h**2 if None not in (h, ob, oc) else None
    return Run(path, folder, seed, theory, tuple(zs), base, box, ngrid // down,
               _number(s, "initial redshift", path), _number(s, "A_s", path), omega_m, s)


def find_runs(root: Path) -> tuple[list[Run], collections.Counter]:
    """All runs under ``root`` (one per output folder and theory) and the reasons other
    ``.ini`` files were passed over."""
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (expected gevolution output folders with "
                        "their *_settings_used.ini)")
    runs: dict[tuple, Run] = {}
    skipped: collections.Counter = collections.Counter()
    for path in sorted(root.rglob("*.ini")):
        run = read_run(path)
        if isinstance(run, str):
            skipped[f"{path.name}: {run}"] += 1
            continue
        key = (run.folder.resolve(), run.theory, run.file_base)
        if key in runs:  # settings.ini and the settings_used.ini of the same run
            prefer = "_settings_used.ini" in path.name
            if not prefer:
                continue
        runs[key] = run
    return list(runs.values()), skipped


def read_phi(path: Path, n: int) -> np.ndarray:
    """phi of one snapshot file as float64 (N, N, N), checked as LATfield2 writes it."""
    if not path.exists():
        raise FileNotFoundError(path)
    with open_h5(path) as f:
        if DATASET not in f or not hasattr(f[DATASET], "dtype"):
            raise UserError(f"{path}: no dataset '{DATASET}' (LATfield2 writes a field's lattice "
                            f"there); holds {sorted(f.keys())[:5]}")
        ds = f[DATASET]
        if ds.dtype.kind != "f":
            what = ("array-valued sites (a vector or tensor field)" if ds.dtype.subdtype
                    else ds.dtype)
            raise UserError(f"{path}: dataset '{DATASET}' holds {what}; expected the scalar "
                            "potential phi in floating point")
        if ds.shape != (n, n, n):
            raise UserError(f"{path}: dataset '{DATASET}' has shape {ds.shape}; expected "
                            f"({n}, {n}, {n}) from the run's Ngrid and downgrade factor")
        cube = ds[()].astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(cube))
    if bad.size:
        raise UserError(f"{path}: {bad.size} NaN or infinite values in '{DATASET}' (first at "
                        f"{np.unravel_index(bad[0], cube.shape)})")
    return cube


def _pairs(runs: list[Run], redshifts: Sequence[float], skipped: collections.Counter):
    """Complete GR/Newton pairs with all ``redshifts`` and settings matching the first pair."""
    by_seed: dict[int, dict[str, Run]] = collections.defaultdict(dict)
    for run in runs:
        if run.theory in by_seed[run.seed]:
            skipped[f"seed {run.seed}: a second {run.theory} run ({run.settings_file})"] += 1
            continue
        by_seed[run.seed][run.theory] = run
    pairs, ref = [], None
    for seed in sorted(by_seed):
        pair = by_seed[seed]
        if len(pair) < 2:
            missing = ({"gr", "newton"} - set(pair)).pop()
            skipped[f"no {missing} run for the seed"] += 1
            continue
        why = ""
        for run in pair.values():
            absent = [z for z in redshifts if not run.has(z)]
            if absent:
                why = f"no snapshot at z = {absent[0]:g}"
            elif any(not run.phi_file(z).exists() for z in redshifts):
                why = "a phi snapshot file is missing"
            sig = (run.boxsize, run.ngrid, run.A_s)
            if not why and ref is not None and sig != ref:
                why = (f"boxsize, grid, A_s = {sig} differ from the first pair's {ref}")
            if why:
                break
        if why:
            skipped[why] += 1
            continue
        sig_gr = (pair["gr"].boxsize, pair["gr"].ngrid, pair["gr"].A_s)
        if sig_gr != (pair["newton"].boxsize, pair["newton"].ngrid, pair["newton"].A_s):
            skipped["the GR and Newton runs of the seed differ in boxsize, grid or A_s"] += 1
            continue
        ref = ref or sig_gr
        pairs.append((seed, pair))
    return pairs


def import_runs(root: str | Path, out: str | Path, *, redshifts: Sequence[float] | None = None,
                difference: bool = True, standardise: bool = True, renumber: bool = False,
                progress: bool = True) -> dict:
    """Read the runs under ``root`` and write the cube file ``out`` (module docstring).

    Returns a summary: ``pairs``, ``seeds``, ``skipped`` (reason -> count), ``redshifts``,
    ``channels``, ``ngrid`` and the written attributes.
    """
    import h5py

    root, out = Path(root), Path(out)
    if out.exists():
        raise UserError(f"{out}: already exists; refusing to overwrite it")
    runs, skipped = find_runs(root)
    if not runs:
        raise UserError(f"{root}: no gevolution run found (no *.ini with 'seed' and "
                        "'snapshot redshifts'; gevolution writes <generic file base>"
                        "_settings_used.ini into its output path)")
    if redshifts is None:
        redshifts = sim.DIFFERENCE_REDSHIFTS if difference else tuple(
            sorted(set.intersection(*(set(r.redshifts) for r in runs)), reverse=True))
    redshifts = tuple(float(z) for z in redshifts)
    if difference and len(redshifts) != 2:
        raise UserError(f"--input difference needs two redshifts (z_high z_low), got "
                        f"{list(redshifts)}")
    if not redshifts:
        raise UserError(f"{root}: the runs share no snapshot redshift")
    pairs = _pairs(runs, redshifts, skipped)
    if not pairs:
        reasons = "; ".join(f"{k} ({v})" for k, v in skipped.items()) or "none"
        raise UserError(f"{root}: no complete GR/Newton pair with phi at z = "
                        f"{', '.join(f'{z:g}' for z in redshifts)} (skipped: {reasons})")
    first = pairs[0][1]["gr"]
    n = first.ngrid
    omega_m = first.omega_m if first.omega_m is not None else sim.Cosmology().omega_m
    channels = ([f"phi(z={redshifts[0]:g})/D_phi({redshifts[0]:g}) - "
                 f"phi(z={redshifts[1]:g})/D_phi({redshifts[1]:g})"] if difference
                else [f"phi(z={z:g})" for z in redshifts])
    nchan = len(channels)
    total, total2, count = np.zeros(nchan), np.zeros(nchan), 0
    seeds = [seed for seed, _ in pairs]
    names = list(range(len(seeds))) if renumber else seeds
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), unit="pair", desc=out.name)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        for name, (_, pair) in zip(names, pairs):
            for theory in sim.THEORIES:
                run = pair[theory]
                cubes = [read_phi(run.phi_file(z), n) for z in redshifts]
                if difference:
                    cubes = [sim.growth_normalised_difference(
                        cubes[0], cubes[1], redshifts[0], redshifts[1], omega_m)]
                cube = np.stack(cubes)
                total += cube.sum(axis=(1, 2, 3))
                total2 += (cube**2).sum(axis=(1, 2, 3))
                f.create_dataset(sim.cube_name(theory, name), data=cube.astype(np.float32))
            count += 2 * n**3
            if bar is not None:
                bar.update(1)
        mean = total / count
        std = np.sqrt(np.maximum(total2 / count - mean**2, 0.0))
        if standardise:
            if np.any(std <= 0):
                raise UserError(f"{root}: a channel has zero variance over the cubes; nothing "
                                "to standardise (use --raw)")
            for name in names:
                for theory in sim.THEORIES:
                    ds = f[sim.cube_name(theory, name)]
                    ds[...] = ((ds[...] - mean[:, None, None, None])
                               / std[:, None, None, None]).astype(np.float32)
        f.create_dataset("seeds", data=np.asarray(names, dtype=np.int64))
        if renumber:
            f.create_dataset("gevolution_seeds", data=np.asarray(seeds, dtype=np.int64))
        attrs = {
            "source": "gevolution",
            "channels": channels,
            "redshifts": list(redshifts),
            "difference": difference,
            "mean": mean,
            "std": std,
            "standardised": standardise,
            "box_size_mpc_h": first.boxsize,
            "ngrid": n,
            "omega_m": omega_m,
            "axis_order": "z, y, x of the gevolution lattice (LATfield2's HDF5 order)",
        }
        if first.A_s is not None:
            attrs["A_s"] = first.A_s
            attrs["amplification"] = first.A_s / sim.A_S_FIDUCIAL
        if first.z_init is not None:
            attrs["z_init"] = first.z_init
        for key, value in attrs.items():
            f.attrs[key] = value
    if bar is not None:
        bar.close()
    return {"pairs": len(pairs), "seeds": seeds, "skipped": dict(skipped), "ngrid": n,
            "redshifts": list(redshifts), "channels": channels, "attrs": attrs}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m exagan_tf.gr.import_gevolution``."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.gr.import_gevolution",
        description="Import gevolution GR and Newtonian runs (phi snapshots) into one cube file "
        "for RACOON/PENGUIN.")
    p.add_argument("runs", help="folder holding the runs' output folders (searched for *.ini)")
    p.add_argument("--out", required=True, help="output .h5 file (never overwritten)")
    p.add_argument("--input", choices=("difference", "redshifts"), default="difference",
                   help="difference (default): phi(z1)/D_phi(z1) - phi(z2)/D_phi(z2) of "
                   "--redshifts (10 1); redshifts: one channel per redshift (default: all "
                   "snapshot redshifts the runs share)")
    p.add_argument("--redshifts", type=float, nargs="+", default=None,
                   help="snapshot redshifts to read")
    p.add_argument("--raw", action="store_true",
                   help="store raw cubes (for loader WholeCubeDataset2)")
    p.add_argument("--renumber", action="store_true",
                   help="store the pairs as seeds 0..n-1 (train/test splits count from 0); "
                   "the gevolution seeds go to dataset 'gevolution_seeds'")
    return p.parse_args(argv)


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: import, then print what was read and what was skipped."""
    args = parse_args(argv)
    if Path(args.out).exists():
        raise UserError(f"{args.out}: already exists; refusing to overwrite it")
    s = import_runs(args.runs, args.out, redshifts=args.redshifts,
                    difference=args.input == "difference", standardise=not args.raw,
                    renumber=args.renumber)
    seeds = s["seeds"]
    print(f"wrote {args.out}: {s['pairs']} GR/Newton pairs (seeds {seeds[0]}..{seeds[-1]}) of "
          f"{len(s['channels'])} x {s['ngrid']}^3 ({', '.join(s['channels'])}), "
          f"{'standardised' if not args.raw else 'raw'}")
    if s["skipped"]:
        print("skipped: " + "; ".join(f"{k}: {v}" for k, v in sorted(s["skipped"].items())))
    else:
        print("skipped: nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
