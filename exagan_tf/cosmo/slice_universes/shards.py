"""Writing one shard from one universe, in a worker process: blocks of tiles from the cube into
an HDF5 file written atomically, after a check of the free disk space; the worker reports the
shard's SHA-256, size, all-zero images and its own peak RSS.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

import numpy as np

from exagan_tf import __version__
from exagan_tf.cosmo.slice_universes.manifest import file_sha256
from exagan_tf.cosmo.slice_universes.reading import BadUniverse, UniverseInfo, _short
from exagan_tf.cosmo.slice_universes.tiling import (
    _shape_problem,
    band_chunk_cache,
    block_planes,
    iter_tile_blocks,
    n_slices,
    row_positions,
    stored_chunks,
)
from exagan_tf.fileio import atomic_path

COMPRESSIONS = ("none", "gzip")
# Shard chunking, chosen for readers (measured with h5py on 1,024 images of 128^2 int16):
# uncompressed shards use chunks of 64 images (2 MiB, larger than HDF5's default 1 MiB chunk
# cache, so reads bypass the cache and go straight to the file: ~10^5 images/s one by one or in
# batches); compressed shards use chunks of about 512 KiB (16 such images) that fit the cache, so
# a reader going image by image decompresses each chunk once.
_CHUNK_IMAGES_RAW = 64
_CHUNK_BYTES_COMPRESSED = 512 * 1024
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
