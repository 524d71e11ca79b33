"""Import DeepCMB's simulated map files (sims_qu.npy, sims_ekb.npy) into the CMB data file.

What the files are (read from the only public loader of DeepCMB's simulations, ``CMBDataset``
of the StyleGAN2-CMB code by astroDGAN's author, which reads DeepCMB's
``deepskies-cmb/r=0.1_simulations`` folder; astroDGAN's own ``utils/data_loader.py`` and
DeepCMB's simulation code are not public):

* ``sims_qu.npy``: the lensed Stokes maps, ``(n, 2, npix, npix)``, channel 0 = q, 1 = u;
* ``sims_ekb.npy``: ``(n, 3, npix, npix)``, channel 0 = e (unlensed E), 1 = k (the lensing
  convergence kappa), 2 = b (unlensed B);
* channels first; the loader moves them last (``np.transpose(m, (0, 2, 3, 1))``) and uses
  ``ndeg = 5``, ``npix = 128`` (5 x 5 degree maps, 2.34 arcmin pixels, as in DeepCMB,
  arXiv:1810.01483);
* ``aps_quekb.npy`` beside them is the loader's own cache of angular power spectra (a pickled
  dict); it is not data and is not read.

The loader min-max normalises each channel, so it states no units; DeepCMB's paper gives the
polarisation maps in micro-Kelvin and kappa dimensionless. The importer keeps the values as
stored (``--to-uk`` multiplies q, u, e, b when the files are in other temperature units, e.g.
1e6 for Kelvin) and writes :mod:`exagan_tf.cmb.data`'s file: ``maps`` float32
``(n, npix, npix, 5)`` with channels ``quekb`` (rows and columns as stored: the suite reads
rows as y, columns as x) and the attributes ``npix``, ``ndeg``, ``pixel_arcmin``. Maps with NaN
or infinite pixels are skipped and counted (``source_index`` records which maps were kept).
The files are memory-mapped and copied in chunks, so memory stays at one chunk; the output
appears only when complete and is never overwritten.

Command line::

    python -m exagan_tf.cmb.import_deepcmb SIMS_DIR --out data/deepcmb
    python -m exagan_tf.cmb.main -i qu -o e --data-dir data/deepcmb ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.cmb import data as cmb_data
from exagan_tf.cmb import simulate as sim
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path

FILES = {"sims_qu.npy": "qu", "sims_ekb.npy": "ekb"}
NDEG = 5.0
CHUNK = 64


def _open(path: Path, letters: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (DeepCMB's simulations hold sims_qu.npy and "
                        "sims_ekb.npy)") from None
    except ValueError as err:
        raise UserError(f"{path}: not a plain npy array ({err})") from None
    c = len(letters)
    if arr.ndim != 4 or arr.shape[1] != c or arr.shape[2] != arr.shape[3]:
        hint = " (channels last? DeepCMB's files put them first)" if (
            arr.ndim == 4 and arr.shape[-1] == c) else ""
        raise UserError(f"{path}: shape {arr.shape}; expected (n, {c}, npix, npix) with "
                        f"channels {', '.join(letters)}{hint}")
    if arr.dtype.kind not in "iuf":
        raise UserError(f"{path}: holds {arr.dtype}; expected numbers")
    if arr.shape[0] == 0:
        raise UserError(f"{path}: holds no maps")
    return arr


def import_maps(src: str | Path, out: str | Path, *, ndeg: float = NDEG, to_uk: float = 1.0,
                progress: bool = True) -> dict:
    """Copy DeepCMB's maps in ``src`` into ``out``/cmb_maps.h5 (module docstring).

    Returns a summary: ``maps`` (kept), ``skipped`` (maps with NaN or inf), ``npix``, ``ndeg``.
    """
    import h5py

    src, out = Path(src), Path(out)
    target = out / cmb_data.DATA_FILE
    if target.exists():
        raise UserError(f"{target}: already exists; refusing to overwrite it")
    if not src.is_dir():
        raise UserError(f"{src}: no such folder (expected sims_qu.npy and sims_ekb.npy)")
    if not 0.1 <= ndeg <= 30.0:
        raise UserError(f"--ndeg={ndeg}: expected a map side of 0.1 to 30 degrees")
    if not (np.isfinite(to_uk) and to_uk > 0):
        raise UserError(f"--to-uk={to_uk}: expected a positive factor")
    arrays = {letters: _open(src / name, letters) for name, letters in FILES.items()}
    qu, ekb = arrays["qu"], arrays["ekb"]
    if qu.shape[0] != ekb.shape[0] or qu.shape[2:] != ekb.shape[2:]:
        raise UserError(f"{src}: sims_qu.npy holds {qu.shape[0]} maps of {qu.shape[2:]}, "
                        f"sims_ekb.npy {ekb.shape[0]} of {ekb.shape[2:]}; expected the same "
                        "maps in both")
    n, npix = qu.shape[0], qu.shape[2]
    # stored channel order quekb from (q, u) and (e, k, b)
    take = [("qu", 0), ("qu", 1), ("ekb", 0), ("ekb", 1), ("ekb", 2)]
    scale = np.array([to_uk if c != "k" else 1.0 for c in sim.CHANNELS])
    kept: list[int] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="map", desc=str(target))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("maps", (0, npix, npix, len(sim.CHANNELS)), dtype="float32",
                              maxshape=(n, npix, npix, len(sim.CHANNELS)),
                              chunks=(1, npix, npix, len(sim.CHANNELS)))
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            block = np.stack([np.asarray(arrays[a][start:stop, i], dtype=np.float64)
                              for a, i in take], axis=-1) * scale
            good = np.all(np.isfinite(block), axis=(1, 2, 3))
            if good.any():
                m = ds.shape[0]
                ds.resize(m + int(good.sum()), axis=0)
                ds[m:] = block[good].astype(np.float32)
                kept.extend(int(i) for i in np.flatnonzero(good) + start)
            if bar is not None:
                bar.update(stop - start)
        if not kept:
            raise UserError(f"{src}: every map has NaN or infinite pixels; nothing to import")
        ds.attrs["channels"] = sim.CHANNELS
        ds.attrs["units"] = ("q, u, e, b as stored" + (f" x {to_uk:g}" if to_uk != 1 else "")
                             + " (uK in DeepCMB); k dimensionless")
        f.create_dataset("source_index", data=np.asarray(kept, dtype=np.int64))
        f.attrs.update({"npix": npix, "ndeg": float(ndeg), "pixel_arcmin": ndeg * 60.0 / npix,
                        "source": "DeepCMB simulations (sims_qu.npy, sims_ekb.npy)",
                        "to_uk": float(to_uk)})
    if bar is not None:
        bar.close()
    return {"maps": len(kept), "skipped": n - len(kept), "npix": npix, "ndeg": float(ndeg),
            "path": target}


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: import, then print what was read and what was skipped."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.cmb.import_deepcmb",
        description="Import DeepCMB's sims_qu.npy and sims_ekb.npy into cmb_maps.h5 for "
        "python -m exagan_tf.cmb.main --data-dir.")
    p.add_argument("src", help="folder with sims_qu.npy and sims_ekb.npy")
    p.add_argument("--out", required=True, help="data folder to write cmb_maps.h5 into (new)")
    p.add_argument("--ndeg", type=float, default=NDEG, help="map side in degrees (5, DeepCMB)")
    p.add_argument("--to-uk", type=float, default=1.0,
                   help="factor to micro-Kelvin for q, u, e, b (1: the files are in uK)")
    args = p.parse_args(argv)
    s = import_maps(args.src, args.out, ndeg=args.ndeg, to_uk=args.to_uk)
    print(f"wrote {s['path']}: {s['maps']} maps of {s['npix']}^2 over {s['ndeg']:g} deg "
          f"({s['ndeg'] * 60 / s['npix']:.2f} arcmin pixels), channels q u e k b")
    extra = " (aps_quekb.npy, the loader's spectra cache, not read)" if (
        Path(args.src) / "aps_quekb.npy").exists() else ""
    print(f"skipped: {s['skipped']} maps with NaN or infinite pixels{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
