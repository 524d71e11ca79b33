"""Slice N-body universe cubes into 2-D training and validation shards for the ExaGAN DCGAN.

Usage::

    python -m exagan_tf.cosmo.slice_universes --input data --output data/slices

Input: CosmoFlow-layout HDF5 files (``*.h5`` or ``*.hdf5``). Dataset ``full`` of shape
(N, N, N, n_z) holds particle counts per voxel (int16 in CosmoFlow, N = 512), the last axis being
redshift (CosmoFlow: z = [0, 0.5, 1.5, 3.0], index 0 = z 0); ``redshifts``, ``namePar``,
``physPar`` and ``unitPar`` describe the universe and are copied into the shard attributes when
present.

Slicing (the original ExaGAN ``slice_universes.py`` with its defaults, img_dim 128, step 8,
axis 0, redshift index 0): every ``step``-th plane along ``axis`` is cut into (N/img_dim)^2 tiles
of img_dim^2 voxels, giving (ceil(N/step) * (N/img_dim)^2) images per universe, 1,024 for a
CosmoFlow cube. Image order is tile-major, exactly the original's concatenation order::

    k = (ix * (N // img_dim) + iy) * n_slices + j
    axis 0: image k = full[j*step, ix*d:(ix+1)*d, iy*d:(iy+1)*d, redshift_index]

(axis 1 and 2: the plane ``full[:, j*step]`` or ``full[:, :, j*step]``, its two remaining axes
in order as (ix, iy)). The original shuffled the slices inside each tile with an unseeded
``np.random.shuffle``; that is left out here, shuffling belongs to the training pipeline.

Differences from the original, on purpose:

- Train/validation is split BY UNIVERSE (the original took the first 17,000 images of all files
  concatenated, so one universe could feed both). The split ranks universes by a SHA-256 hash of
  ``seed`` and the file stem and puts the first ``round(val_fraction * n)`` in validation (at
  least one when there are two or more universes, never all of them): it depends only on the seed
  and the file names, never on their order or on the number of workers. Universes already sliced
  into the output folder keep their split, so adding universes later never moves one across.
- Output is one HDF5 shard per universe, ``<output>/train/<stem>.h5`` or ``<output>/val/<stem>.h5``
  with dataset ``data`` (n, img_dim, img_dim) of the RAW counts in the input dtype (the DCGAN
  pipeline applies s(x) = 2x/(x+a) - 1 itself; the original wrote ``raw_train.npy`` /
  ``raw_val.npy`` of shape (n, 128, 128, 1)), dataset ``position`` (n, 3) int32 giving, for each
  image, the plane index along ``axis`` and the voxel offsets of the tile along the two remaining
  axes, and attributes recording the slicing. ``<output>/manifest.json`` records the options, the
  split, the counts and the skipped files.
- Resumable: shards are written atomically, so an existing shard is complete and is skipped. An
  output folder sliced with other options (img_dim, step, axis, redshift_index, val_fraction,
  seed) is refused, naming the option: differently sliced shards are never mixed.
- Bad inputs: a file that h5py cannot open or read (corrupt, truncated) or whose ``full`` is
  missing or wrongly shaped (not 4-D, not cubic, too few redshift channels, N not divisible by
  img_dim) is SKIPPED WITH A ONE-LINE WARNING naming the file and the reason, and recorded under
  ``skipped`` in the manifest; it is never mixed in. ``--strict`` turns it into a one-line error
  (exit status 2) instead. Skipping is the default because one broken file among hundreds of
  downloaded universes should not stop a long run; the manifest keeps the record.

Streaming with bounded memory (for full-size CosmoFlow cubes, 512^3 x 4 int16 = 1 GiB, and
beyond): the cube is never read whole. The unit of reading is one BAND, the ``img_dim`` rows of
one plane that make one row of tiles, with all redshift channels (img_dim * N * n_z values,
512 KiB for a CosmoFlow cube at img_dim 128); a worker holds one band plus a block of tiles of at
most ``_BLOCK_BYTES`` (a few planes of that tile row), so its memory does not grow with N^3 or
with the number of tiles. Reading is chunk-aware: on a chunked input the HDF5 chunk cache is
sized to the chunks one band touches (capped at ``_CHUNK_CACHE_MAX``), so a compressed chunk is
decompressed once per pass and not once per plane, and bands that touch no stored chunk are
filled with the dataset's fill value without a read (a cube that declares 4096^3 x 4 but stores
a few chunks is sliced at the speed of writing). Measured peak RSS per worker: see
``benchmarks/bench_slice_memory.py`` and the README.

Checks before and after writing:

- A cube that is MOSTLY EMPTY is sliced with a one-line warning: from the header when fewer than
  half of its chunks (or bytes, contiguous) are stored, from the content when more than half of
  its images are all zero (recorded as ``zero_images`` in the manifest).
- Free disk space is checked against the size of the shards before anything is written (and by
  each worker before its shard): too little is a one-line error, exit 2. The size is the
  uncompressed size, an upper bound for gzip shards.
- Every shard's SHA-256 and size are recorded in the manifest. A rerun verifies every existing
  shard against its record before skipping it, and :func:`exagan_tf.cosmo.data.check_shards`
  verifies them when training starts: a damaged shard (e.g. its last bytes zeroed, same size)
  is refused with one line naming it, never taken as done. The cost is one read of every shard
  (SHA-256 runs at ~0.5 GB/s on one core here, about 60 ms for a 32 MiB CosmoFlow shard). The
  manifest is rewritten as shards finish (at most every 2 s), so a killed run loses at most the
  records of the last shards; a shard on disk with no record (written atomically, so complete)
  is hashed and adopted by the next run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from exagan_tf import __version__
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, write_json_atomic

SPLITS = ("train", "val")
MANIFEST = "manifest.json"
# The options that define what is in a shard or which split it is in: a rerun into the same
# output folder must use the same values, or the folder would mix two datasets.
DATASET_OPTIONS = ("img_dim", "step", "axis", "redshift_index", "val_fraction", "seed")
COMPRESSIONS = ("none", "gzip")
# Shard chunking, chosen for readers (measured with h5py on 1,024 images of 128^2 int16):
# uncompressed shards use chunks of 64 images (2 MiB, larger than HDF5's default 1 MiB chunk
# cache, so reads bypass the cache and go straight to the file: ~10^5 images/s one by one or in
# batches); compressed shards use chunks of about 512 KiB (16 such images) that fit the cache, so
# a reader going image by image decompresses each chunk once.
_CHUNK_IMAGES_RAW = 64
_CHUNK_BYTES_COMPRESSED = 512 * 1024
_INPUT_SUFFIXES = (".h5", ".hdf5")
# Tiles held by a worker at a time (one block of planes of one tile row), in bytes: at 16 MiB a
# 4096^3 cube at img_dim 16 is sliced in blocks of 128 planes (it used to be 16 GiB at once).
_BLOCK_BYTES = 16 * 2**20
# Largest HDF5 chunk cache given to a chunked input: the chunks one band touches, up to this.
_CHUNK_CACHE_MAX = 64 * 2**20
# A chunk map (stored or not, per chunk) is built only up to this many chunks.
_CHUNK_MAP_MAX = 10**7
# More than this fraction empty (chunks not stored, or all-zero images) draws a warning.
EMPTY_WARN_FRACTION = 0.5
# The manifest is rewritten at most this often while shards finish, and at the end.
_MANIFEST_EVERY_S = 2.0


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


# --------------------------------------------------------------------------------------------
# Slicing


def n_slices(grid: int, step: int) -> int:
    """Number of planes taken along the slicing axis: positions 0, step, 2*step, ... < grid."""
    return len(range(0, grid, step))


def _shape_problem(shape: tuple[int, ...], img_dim: int, redshift_index: int) -> str | None:
    """Why a ``full`` array of this shape cannot be sliced, or None when it can."""
    if len(shape) != 4:
        return f"'full' has shape {tuple(shape)}; expected a 4-D (N, N, N, n_redshifts) cube"
    if not shape[0] == shape[1] == shape[2]:
        return f"'full' has shape {tuple(shape)}; expected a cubic (N, N, N, n_redshifts) grid"
    if redshift_index >= shape[3]:
        return (
            f"'full' has {shape[3]} redshift channels; --redshift-index {redshift_index} "
            "needs at least " + str(redshift_index + 1)
        )
    if shape[0] % img_dim:
        return f"grid size {shape[0]} is not divisible by --img-dim {img_dim}"
    return None


def _check_options(img_dim: int, step: int, axis: int, redshift_index: int) -> None:
    for name, value in (("img_dim", img_dim), ("step", step)):
        if int(value) != value or value < 1:
            raise UserError(f"--{name.replace('_', '-')} {value}: expected an integer >= 1")
    if axis not in (0, 1, 2):
        raise UserError(f"--axis {axis}: expected 0, 1 or 2")
    if int(redshift_index) != redshift_index or redshift_index < 0:
        raise UserError(f"--redshift-index {redshift_index}: expected an integer >= 0")


def band_selection(axis: int, plane: int, r0: int, r1: int) -> tuple:
    """Index of one band: rows ``r0:r1`` of plane ``plane`` along ``axis``, all columns and
    redshift channels; ``full[band_selection(...)]`` has shape (r1 - r0, N, n_redshifts).

    The rows run along the first remaining axis and the columns along the second, so the band of
    tile row ``ix`` holds the tiles (ix, 0), (ix, 1), ... side by side.
    """
    rows = slice(r0, r1)
    if axis == 0:
        return (plane, rows, slice(None), slice(None))
    if axis == 1:
        return (rows, plane, slice(None), slice(None))
    return (rows, slice(None), plane, slice(None))


class StoredChunks:
    """Which chunks of a chunked HDF5 dataset are stored in the file (the others read as the
    fill value). Built from ``chunk_iter``, one callback per stored chunk, so it costs nothing
    on a nearly empty cube."""

    def __init__(self, dset) -> None:
        self.chunks = tuple(dset.chunks)
        grid = tuple(-(-n // c) for n, c in zip(dset.shape, self.chunks, strict=True))
        self.stored = np.zeros(grid, dtype=bool)
        self.n_stored = 0

        def mark(info) -> None:
            index = tuple(o // c for o, c in zip(info.chunk_offset, self.chunks, strict=True))
            self.stored[index] = True
            self.n_stored += 1

        dset.id.chunk_iter(mark)

    def any_stored(self, selection: tuple) -> bool:
        """Whether any chunk that ``selection`` (ints and slices with step 1) touches is stored."""
        index = []
        for sel, c, n in zip(selection, self.chunks, self.stored.shape, strict=True):
            if isinstance(sel, slice):
                start, stop, _ = sel.indices(n * c)
                index.append(slice(start // c, (stop - 1) // c + 1))
            else:
                index.append(slice(sel // c, sel // c + 1))
        return bool(self.stored[tuple(index)].any())


def stored_chunks(full) -> StoredChunks | None:
    """The chunk map of an h5py dataset that has unstored chunks; None when every chunk is
    stored, the dataset is contiguous or not HDF5, or the map would be too large."""
    chunks = getattr(full, "chunks", None)
    if not chunks or not hasattr(full, "id"):
        return None
    total = int(np.prod([-(-n // c) for n, c in zip(full.shape, chunks, strict=True)]))
    if total > _CHUNK_MAP_MAX or full.id.get_num_chunks() >= total:
        return None
    return StoredChunks(full)


def band_chunk_cache(
    shape, chunks, itemsize: int, img_dim: int, axis: int, filtered: bool
) -> int:
    """Bytes of HDF5 chunk cache for reading bands: HDF5's default 1 MiB unless the chunks are
    compressed (filtered), then enough for every chunk one band touches, capped at
    ``_CHUNK_CACHE_MAX``.

    Measured on a 4096^3 x 4 cube in 64^3 x 4 chunks: unfiltered chunks larger than the cache are
    read straight into the band (0.5 s for four planes at img_dim 16), while a 64 MiB cache
    holds fill-value copies of unstored chunks (+69 MiB RSS, 35 s). Filtered chunks must be
    decompressed whole, so there a cache that keeps them for the next planes saves work.
    """
    if not chunks or not filtered:
        return 2**20
    rows_axis, cols_axis = (a for a in (0, 1, 2) if a != axis)
    c = chunks[rows_axis]
    rows = max(((ix + 1) * img_dim - 1) // c - ix * img_dim // c + 1
               for ix in range(shape[rows_axis] // img_dim))
    n_chunks = rows * -(-shape[cols_axis] // chunks[cols_axis]) * -(-shape[3] // chunks[3])
    need = n_chunks * int(np.prod(chunks)) * itemsize
    return int(min(_CHUNK_CACHE_MAX, max(2**20, need)))


def block_planes(grid: int, img_dim: int, itemsize: int, n_slices_: int, cap: int) -> int:
    """Planes per block of tiles: at most ``cap``, and at most ``_BLOCK_BYTES`` of tiles."""
    per_plane = img_dim * grid * itemsize
    return max(1, min(n_slices_, cap, _BLOCK_BYTES // per_plane))


def iter_tile_blocks(
    full,
    img_dim: int,
    step: int,
    axis: int,
    redshift_index: int,
    block: int,
    stored: StoredChunks | None = None,
):
    """Yield (ix, j0, tiles): tiles (m, g, img_dim, img_dim) of tile row ``ix``, planes
    j0..j0+g, where m = N // img_dim and tile (ix, iy) is ``tiles[iy]``.

    Reads one band (:func:`band_selection`) at a time, so memory stays at one band plus one block,
    ``block * img_dim * N`` values, whatever the cube size. Bands touching no stored chunk of
    ``stored`` are filled with the dataset's fill value without a read.
    """
    grid = full.shape[0]
    ns = n_slices(grid, step)
    m = grid // img_dim
    fill = getattr(full, "fillvalue", 0)
    for ix in range(m):
        r0, r1 = ix * img_dim, (ix + 1) * img_dim
        for j0 in range(0, ns, block):
            g = min(block, ns - j0)
            tiles = np.empty((m, g, img_dim, img_dim), dtype=full.dtype)
            for jj in range(g):
                sel = band_selection(axis, (j0 + jj) * step, r0, r1)
                if stored is not None and not stored.any_stored(sel):
                    tiles[:, jj] = fill
                    continue
                # all channels read, one picked in memory: on a contiguous CosmoFlow file that
                # is 2-3x faster than letting HDF5 gather every n_z-th value
                band = np.asarray(full[sel])[..., redshift_index]
                tiles[:, jj] = band.reshape(img_dim, m, img_dim).swapaxes(0, 1)
            yield ix, j0, tiles


def row_positions(ix: int, grid: int, img_dim: int, step: int) -> np.ndarray:
    """Origins of the images of tile row ``ix`` (rows ix*m*ns ... of :func:`tile_positions`)."""
    m = grid // img_dim
    ns = n_slices(grid, step)
    iy, j = np.meshgrid(np.arange(m), np.arange(ns), indexing="ij")
    cols = [j.ravel() * step, np.full(m * ns, ix * img_dim), iy.ravel() * img_dim]
    return np.stack(cols, axis=1).astype(np.int32)


def tile_positions(grid: int, img_dim: int, step: int) -> np.ndarray:
    """Origin of every image, shape (n, 3) int32, in the order of :func:`slice_cube_tiles`.

    Columns: plane index along the slicing axis, then the voxel offsets of the tile along the two
    remaining axes (in increasing axis order).
    """
    m = grid // img_dim
    ns = n_slices(grid, step)
    ix, iy, j = np.meshgrid(np.arange(m), np.arange(m), np.arange(ns), indexing="ij")
    pos = np.stack([j.ravel() * step, ix.ravel() * img_dim, iy.ravel() * img_dim], axis=1)
    return pos.astype(np.int32)


def slice_cube_tiles(
    full, img_dim: int = 128, step: int = 8, axis: int = 0, redshift_index: int = 0
) -> np.ndarray:
    """Cut a universe cube into 2-D tiles, in the original ExaGAN order.

    Args:
        full: array or h5py dataset of shape (N, N, N, n_redshifts) (particle counts per voxel);
            an h5py dataset is read one band at a time, never whole (the result is whole:
            :func:`slice_universes` streams shards instead).
        img_dim: tile side in voxels; N must be divisible by it.
        step: take every ``step``-th plane along ``axis`` (positions 0, step, 2*step, ...).
        axis: slicing axis, 0, 1 or 2.
        redshift_index: redshift channel (CosmoFlow: 0 is z = 0).

    Returns:
        Array (n_slices * (N // img_dim)^2, img_dim, img_dim) in the input dtype, tile-major:
        image k = (ix * (N // img_dim) + iy) * n_slices + j is, for axis 0,
        ``full[j*step, ix*img_dim:(ix+1)*img_dim, iy*img_dim:(iy+1)*img_dim, redshift_index]``,
        which is the order in which the original concatenated its tiles.
    """
    _check_options(img_dim, step, axis, redshift_index)
    problem = _shape_problem(tuple(full.shape), img_dim, redshift_index)
    if problem:
        raise UserError(problem)
    grid = full.shape[0]
    ns = n_slices(grid, step)
    m = grid // img_dim
    out = np.empty((m, m, ns, img_dim, img_dim), dtype=full.dtype)
    for ix, j0, tiles in iter_tile_blocks(full, img_dim, step, axis, redshift_index, block=ns):
        out[ix, :, j0 : j0 + tiles.shape[1]] = tiles
    return out.reshape(m * m * ns, img_dim, img_dim)


# --------------------------------------------------------------------------------------------
# Inputs


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


# --------------------------------------------------------------------------------------------
# Split


def n_validation(n: int, val_fraction: float) -> int:
    """Validation universes out of ``n``: round(val_fraction * n), >= 1 if n >= 2, < n."""
    if n < 2 or val_fraction <= 0:
        return 0
    return min(n - 1, max(1, int(np.floor(val_fraction * n + 0.5))))


def _rank_key(stem: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{stem}".encode()).hexdigest()


def assign_splits(
    stems, val_fraction: float, seed: int, existing: dict[str, str] | None = None
) -> dict[str, str]:
    """Map each universe stem to 'train' or 'val', deterministically.

    Universes are ranked by SHA-256 of (seed, stem); the first :func:`n_validation` go to 'val'.
    Stems in ``existing`` (already sliced) keep their split, and only the new ones fill the
    validation quota, so a folder never holds a universe in both splits.
    """
    existing = dict(existing or {})
    all_stems = sorted(set(stems) | set(existing))
    target = n_validation(len(all_stems), val_fraction)
    need = max(0, target - sum(1 for s in existing.values() if s == "val"))
    new = sorted((s for s in all_stems if s not in existing), key=lambda s: (_rank_key(s, seed), s))
    splits = dict(existing)
    for i, stem in enumerate(new):
        splits[stem] = "val" if i < need else "train"
    return splits


# --------------------------------------------------------------------------------------------
# Output folder


def list_shards(folder: str | os.PathLike, split: str) -> list[Path]:
    """Sorted shard files of one split ('train' or 'val') in a slice_universes output folder."""
    if split not in SPLITS:
        raise UserError(f"split '{split}': expected one of {', '.join(SPLITS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of slices (make it with slice_universes)")
    sub = folder / split
    return sorted(sub.glob("*.h5")) if sub.is_dir() else []


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest.json of a slice_universes output folder, as a dict."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(f"{path}: no such file (make the folder with slice_universes)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a readable JSON manifest ({_short(err)})") from None
    if not isinstance(manifest, dict) or "options" not in manifest:
        raise UserError(f"{path}: not a slice_universes manifest (no 'options')")
    return manifest


def _differences(recorded: dict, options: dict) -> list[str]:
    out = []
    for key in DATASET_OPTIONS:
        if key in recorded and recorded[key] != options[key]:
            flag = "--" + key.replace("_", "-")
            out.append(f"{flag} {recorded[key]} (this run asks for {options[key]})")
    return out


def shard_record(manifest: dict | None, split: str, stem: str) -> dict | None:
    """The manifest's entry for the shard ``<split>/<stem>.h5``, None when it has none."""
    entry = (manifest or {}).get("universes", {}).get(stem)
    if isinstance(entry, dict) and entry.get("shard") == f"{split}/{stem}.h5":
        return entry
    return None


def verify_shard(shard: Path, entry: dict, manifest_path: Path) -> str:
    """Check a shard's size and SHA-256 against its manifest entry; return the digest.

    Raises:
        UserError: one line naming the shard when it differs from what was recorded.
    """
    size, digest = shard.stat().st_size, None
    if size == entry.get("bytes", size):
        digest = file_sha256(shard)
        if digest == entry["sha256"]:
            return digest
    found = f"{size} bytes" if digest is None else f"sha256 {digest[:12]}..."
    want = f"{entry.get('bytes')} bytes" if digest is None else f"{entry['sha256'][:12]}..."
    raise UserError(
        f"{shard}: damaged shard, {found} where {manifest_path} records {want}; "
        "move it away and slice its universe again"
    )


def _existing_shards(output: Path, options: dict, previous: dict | None) -> dict[str, dict]:
    """Shards already in ``output``: stem -> their attributes, ``sha256`` and ``bytes``.

    A shard recorded in the manifest with a checksum is verified against it (a damaged one is a
    one-line error); one without a record (the run writing it was killed before the manifest)
    is hashed and adopted. Shards sliced with other options are refused.
    """
    import h5py

    found: dict[str, dict] = {}
    for split in SPLITS:
        for shard in list_shards(output, split) if output.is_dir() else []:
            entry = shard_record(previous, split, shard.stem)
            if entry is not None and entry.get("sha256"):
                digest = verify_shard(shard, entry, output / MANIFEST)
            else:
                digest = file_sha256(shard)
            try:
                with h5py.File(shard, "r") as f:
                    attrs = {k: _plain(v) for k, v in f.attrs.items()}
                    attrs["n_images"] = int(f["data"].shape[0])
            except (OSError, KeyError) as err:
                raise UserError(
                    f"{shard}: unreadable shard ({_short(err)}); move it away"
                ) from None
            diff = _differences(attrs, options)
            if diff:
                raise UserError(
                    f"{shard}: sliced with {', '.join(diff)}; use another --output folder"
                )
            if shard.stem in found:
                raise UserError(f"{shard}: universe '{shard.stem}' is in both train/ and val/")
            attrs.update(split=split, sha256=digest, bytes=shard.stat().st_size)
            found[shard.stem] = attrs
    return found


def _plain(value):
    """HDF5 attribute value -> JSON-friendly Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------------------------
# Worker


def _chunk_len(img_dim: int, itemsize: int, n: int, compression: str) -> int:
    """Images per HDF5 chunk of a shard (see the note at ``_CHUNK_IMAGES_RAW``)."""
    if compression == "none":
        return max(1, min(n, _CHUNK_IMAGES_RAW))
    return max(1, min(n, _CHUNK_BYTES_COMPRESSED // (img_dim * img_dim * itemsize)))


def _guarded_blocks(full, img_dim, step, axis, redshift_index, block, stored):
    """:func:`iter_tile_blocks`, with read failures of the input turned into BadUniverse."""
    blocks = iter_tile_blocks(full, img_dim, step, axis, redshift_index, block, stored)
    while True:
        try:
            item = next(blocks)
        except StopIteration:
            return
        except (OSError, RuntimeError, KeyError) as err:
            raise BadUniverse(
                f"reading the voxels failed, file corrupt or truncated ({_short(err)})"
            ) from None
        _, j0, tiles = item
        # particle counts: a NaN, an infinity or a negative count means a damaged file
        if tiles.dtype.kind == "f" and not np.all(np.isfinite(tiles)):
            raise BadUniverse(f"'full' holds NaN or infinite counts (in planes from {j0 * step})")
        if tiles.dtype.kind in "if" and np.any(tiles < 0):
            raise BadUniverse(f"'full' holds negative particle counts (in planes from {j0 * step})")
        yield item


def shard_bytes(n_images: int, img_dim: int, itemsize: int) -> int:
    """Upper bound of a shard's size on disk: uncompressed images, positions and 1 MiB of HDF5
    metadata."""
    return n_images * (img_dim * img_dim * itemsize + 3 * 4) + 2**20


def free_bytes(folder: Path) -> int:
    """Free bytes for an unprivileged writer on the disk of ``folder`` (or of its nearest
    existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read into one 1 MiB buffer (no allocation per block)."""
    digest = hashlib.sha256()
    buffer = bytearray(2**20)
    view = memoryview(buffer)
    with open(path, "rb") as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB: VmHWM on Linux (``ru_maxrss`` keeps the
    peak of the process image before ``exec``, e.g. of the parent that spawned a worker)."""
    try:
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_shard(task: dict) -> dict:
    """Slice one universe into its shard; runs in a worker process.

    Returns a record with status 'written' (with the shard's SHA-256, size, all-zero images and
    the worker's peak RSS), 'failed' with the reason when the input cannot be read, or
    'no_space' when the disk cannot hold the shard; a failure leaves nothing behind because the
    shard goes to a temporary file first. Errors writing the output are not the input's fault
    and propagate.
    """
    import h5py

    info = UniverseInfo(**task["info"])
    t0 = time.perf_counter()
    need = shard_bytes(info.n_images, task["img_dim"], np.dtype(info.dtype).itemsize)
    free = free_bytes(Path(task["out_path"]).parent)
    if need > free:
        reason = (
            f"the shard needs up to {_mib(need)} but {_mib(free)} is free in "
            f"{Path(task['out_path']).parent}"
        )
        return {"stem": info.stem, "status": "no_space", "reason": reason}
    cache = band_chunk_cache(
        (info.grid,) * 3 + (info.n_redshifts,),
        info.chunks,
        np.dtype(info.dtype).itemsize,
        task["img_dim"],
        task["axis"],
        info.filtered,
    )
    try:
        try:
            src = h5py.File(info.path, "r", rdcc_nbytes=cache, rdcc_nslots=100_003)
            full = src["full"]
        except (OSError, KeyError) as err:
            reason = f"not a readable HDF5 file, corrupt or truncated ({_short(err)})"
            raise BadUniverse(reason) from None
        with src:
            # Re-check: the file may have changed since the parent read its header.
            problem = _shape_problem(full.shape, task["img_dim"], task["redshift_index"])
            if problem:
                raise BadUniverse(problem)
            record = _write_tiles(task, info, full)
    except BadUniverse as err:
        return {"stem": info.stem, "status": "failed", "reason": str(err)}
    return {
        "stem": info.stem,
        "status": "written",
        "n_images": info.n_images,
        "seconds": time.perf_counter() - t0,
        "peak_rss_mib": _peak_rss_mib(),
        **record,
    }


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:,.1f} GiB"


def _write_tiles(task: dict, info: UniverseInfo, full) -> dict:
    """Write the shard of one universe atomically from its open ``full`` dataset, one block of
    tiles at a time; return its sha256, bytes and count of all-zero images."""
    import h5py

    img_dim, step, axis, zi = task["img_dim"], task["step"], task["axis"], task["redshift_index"]
    n = info.n_images
    ns = n_slices(info.grid, step)
    m = info.grid // img_dim
    chunk = _chunk_len(img_dim, full.dtype.itemsize, n, task["compression"])
    # Planes held in memory at a time: enough for about 512 KiB of images per tile, which is one
    # whole chunk when compressed (no chunk is decompressed and recompressed on write), within
    # _BLOCK_BYTES of tiles.
    block = block_planes(
        info.grid, img_dim, full.dtype.itemsize, ns,
        _chunk_len(img_dim, full.dtype.itemsize, n, "gzip"),
    )
    kwargs = {
        "none": {},
        "gzip": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    }[task["compression"]]
    attrs = {
        "source": Path(info.path).name,
        "img_dim": img_dim,
        "step": step,
        "axis": axis,
        "redshift_index": zi,
        "redshift": np.nan if info.redshift is None else info.redshift,
        "grid": info.grid,
        "split": task["split"],
        "val_fraction": task["val_fraction"],
        "seed": task["seed"],
        "code_version": __version__,
        "order": "k = (ix*(N//img_dim) + iy)*n_slices + j; plane index j*step along axis",
    }
    for key in ("physPar", "unitPar"):
        if getattr(info, key) is not None:
            attrs[key] = np.asarray(getattr(info, key), dtype=np.float64)
    if info.namePar is not None:
        attrs["namePar"] = info.namePar
    stored = stored_chunks(full)
    zero_images = 0
    with atomic_path(task["out_path"]) as tmp:
        with h5py.File(tmp, "w") as dst:
            data = dst.create_dataset(
                "data",
                (n, img_dim, img_dim),
                dtype=full.dtype,
                chunks=(chunk, img_dim, img_dim),
                **kwargs,
            )
            position = dst.create_dataset("position", (n, 3), dtype=np.int32)
            for ix, j0, tiles in _guarded_blocks(full, img_dim, step, axis, zi, block, stored):
                g = tiles.shape[1]
                if g == ns:  # the whole tile row is contiguous in the shard: one write
                    data[ix * m * ns : (ix + 1) * m * ns] = tiles.reshape(m * g, img_dim, img_dim)
                for iy in range(m if g < ns else 0):
                    k0 = (ix * m + iy) * ns + j0
                    data[k0 : k0 + g] = tiles[iy]
                if j0 == 0:
                    position[ix * m * ns : (ix + 1) * m * ns] = row_positions(
                        ix, info.grid, img_dim, step
                    )
                zero_images += int(np.count_nonzero(~tiles.reshape(m * g, -1).any(axis=1)))
            dst.attrs.update(attrs)
        # hashed after HDF5 closed the file and before it moves into place
        digest = file_sha256(tmp)
        size = tmp.stat().st_size
    return {"sha256": digest, "bytes": size, "zero_images": zero_images}


# --------------------------------------------------------------------------------------------
# Driver


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _warn(path, reason: str, progress) -> None:
    _say(f"warning: {path}: {reason}; skipped (--strict makes this an error)", progress)


def _say(line: str, progress) -> None:
    if progress is not None:
        progress.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _percent(x: float) -> str:
    return f"{100 * x:.3g}%"


def slice_universes(
    inputs,
    output: str | os.PathLike,
    img_dim: int = 128,
    step: int = 8,
    axis: int = 0,
    redshift_index: int = 0,
    val_fraction: float = 0.1,
    seed: int = 0,
    workers: int | None = None,
    strict: bool = False,
    compression: str = "none",
    progress: bool = True,
) -> dict:
    """Slice universe cubes into per-universe train/val shards under ``output``.

    Args:
        inputs: a folder (its ``*.h5`` and ``*.hdf5``), a file, a glob, or a list of them.
        output: output folder; gets ``train/``, ``val/`` and ``manifest.json``.
        img_dim, step, axis, redshift_index: slicing, see :func:`slice_cube_tiles`.
        val_fraction: fraction of universes held out for validation (see :func:`assign_splits`).
        seed: seed of the train/validation split.
        workers: processes slicing files in parallel (default min(2, cpu count)).
        strict: a bad input file raises :class:`UserError` instead of being skipped.
        compression: shard compression, 'none' (default: ~10^5 images/s of 128^2 from the page
            cache in any order) or 'gzip' (level 1 with byte shuffle: about 5x smaller, ~10^4
            images/s read in order but < 10^3 in random order).
        progress: show a tqdm progress bar over files.

    Returns:
        Summary dict: input files, universes written / already present / skipped, images per
        split in the folder, images written by this run, seconds and images per second.
    """
    from tqdm import tqdm

    t_start = time.perf_counter()
    _check_options(img_dim, step, axis, redshift_index)
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction {val_fraction}: expected a number in [0, 1)")
    if compression not in COMPRESSIONS:
        raise UserError(f"--compression {compression}: expected one of {', '.join(COMPRESSIONS)}")
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        raise UserError(f"--workers {workers}: expected an integer >= 1")
    options = {
        "img_dim": int(img_dim),
        "step": int(step),
        "axis": int(axis),
        "redshift_index": int(redshift_index),
        "val_fraction": float(val_fraction),
        "seed": int(seed),
    }
    files = find_inputs(inputs)
    output = Path(output)
    manifest_path = output / MANIFEST
    previous = read_manifest(output) if manifest_path.exists() else None
    if previous is not None:
        diff = _differences(previous["options"], options)
        if diff:
            raise UserError(
                f"{manifest_path}: folder was sliced with {', '.join(diff)}; "
                "use another --output folder"
            )
    existing = _existing_shards(output, options, previous)

    # Header checks in the parent: cheap, and under --strict they stop the run before any work.
    infos: dict[str, UniverseInfo] = {}
    skipped: dict[str, str] = {}
    already: list[str] = []
    for path in files:
        if path.stem in existing:
            already.append(path.stem)
            continue
        try:
            infos[path.stem] = inspect_universe(path, img_dim, step, axis, redshift_index)
        except BadUniverse as err:
            if strict:
                raise UserError(f"{path}: {err}") from None
            skipped[str(path)] = str(err)
            _warn(path, str(err), None)

    splits = assign_splits(infos, val_fraction, seed, {s: a["split"] for s, a in existing.items()})
    tasks = [
        {
            "info": asdict(info),
            "out_path": str(output / splits[stem] / f"{stem}.h5"),
            "split": splits[stem],
            "compression": compression,
            "val_fraction": options["val_fraction"],
            "seed": options["seed"],
            **{k: options[k] for k in ("img_dim", "step", "axis", "redshift_index")},
        }
        for stem, info in infos.items()
    ]
    for info in infos.values():
        if info.stored_fraction < EMPTY_WARN_FRACTION:
            what = "chunks" if info.chunks else "bytes"
            _say(
                f"warning: {info.path}: 'full' declares {(info.grid,) * 3 + (info.n_redshifts,)} "
                f"but only {_percent(info.stored_fraction)} of its {what} are stored (the rest "
                "reads as the fill value); the cube is mostly empty",
                None,
            )
    # Free space for every shard this run writes, before writing anything.
    need = sum(
        shard_bytes(i.n_images, img_dim, np.dtype(i.dtype).itemsize) for i in infos.values()
    )
    free = free_bytes(output)
    if need > free:
        raise UserError(
            f"{output}: {len(infos)} shards need up to {_mib(need)} but {_mib(free)} is free "
            "on its disk; free some space or use another --output"
        )
    for split in SPLITS:
        (output / split).mkdir(parents=True, exist_ok=True)

    results: list[dict] = []
    failure: UserError | None = None
    last_write = [time.monotonic()]

    def save(force: bool = False) -> dict | None:
        """Rewrite the manifest with the shards finished so far (at most every few seconds)."""
        if not force and time.monotonic() - last_write[0] < _MANIFEST_EVERY_S:
            return None
        done = {r["stem"]: r for r in results if r["status"] == "written"}
        failed = {
            infos[r["stem"]].path: r["reason"] for r in results if r["status"] == "failed"
        }
        manifest = _build_manifest(
            previous, options, compression, existing, infos, done, splits,
            {**skipped, **failed}, files,
        )
        _write_manifest(manifest_path, manifest)
        last_write[0] = time.monotonic()
        return manifest

    def handle(res: dict, path: str, bar) -> bool:
        """Record one worker result, warn as needed; True when the run must stop."""
        nonlocal failure
        results.append(res)
        bar.update()
        if res["status"] == "no_space":
            failure = UserError(f"{path}: {res['reason']}")
            return True
        if res["status"] == "failed":
            if strict:
                failure = UserError(f"{path}: {res['reason']}")
                return True
            _warn(path, res["reason"], bar)
        elif (
            res["zero_images"] > EMPTY_WARN_FRACTION * res["n_images"]
            and infos[res["stem"]].stored_fraction >= EMPTY_WARN_FRACTION
        ):
            _say(
                f"warning: {path}: {res['zero_images']} of its {res['n_images']} images "
                f"({_percent(res['zero_images'] / res['n_images'])}) are all zero; the cube "
                "is mostly empty",
                bar,
            )
        save()
        return False

    # shown also when stderr is not a terminal (a batch job's log), like the other commands
    bar = tqdm(total=len(tasks), unit="universe", desc="slicing", disable=not progress)
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                if handle(_write_shard(task), task["info"]["path"], bar):
                    break
        else:
            # spawn, not fork: the caller may hold threads (TensorFlow) that fork would corrupt.
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx) as pool:
                futures = {pool.submit(_write_shard, task): task for task in tasks}
                seen = set()
                for fut in cf.as_completed(futures):
                    seen.add(fut)
                    if handle(fut.result(), futures[fut]["info"]["path"], bar):
                        # Stop queued files; record those that finished meanwhile.
                        pool.shutdown(wait=True, cancel_futures=True)
                        results.extend(
                            f.result()
                            for f in futures
                            if f not in seen and f.done() and not f.cancelled()
                        )
                        break
    finally:
        bar.close()

    for res in results:
        if res["status"] == "failed":
            skipped[infos[res["stem"]].path] = res["reason"]
    written = {r["stem"]: r for r in results if r["status"] == "written"}
    manifest = save(force=True)
    if failure is not None:
        raise failure
    if not manifest["universes"]:
        raise UserError(f"{output}: no universe could be sliced (see the warnings above)")

    seconds = time.perf_counter() - t_start
    n_written = sum(r["n_images"] for r in written.values())
    return {
        "output": str(output),
        "files": len(files),
        "written": len(written),
        "already_done": len(already),
        "skipped": [{"file": f, "reason": r} for f, r in sorted(skipped.items())],
        "universes": manifest["totals"]["universes"],
        "images": manifest["totals"]["images"],
        "images_written": n_written,
        "seconds": seconds,
        "images_per_s": n_written / seconds if seconds > 0 else float("nan"),
        "peak_rss_mib": max((r["peak_rss_mib"] for r in written.values()), default=None),
    }


def _build_manifest(
    previous, options, compression, existing, infos, written, splits, skipped, files
) -> dict:
    # The folder is the truth: shards on disk now, described by the earlier manifest where it
    # has them (a run killed before writing it leaves shards the manifest does not know).
    known = previous.get("universes", {}) if previous else {}
    universes = {}
    for stem, attrs in existing.items():
        entry = known.get(stem)
        if not entry or entry.get("split") != attrs["split"]:
            entry = {
                "source": attrs.get("source"),
                "split": attrs["split"],
                "shard": f"{attrs['split']}/{stem}.h5",
                "n_images": attrs["n_images"],
                "grid": attrs.get("grid"),
                "redshift": attrs.get("redshift"),
                "physPar": attrs.get("physPar"),
                "unitPar": attrs.get("unitPar"),
                "zero_images": None,
            }
        entry = {**entry, "sha256": attrs["sha256"], "bytes": attrs["bytes"]}
        universes[stem] = entry
    for stem in written:
        info = infos[stem]
        universes[stem] = {
            "source": info.path,
            "split": splits[stem],
            "shard": f"{splits[stem]}/{stem}.h5",
            "n_images": info.n_images,
            "grid": info.grid,
            "redshift": info.redshift,
            "physPar": info.physPar,
            "unitPar": info.unitPar,
            "zero_images": written[stem]["zero_images"],
            "sha256": written[stem]["sha256"],
            "bytes": written[stem]["bytes"],
        }
    for entry in universes.values():
        if isinstance(entry.get("redshift"), float) and np.isnan(entry["redshift"]):
            entry["redshift"] = None
    # Skipped files: keep earlier records for files this run did not look at.
    inputs = {str(p) for p in files}
    sources = {u["source"] for u in universes.values()}
    old = {s["file"]: s["reason"] for s in (previous or {}).get("skipped", [])}
    merged = {f: r for f, r in old.items() if f not in inputs and f not in sources}
    merged.update(skipped)
    totals_u = {s: sum(1 for u in universes.values() if u["split"] == s) for s in SPLITS}
    totals_i = {
        s: sum(u["n_images"] for u in universes.values() if u["split"] == s) for s in SPLITS
    }
    return {
        "tool": "exagan_tf.cosmo.slice_universes",
        "code_version": __version__,
        "options": options,
        "storage": {
            "dataset": "data",
            "layout": "(n, img_dim, img_dim), raw counts",
            "compression": compression,
        },
        "universes": dict(sorted(universes.items())),
        "skipped": [{"file": f, "reason": r} for f, r in sorted(merged.items())],
        "totals": {"universes": totals_u, "images": totals_i, "skipped": len(merged)},
    }


def _write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest atomically, leaving the file untouched when nothing changed."""
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return
    write_json_atomic(path, manifest, overwrite=True)


# --------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(
        prog="python -m exagan_tf.cosmo.slice_universes",
        description=doc[0] + " One HDF5 shard per universe in OUTPUT/train or OUTPUT/val "
        "(split by universe, from --seed and the file names), dataset 'data' (n, IMG_DIM, "
        "IMG_DIM) of raw counts, plus OUTPUT/manifest.json.",
        epilog=(
            "Bad input files (unreadable, truncated, 'full' missing or wrongly shaped) are "
            "skipped with a one-line warning and recorded under 'skipped' in manifest.json; "
            "--strict makes them a one-line error (exit 2). Existing shards are kept and "
            "skipped, so an interrupted run resumes; an OUTPUT sliced with other options is "
            "refused."
        ),
    )
    parser.add_argument(
        "--input",
        nargs="+",
        default=["data"],
        metavar="PATH",
        help="folder(s) of *.h5/*.hdf5 universes, files or globs (default: data)",
    )
    parser.add_argument(
        "--output", default="data/slices", help="output folder (default: data/slices)"
    )
    parser.add_argument("--img-dim", type=int, default=128, help="tile side in voxels (128)")
    parser.add_argument("--step", type=int, default=8, help="take every STEP-th plane (8)")
    parser.add_argument(
        "--axis", type=int, default=0, choices=(0, 1, 2), help="slicing axis of the cube (0)"
    )
    parser.add_argument(
        "--redshift-index",
        type=int,
        default=0,
        help="redshift channel of 'full', CosmoFlow 0 = z 0 (0)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fraction of universes held out for validation; at least one when "
        "there are two or more (0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split (0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=_default_workers(),
        help="processes slicing files in parallel (min(2, cpu count))",
    )
    parser.add_argument(
        "--compression",
        default="none",
        choices=COMPRESSIONS,
        help="shard compression: none (fastest reads, in any order) or gzip (level 1 + "
        "shuffle, ~5x smaller, fast only when read in order) (default: none)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a bad input file is an error (exit 2) instead of skipped",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> None:
    """Console entry point: ``python -m exagan_tf.cosmo.slice_universes``."""
    args = _parser().parse_args(argv)
    summary = slice_universes(
        args.input,
        args.output,
        img_dim=args.img_dim,
        step=args.step,
        axis=args.axis,
        redshift_index=args.redshift_index,
        val_fraction=args.val_fraction,
        seed=args.seed,
        workers=args.workers,
        strict=args.strict,
        compression=args.compression,
        progress=not args.no_progress,
    )
    u, i = summary["universes"], summary["images"]
    print(
        f"{summary['files']} input files: {summary['written']} sliced, "
        f"{summary['already_done']} already done, {len(summary['skipped'])} skipped; "
        f"{summary['output']}: train {u['train']} universes / {i['train']} images, "
        f"val {u['val']} universes / {i['val']} images; "
        f"{summary['images_written']} images in {summary['seconds']:.1f} s "
        f"({summary['images_per_s']:.0f} images/s)"
        + (
            ""
            if summary["peak_rss_mib"] is None
            else f"; peak RSS {summary['peak_rss_mib']:.0f} MiB per worker"
        )
    )


if __name__ == "__main__":
    main()
