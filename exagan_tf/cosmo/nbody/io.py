"""Universe files in the CosmoFlow HDF5 layout (``full``, ``redshifts``, ``namePar``, ``physPar``,
``unitPar`` datasets; provenance as attributes), named ``univ_<seed>_<index:05d>.h5``.

``full`` is chunked (1, N, N, 4) so that reading every k-th slice along axis 0 touches only those
slices, and gzip-1 compressed with the byte shuffle filter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from exagan_tf.cosmo.nbody.cosmology import PARAMETER_NAMES, REDSHIFTS
from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path, open_h5

FILE_PATTERN = "univ_{seed}_{index:05d}.h5"


def universe_filename(seed: int, index: int) -> str:
    """``univ_<seed>_<index:05d>.h5``."""
    return FILE_PATTERN.format(seed=seed, index=index)


def write_universe(path: str | os.PathLike, counts: np.ndarray, phys: Sequence[float],
                   unit: Sequence[float], attrs: dict | None = None,
                   redshifts: Sequence[float] = REDSHIFTS) -> None:
    """Write one universe in the CosmoFlow layout, atomically; an existing file is an error.

    Args:
        path: destination ``.h5`` file.
        counts: (N, N, N, len(redshifts)) int16 particle counts, last axis in ``redshifts`` order.
        phys, unit: the 4 physical and unit parameter values (namePar order).
        attrs: provenance stored as file attributes (scalars or strings).
        redshifts: the snapshot redshifts (CosmoFlow: [0, 0.5, 1.5, 3.0]).
    """
    import h5py

    counts = np.asarray(counts)
    n = counts.shape[0]
    if counts.ndim != 4 or counts.shape[:3] != (n, n, n) or counts.shape[3] != len(redshifts):
        raise ValueError(f"counts shape {counts.shape}: expected (N, N, N, {len(redshifts)})")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("full", data=counts.astype(np.int16, copy=False),
                         chunks=(1, n, n, counts.shape[3]), compression="gzip",
                         compression_opts=1, shuffle=True)
        f.create_dataset("redshifts", data=np.asarray(redshifts, dtype=np.float32))
        f.create_dataset("namePar", data=np.array(PARAMETER_NAMES))
        f.create_dataset("physPar", data=np.asarray(phys, dtype=np.float32))
        f.create_dataset("unitPar", data=np.asarray(unit, dtype=np.float32))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def read_universe(path: str | os.PathLike, full_index=Ellipsis) -> dict:
    """Read and validate one universe file in the CosmoFlow layout.

    Args:
        path: the HDF5 file.
        full_index: index applied to the ``full`` dataset before reading it, e.g.
            ``np.s_[::8, :, :, 0]`` reads only every 8th slice at z = 0. Default: everything.

    Returns:
        dict with ``full`` (the indexed counts), ``full_shape`` (shape of the whole dataset),
        ``redshifts``, ``namePar`` (list of str), ``physPar``, ``unitPar`` (float64 arrays) and
        ``attrs`` (file attributes).

    Raises:
        UserError: the file is missing or not HDF5, or a dataset is missing, not a dataset or has
            the wrong shape or kind; the message names the file, the dataset, its shape and what
            was expected.
    """
    import h5py

    with open_h5(path) as f:
        def dataset(name: str, expected: str) -> h5py.Dataset:
            obj = f.get(name)
            if not isinstance(obj, h5py.Dataset):
                what = "missing" if obj is None else "not a dataset"
                raise UserError(f"{path}: dataset '{name}' {what}; expected {expected}")
            return obj

        full = dataset("full", "(N, N, N, nz) integer particle counts")
        redshifts = dataset("redshifts", "(nz,) floats")
        if redshifts.ndim != 1:
            raise UserError(f"{path}: dataset 'redshifts' has shape {redshifts.shape}; "
                            "expected (nz,)")
        nz = redshifts.shape[0]
        shape = full.shape
        if len(shape) != 4 or shape[1:3] != (shape[0],) * 2 or shape[3] != nz:
            raise UserError(f"{path}: dataset 'full' has shape {shape}; expected (N, N, N, {nz}) "
                            f"(a cube with one channel per redshift)")
        if full.dtype.kind not in "iu":
            raise UserError(f"{path}: dataset 'full' has dtype {full.dtype}; expected integer "
                            "particle counts (int16)")
        out = {"full": full[full_index], "full_shape": tuple(shape),
               "redshifts": redshifts[()].astype(np.float64)}
        for name in ("namePar", "physPar", "unitPar"):
            ds = dataset(name, "(4,)")
            if ds.shape != (4,):
                raise UserError(f"{path}: dataset '{name}' has shape {ds.shape}; expected (4,)")
            out[name] = ds[()]
        out["namePar"] = [v.decode() if isinstance(v, bytes) else str(v) for v in out["namePar"]]
        out["physPar"] = np.asarray(out["physPar"], dtype=np.float64)
        out["unitPar"] = np.asarray(out["unitPar"], dtype=np.float64)
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out
