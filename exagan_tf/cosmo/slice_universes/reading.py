"""Input universe files: finding them and reading their headers (``full``, ``redshifts``,
``namePar``, ``physPar``, ``unitPar``) without touching the voxels.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exagan_tf.cosmo.slice_universes.tiling import _shape_problem, n_slices
from exagan_tf.errors import UserError

_INPUT_SUFFIXES = (".h5", ".hdf5")
class BadUniverse(Exception):
    """An input file that cannot be sliced; the message is the reason (without the file name)."""


@dataclass(frozen=True)
class UniverseInfo:
    """What the header of one input universe says (read without touching the voxels)."""

    path: str
    stem: str
    grid: int
    n_redshifts: int
    dtype: str
    redshift: float | None
    physPar: list[float] | None
    unitPar: list[float] | None
    namePar: list[str] | None
    n_images: int
    chunks: list[int] | None = None
    filtered: bool = False
    stored_fraction: float = 1.0

def find_inputs(inputs) -> list[Path]:
    """Expand folders (their ``*.h5`` and ``*.hdf5``), globs and file names; sorted, unique."""
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    found: set[Path] = set()
    for item in inputs:
        item = str(item)
        path = Path(item)
        if path.is_dir():
            matches = [p for p in path.iterdir() if p.suffix in _INPUT_SUFFIXES and p.is_file()]
            if not matches:
                raise UserError(f"{path}: folder holds no *.h5 or *.hdf5 files")
        elif glob.has_magic(item):
            matches = [Path(p) for p in glob.glob(item) if Path(p).is_file()]
            if not matches:
                raise UserError(f"{item}: no file matches this pattern")
        elif path.is_file():
            matches = [path]
        else:
            raise UserError(f"{path}: no such file or folder")
        found.update(p.resolve() for p in matches)
    if not found:
        raise UserError("no input files given")
    files = sorted(found)
    stems: dict[str, Path] = {}
    for p in files:
        if p.stem in stems:
            raise UserError(
                f"{p}: same name stem '{p.stem}' as {stems[p.stem]}; shards are named by stem, "
                "so rename one of them"
            )
        stems[p.stem] = p
    return files


def _floats(f, name: str) -> list[float] | None:
    """The values of dataset ``name`` as floats, None when absent; BadUniverse when they are
    not numbers (strings, a group) or not finite."""
    if name not in f:
        return None
    obj = f[name]
    if not hasattr(obj, "dtype") or obj.dtype.kind not in "iuf":
        kind = getattr(obj, "dtype", "a group")
        raise BadUniverse(f"'{name}' holds {kind}; expected numbers")
    values = np.asarray(obj[()], dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise BadUniverse(f"'{name}' holds non-finite values ({values.tolist()[:4]}...)")
    return values.tolist()


def inspect_universe(
    path: str | os.PathLike, img_dim: int, step: int, axis: int, redshift_index: int
) -> UniverseInfo:
    """Read the header of one universe file and check it can be sliced.

    Raises:
        BadUniverse: the file cannot be opened, ``full`` is missing or wrongly shaped, or
            ``redshifts`` disagrees with ``full``. The message is the reason alone.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "full" not in f or not isinstance(f["full"], h5py.Dataset):
                raise BadUniverse("no dataset 'full'")
            full = f["full"]
            if full.dtype.kind not in "iuf":
                raise BadUniverse(f"'full' has dtype {full.dtype}; expected numbers")
            problem = _shape_problem(full.shape, img_dim, redshift_index)
            if problem:
                raise BadUniverse(problem)
            redshifts = _floats(f, "redshifts")
            if redshifts is not None and len(redshifts) != full.shape[3]:
                raise BadUniverse(
                    f"'redshifts' has {len(redshifts)} values but 'full' has {full.shape[3]} "
                    "redshift channels"
                )
            names = None
            if "namePar" in f:
                names = [
                    v.decode() if isinstance(v, bytes) else str(v)
                    for v in np.asarray(f["namePar"][()]).ravel()
                ]
            grid = full.shape[0]
            return UniverseInfo(
                path=str(path),
                stem=path.stem,
                grid=grid,
                n_redshifts=full.shape[3],
                dtype=str(full.dtype),
                redshift=None if redshifts is None else redshifts[redshift_index],
                physPar=_floats(f, "physPar"),
                unitPar=_floats(f, "unitPar"),
                namePar=names,
                n_images=n_slices(grid, step) * (grid // img_dim) ** 2,
                chunks=None if full.chunks is None else list(full.chunks),
                filtered=bool(full.chunks) and full.id.get_create_plist().get_nfilters() > 0,
                stored_fraction=stored_fraction(full),
            )
    except OSError as err:
        raise BadUniverse(
            f"not a readable HDF5 file, corrupt or truncated ({_short(err)})"
        ) from None


def stored_fraction(full) -> float:
    """Fraction of an h5py dataset held in the file: stored chunks / all chunks when chunked,
    stored bytes / declared bytes when contiguous (HDF5 allocates it on first write)."""
    if full.chunks:
        total = int(np.prod([-(-n // c) for n, c in zip(full.shape, full.chunks, strict=True)]))
        return full.id.get_num_chunks() / total if total else 1.0
    nbytes = int(np.prod(full.shape)) * full.dtype.itemsize
    return min(1.0, full.id.get_storage_size() / nbytes) if nbytes else 1.0


def _short(err: BaseException) -> str:
    """One short line from an exception: HDF5's specific reason (in parentheses) when it gives one.

    h5py says e.g. "Unable to synchronously open file (truncated file: eof = 17408, ...)"; the
    part in parentheses is what tells a physicist what is wrong with the file.
    """
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    text = text.strip() or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."
