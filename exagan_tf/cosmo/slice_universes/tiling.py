"""Tiling of a universe cube: bands, tile blocks and their order (see the package docstring).

The unit of reading is one band, the ``img_dim`` rows of one plane that make one row of tiles,
with all redshift channels; blocks of tiles stay within ``_BLOCK_BYTES``; on a chunked input,
bands touching no stored chunk are filled without a read.
"""

from __future__ import annotations

import numpy as np

from exagan_tf.errors import UserError

# Tiles held by a worker at a time (one block of planes of one tile row), in bytes: at 16 MiB a
# 4096^3 cube at img_dim 16 is sliced in blocks of 128 planes (it used to be 16 GiB at once).
_BLOCK_BYTES = 16 * 2**20
# Largest HDF5 chunk cache given to a chunked input: the chunks one band touches, up to this.
_CHUNK_CACHE_MAX = 64 * 2**20
# A chunk map (stored or not, per chunk) is built only up to this many chunks.
_CHUNK_MAP_MAX = 10**7
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
    decompressed whole, so there a cache that keeps them for the next planes saves work: a
    256^3 x 4 gzip cube in 32^3 x 4 chunks, img_dim 64, step 4, slices in 1.1-1.4 s with the
    4 MiB band cache and 8.4-9.3 s with HDF5's default 1 MiB.
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
