"""ExaGAN input pipeline: HDF5 shards from ``slice_universes`` -> shuffled, transformed batches.

A shard is an HDF5 file with dataset ``data`` of shape (n, img_dim, img_dim) holding raw particle
counts. Shards live in ``<datadir>/<dataname>/train/*.h5`` and ``.../val/*.h5``. The pipeline
reads shards in chunks (never the whole set in memory), shuffles files and images with a seed,
applies s(x) = 2x/(x+a) - 1 on whole batches and adds the channel axis in the run's data format.

When the shards come with the ``manifest.json`` that ``slice_universes`` writes,
:func:`check_shards` verifies each shard's size and SHA-256 against it before training, so a
damaged shard (bytes zeroed or overwritten in place) stops the run with one line instead of being
trained on. The cost
is one sequential read of the shards: SHA-256 hashes ~0.5 GB/s on one core here, about 60 ms per
32 MiB CosmoFlow shard (measured with ``benchmarks/bench_slice_memory.py``).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import h5py
import numpy as np
import tensorflow as tf

from exagan_tf.core.layers import scale_transform
from exagan_tf.errors import UserError
from exagan_tf.fileio import open_h5

DATASET = "data"
READ_CHUNK = 256


def shard_files(datadir: str | Path, dataname: str, split: str) -> list[Path]:
    """Sorted shard paths of one split; a missing or empty folder is a one-line error."""
    folder = Path(datadir) / dataname / split
    files = sorted(folder.glob("*.h5"))
    if not files:
        raise UserError(
            f"{folder}: no *.h5 shards found; make them with "
            f"`python -m exagan_tf.cosmo.slice_universes --output {Path(datadir) / dataname}`"
        )
    return files


def verify_shards(files: list[Path]) -> int:
    """Verify shards against the checksums of their folder's ``manifest.json``.

    A shard in ``<folder>/<split>/<stem>.h5`` is checked against the entry of ``<stem>`` in
    ``<folder>/manifest.json`` when that file exists; shards from folders without a manifest
    (made by other tools) are not checked, and shards a manifest does not list with a checksum
    get one warning line. Returns the number of shards verified.

    Raises:
        UserError: one line naming the first damaged shard.
    """
    from exagan_tf.cosmo import slice_universes as su

    manifests: dict[Path, dict | None] = {}
    verified, unlisted = 0, []
    for path in files:
        path = Path(path)
        folder = path.parent.parent
        if folder not in manifests:
            has = (folder / su.MANIFEST).is_file()
            manifests[folder] = su.read_manifest(folder) if has else None
        manifest = manifests[folder]
        if manifest is None:
            continue
        entry = su.shard_record(manifest, path.parent.name, path.stem)
        if entry is None or not entry.get("sha256"):
            unlisted.append(path.name)
            continue
        su.verify_shard(path, entry, folder / su.MANIFEST)
        verified += 1
    if unlisted:
        print(
            f"warning: {len(unlisted)} shards ({', '.join(unlisted[:3])}"
            f"{', ...' if len(unlisted) > 3 else ''}) have no checksum in their manifest.json; "
            "not verified (rerun slice_universes on the folder to record them)",
            file=sys.stderr,
        )
    return verified


def check_shards(files: list[Path], img_dim: int) -> list[int]:
    """Verify the shards' checksums (:func:`verify_shards`), check each shard's ``data``
    dataset (numbers, shape); return the image count of each file."""
    verify_shards(files)
    counts = []
    for path in files:
        with open_h5(path) as f:
            if not isinstance(f.get(DATASET), h5py.Dataset):
                raise UserError(
                    f"{path}: no dataset '{DATASET}' (expected a slice_universes shard)"
                )
            shape, dtype = f[DATASET].shape, f[DATASET].dtype
        if dtype.kind not in "iuf":
            raise UserError(f"{path}: dataset '{DATASET}' holds {dtype}; expected particle "
                            "counts (integers or floats)")
        if len(shape) != 3 or shape[1:] != (img_dim, img_dim):
            raise UserError(
                f"{path}: dataset '{DATASET}' has shape {shape}, expected (n, {img_dim}, {img_dim})"
            )
        counts.append(shape[0])
    return counts


def _read_rows(path: Path, start: int, stop: int) -> np.ndarray:
    try:
        with h5py.File(path, "r") as f:
            return f[DATASET][start:stop]
    except OSError as err:
        raise UserError(f"{path}: cannot read images {start}:{stop} ({err})") from None


def read_images(files: list[Path], n: int | None = None, img_dim: int | None = None) -> np.ndarray:
    """Read the first ``n`` images (all when None) of ``files`` as float32 counts (n, H, W)."""
    out, total = [], 0
    for path in files:
        with open_h5(path) as f:
            if DATASET not in f:
                raise UserError(f"{path}: no dataset '{DATASET}'")
            dset = f[DATASET]
            if img_dim is not None and dset.shape[1:] != (img_dim, img_dim):
                raise UserError(
                    f"{path}: images of shape {dset.shape[1:]}, expected ({img_dim}, {img_dim})"
                )
            take = dset.shape[0] if n is None else min(dset.shape[0], n - total)
            out.append(dset[:take].astype(np.float32))
            total += take
        if n is not None and total >= n:
            break
    if not out:
        raise UserError("no images to read")
    return np.concatenate(out)


def _chunk_stream(
    files: list[Path], counts: list[int], seed: int, shard_index: int, num_shards: int
):
    """Yield int16/float chunks of images forever, files and chunk order reshuffled each pass."""
    mine = [i for i in range(len(files)) if i % num_shards == shard_index]
    for epoch in itertools.count():
        rng = np.random.default_rng([seed, epoch, shard_index])
        chunks = [(i, s) for i in mine for s in range(0, counts[i], READ_CHUNK)]
        for k in rng.permutation(len(chunks)):
            i, start = chunks[k]
            yield _read_rows(files[i], start, min(start + READ_CHUNK, counts[i]))


def make_dataset(
    files: list[Path],
    img_dim: int,
    batch_size: int,
    datascale: float,
    data_format: str,
    seed: int = 0,
    shuffle_buffer: int = 4096,
    shard_index: int = 0,
    num_shards: int = 1,
    counts: list[int] | None = None,
    dequantize: bool = False,
) -> tf.data.Dataset:
    """An infinite dataset of transformed batches, (batch, 1, H, W) or (batch, H, W, 1).

    Args:
        files: shard paths (checked with :func:`check_shards`).
        img_dim: image side in pixels.
        batch_size: global batch size (drop_remainder, so every batch is full).
        datascale: a in s(x).
        data_format: channels_first or channels_last.
        seed: seeds the file, chunk and image shuffles.
        shard_index, num_shards: read only files with index % num_shards == shard_index (one
            input shard per worker in multi-worker training).
        counts: images per file, when the caller has already run :func:`check_shards`.
        dequantize: add uniform noise in [0, 1) to the integer counts before the transform, so
            the real images are a continuous density whose floor is the data (see
            :func:`exagan_tf.cosmo.dcgan.counts_from_generated`); the noise is seeded by
            ``seed``.
    """
    if counts is None:
        counts = check_shards(files, img_dim)
    if num_shards > 1 and len(files) < num_shards:
        raise UserError(f"{len(files)} shard files cannot be split over {num_shards} workers")
    dtype = _dataset_dtype(files[0])
    ds = tf.data.Dataset.from_generator(
        lambda: _chunk_stream(files, counts, seed, shard_index, num_shards),
        output_signature=tf.TensorSpec((None, img_dim, img_dim), dtype),
    )
    ds = ds.unbatch().shuffle(shuffle_buffer, seed=seed).batch(batch_size, drop_remainder=True)
    axis = 1 if data_format == "channels_first" else -1

    def transform(x, key=None):
        x = tf.cast(x, tf.float32)
        if key is not None:
            pair = tf.stack([key, tf.constant(seed, tf.int64)])
            x += tf.random.stateless_uniform(tf.shape(x), pair)
        return tf.expand_dims(scale_transform(x, datascale), axis)

    if dequantize:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed)))
    return ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _dataset_dtype(path: Path) -> tf.DType:
    with open_h5(path) as f:
        return tf.as_dtype(f[DATASET].dtype)
