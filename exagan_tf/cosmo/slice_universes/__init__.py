"""Slice N-body universe cubes into 2-D training and validation shards for the ExaGAN DCGAN.

A package of one job per module: :mod:`.reading` (input files and their headers), :mod:`.tiling`
(bands, tiles and their order), :mod:`.shards` (writing one shard, in a worker process),
:mod:`.manifest` (the output folder: split, manifest, checksums), :mod:`.driver` (the run over
all files) and :mod:`.cli` (command line). Every name is re-exported here.

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

from exagan_tf.cosmo.slice_universes.cli import (  # noqa: F401
    _parser,
    main,
)
from exagan_tf.cosmo.slice_universes.driver import (  # noqa: F401
    _MANIFEST_EVERY_S,
    EMPTY_WARN_FRACTION,
    _default_workers,
    _percent,
    _say,
    _warn,
    slice_universes,
)
from exagan_tf.cosmo.slice_universes.manifest import (  # noqa: F401
    DATASET_OPTIONS,
    MANIFEST,
    SPLITS,
    _build_manifest,
    _differences,
    _existing_shards,
    _plain,
    _rank_key,
    _write_manifest,
    assign_splits,
    file_sha256,
    list_shards,
    n_validation,
    read_manifest,
    shard_record,
    verify_shard,
)
from exagan_tf.cosmo.slice_universes.reading import (  # noqa: F401
    _INPUT_SUFFIXES,
    BadUniverse,
    UniverseInfo,
    _floats,
    _short,
    find_inputs,
    inspect_universe,
    stored_fraction,
)
from exagan_tf.cosmo.slice_universes.shards import (  # noqa: F401
    _CHUNK_BYTES_COMPRESSED,
    _CHUNK_IMAGES_RAW,
    COMPRESSIONS,
    _chunk_len,
    _guarded_blocks,
    _mib,
    _peak_rss_mib,
    _write_shard,
    _write_tiles,
    free_bytes,
    shard_bytes,
)
from exagan_tf.cosmo.slice_universes.tiling import (  # noqa: F401
    _BLOCK_BYTES,
    _CHUNK_CACHE_MAX,
    _CHUNK_MAP_MAX,
    StoredChunks,
    _check_options,
    _shape_problem,
    band_chunk_cache,
    band_selection,
    block_planes,
    iter_tile_blocks,
    n_slices,
    row_positions,
    slice_cube_tiles,
    stored_chunks,
    tile_positions,
)
