"""Streaming slicing: bounded reads of the cube, chunk-aware reading, shard checksums.

Cubes are written the way CosmoFlow files are (``full`` (N, N, N, 4) int16 contiguous, plus
``redshifts``, ``namePar``, ``physPar``, ``unitPar`` datasets), at tiny N.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from exagan_tf.cosmo import data
from exagan_tf.cosmo import slice_universes as su
from exagan_tf.cosmo.slice_universes import shards, tiling
from exagan_tf.cosmo.slice_universes.memory import measure_slicing
from exagan_tf.errors import UserError
from tests.cosmo.test_slice_universes import cube, make_inputs, write_universe

N, D, STEP = 32, 8, 2  # 16 planes x 16 tiles = 256 images per universe
BAND = D * N * 4 * 2  # bytes of one band: D rows of one plane, 4 int16 channels


class ReadLog:
    """Records the size of every read of a dataset named 'full' (h5py, in this process)."""

    def __init__(self, monkeypatch):
        self.sizes: list[int] = []
        original = h5py.Dataset.__getitem__

        def getitem(dset, key):
            out = original(dset, key)
            if dset.name == "/full":
                self.sizes.append(np.asarray(out).nbytes)
            return out

        monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)


def shard_data(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for split in su.SPLITS:
        for p in su.list_shards(folder, split):
            with h5py.File(p, "r") as f:
                out[p.stem] = (f["data"][()], f["position"][()])
    return out


@pytest.mark.parametrize("block_bytes", [None, 3 * D * N * 2])  # whole tile row; 3 planes
@pytest.mark.parametrize("axis", [0, 2])
def test_writer_reads_one_band_at_a_time_and_writes_the_same_tiles(
    tmp_path, monkeypatch, axis, block_bytes
):
    (tmp_path / "in").mkdir()
    full = cube(5, (N, N, N, 4))
    write_universe(tmp_path / "in" / "u.h5", full)
    if block_bytes is not None:
        monkeypatch.setattr(tiling, "_BLOCK_BYTES", block_bytes)
        assert su.block_planes(N, D, 2, N // STEP, 10**6) == 3
    log = ReadLog(monkeypatch)
    su.slice_universes(
        tmp_path / "in", tmp_path / "out", img_dim=D, step=STEP, axis=axis, workers=1,
        progress=False, val_fraction=0.0,
    )
    # every read of the cube is one band, each selected plane read exactly once
    assert max(log.sizes) == BAND
    assert len(log.sizes) == (N // STEP) * (N // D)
    assert sum(log.sizes) == (N // STEP) * N * N * 4 * 2
    images, positions = shard_data(tmp_path / "out")["u"]
    np.testing.assert_array_equal(images, su.slice_cube_tiles(full, D, STEP, axis))
    np.testing.assert_array_equal(positions, su.tile_positions(N, D, STEP))


def test_blocks_of_tiles_stay_within_the_budget(monkeypatch):
    monkeypatch.setattr(tiling, "_BLOCK_BYTES", 4 * D * N * 2)
    full = cube(6, (N, N, N, 4))
    block = su.block_planes(N, D, 2, N // STEP, 10**6)
    assert block == 4
    seen = np.zeros((N // D, N // D, N // STEP), dtype=int)
    for ix, j0, tiles in su.iter_tile_blocks(full, D, STEP, 0, 1, block):
        assert tiles.nbytes <= tiling._BLOCK_BYTES
        seen[ix, :, j0 : j0 + tiles.shape[1]] += 1
        want = full[j0 * STEP : (j0 + tiles.shape[1]) * STEP : STEP, ix * D : (ix + 1) * D, :, 1]
        np.testing.assert_array_equal(
            tiles, want.reshape(-1, D, N // D, D).transpose(2, 0, 1, 3)
        )
    assert np.all(seen == 1)  # every image once


def sparse_cube(path: Path, grid: int = 64, chunk: int = 16) -> np.ndarray:
    """A chunked cube with two of its 64 chunks stored; returns what it reads as."""
    dense = np.zeros((grid, grid, grid, 4), dtype=np.int16)
    rng = np.random.default_rng(3)
    dense[:chunk, :chunk, :chunk] = rng.integers(1, 9, (chunk, chunk, chunk, 4))
    dense[2 * chunk : 3 * chunk, chunk : 2 * chunk, 3 * chunk :] = 7
    with h5py.File(path, "w") as f:
        full = f.create_dataset("full", dense.shape, dtype=np.int16, chunks=(chunk,) * 3 + (4,))
        full[:chunk, :chunk, :chunk] = dense[:chunk, :chunk, :chunk]
        full[2 * chunk : 3 * chunk, chunk : 2 * chunk, 3 * chunk :] = 7
        f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])
    return dense


def test_unstored_chunks_are_filled_without_reading(tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    dense = sparse_cube(tmp_path / "in" / "sparse.h5")
    with h5py.File(tmp_path / "in" / "sparse.h5", "r") as f:
        stored = su.stored_chunks(f["full"])
        assert stored.n_stored == 2 and su.stored_fraction(f["full"]) == 2 / 64
        assert stored.any_stored(su.band_selection(0, 40, 16, 32))
        assert not stored.any_stored(su.band_selection(0, 40, 0, 16))
        assert not stored.any_stored(su.band_selection(1, 40, 16, 32))
    log = ReadLog(monkeypatch)
    summary = su.slice_universes(
        tmp_path / "in", tmp_path / "out", img_dim=16, step=4, workers=1, progress=False
    )
    # 16 planes x 4 bands = 64 bands, of which 4 + 4 touch a stored chunk
    assert len(log.sizes) == 8
    images, _ = shard_data(tmp_path / "out")["sparse"]
    np.testing.assert_array_equal(images, su.slice_cube_tiles(dense, 16, 4))
    err = capsys.readouterr().err
    assert "sparse.h5: 'full' declares (64, 64, 64, 4) but only 3.12% of its chunks" in err
    entry = su.read_manifest(tmp_path / "out")["universes"]["sparse"]
    assert entry["zero_images"] == int(np.sum(~images.reshape(len(images), -1).any(axis=1)))
    assert entry["zero_images"] == 256 - 8 and summary["written"] == 1


def test_mostly_zero_contiguous_cube_is_warned_about(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    full = np.zeros((N, N, N, 4), dtype=np.int16)
    full[:, :D, :D] = 1  # one tile column of 16 of counts: 15/16 of the images are zero
    write_universe(tmp_path / "in" / "empty.h5", full)
    make_inputs(tmp_path / "in", n=1)
    su.slice_universes(tmp_path / "in", tmp_path / "out", img_dim=D, step=STEP, workers=1,
                       progress=False, val_fraction=0.0)
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "warning" in line] == [
        f"warning: {tmp_path / 'in' / 'empty.h5'}: 240 of its 256 images (93.8%) are all zero; "
        "the cube is mostly empty"
    ]


def test_chunk_cache_only_for_compressed_chunks():
    shape = (4096, 4096, 4096, 4)
    assert su.band_chunk_cache(shape, None, 2, 128, 0, False) == 2**20
    assert su.band_chunk_cache(shape, (64, 64, 64, 4), 2, 128, 0, False) == 2**20
    # 2 chunk rows x 64 chunk columns of 2 MiB: capped
    assert su.band_chunk_cache(shape, (64, 64, 64, 4), 2, 128, 0, True) == su._CHUNK_CACHE_MAX
    # 512^3 x 4 in 16 x 512 x 512 x 1 slabs (axis 0): one chunk row of 4 channels, 8 MiB each
    cf = (512,) * 3 + (4,)
    assert su.band_chunk_cache(cf, (16, 512, 512, 1), 2, 128, 0, True) == 32 * 2**20
    # axis 1: 16 chunk rows x 64 chunk columns of 4 KiB
    assert su.band_chunk_cache(cf, (8, 8, 8, 4), 2, 128, 1, True) == 4 * 2**20
    # tiles of 96 across chunks of 64: some bands touch 3 chunk rows
    assert su.band_chunk_cache((384,) * 3 + (1,), (64, 64, 64, 1), 1, 96, 2, True) == 3 * 2**20


# ------------------------------------------------------------------------------- checksums


def test_manifest_records_each_shards_sha256_and_size(tmp_path):
    make_inputs(tmp_path / "in", n=3)
    su.slice_universes(tmp_path / "in", tmp_path / "out", img_dim=D, step=STEP, workers=1,
                       progress=False, val_fraction=0.34)
    man = su.read_manifest(tmp_path / "out")
    for stem, entry in man["universes"].items():
        shard = tmp_path / "out" / entry["shard"]
        assert entry["sha256"] == su.file_sha256(shard) and len(entry["sha256"]) == 64
        assert entry["bytes"] == shard.stat().st_size
        assert stem in shard.name
    assert data.verify_shards(sorted((tmp_path / "out").rglob("*.h5"))) == 3


def test_unlisted_shards_are_adopted_with_their_checksum(tmp_path):
    make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    su.slice_universes(tmp_path / "in", out, img_dim=D, step=STEP, workers=1, progress=False)
    first = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").unlink()  # killed before the manifest recorded them
    summary = su.slice_universes(tmp_path / "in", out, img_dim=D, step=STEP, workers=1,
                                 progress=False)
    assert summary["already_done"] == 2
    again = su.read_manifest(out)["universes"]
    for stem, entry in first["universes"].items():
        assert again[stem]["sha256"] == entry["sha256"]
        assert again[stem]["zero_images"] is None  # not known without reading the images


def test_check_shards_refuses_a_changed_shard_and_warns_on_unlisted(tmp_path, capsys):
    make_inputs(tmp_path / "in", n=3)
    out = tmp_path / "d"
    su.slice_universes(tmp_path / "in", out, img_dim=D, step=STEP, workers=1, progress=False,
                       val_fraction=0.34)
    files = su.list_shards(out, "train")
    assert data.check_shards(files, D) == [32, 32]  # make_inputs: 16^3 cubes
    with h5py.File(files[0], "r+") as f:  # a valid HDF5 edit: one count changed
        f["data"][0, 0, 0] += 1
    with pytest.raises(UserError, match=rf"{files[0]}: damaged shard, sha256 \w{{12}}\.\.\. "
                                        rf"where {out / 'manifest.json'} records"):
        data.check_shards(files, D)
    man = json.loads((out / "manifest.json").read_text())
    for entry in man["universes"].values():
        del entry["sha256"]
    (out / "manifest.json").write_text(json.dumps(man))
    capsys.readouterr()
    assert data.verify_shards(files) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 shards" in err[0] and "not verified" in err[0]


def test_no_space_in_a_worker_stops_the_run_with_one_line(tmp_path, monkeypatch):
    make_inputs(tmp_path / "in", n=2)
    calls = []

    def free(folder):  # room at the start; the disk fills before the second shard
        calls.append(folder)
        return 10**12 if len(calls) < 3 else 1000

    monkeypatch.setattr(shards, "free_bytes", free)
    with pytest.raises(UserError, match=r"univ_1\.hdf5: the shard needs up to 1 MiB but 0 MiB"):
        su.slice_universes(tmp_path / "in", tmp_path / "out", img_dim=D, step=STEP, workers=1,
                           progress=False, val_fraction=0.0)
    man = su.read_manifest(tmp_path / "out")
    assert list(man["universes"]) == ["univ_0"]  # the finished shard is recorded
    assert sorted(p.name for p in (tmp_path / "out" / "train").iterdir()) == ["univ_0.h5"]


# ------------------------------------------------------------------------ memory, slow check


def slicing_rss_mib(*args: str) -> float:
    """MiB the slicer's resident memory grew by, sliced in a child with ``args`` (the import of
    Python, NumPy, h5py and the slicer's modules not counted)."""
    return measure_slicing(list(args), preload=(
        "exagan_tf.cosmo.slice_universes.shards", "exagan_tf.cosmo.slice_universes.tiling",
    )).grew_mib


@pytest.mark.slow
@pytest.mark.parametrize("img_dim", [8, 16, 128])
def test_peak_rss_of_slicing_a_medium_cube_is_bounded(tmp_path, img_dim):
    """256^3 x 4 int16 (128 MiB), every plane: slicing adds < 16 MiB of resident memory per
    worker (measured 7-9 MiB; the slicer that held all planes of all tiles added 50-54 MiB at
    img_dim 8 and 16)."""
    grid = 256
    (tmp_path / "in").mkdir()
    with h5py.File(tmp_path / "in" / "medium.h5", "w") as f:
        full = f.create_dataset("full", (grid,) * 3 + (4,), dtype=np.int16)
        rng = np.random.default_rng(0)
        for i in range(0, grid, 16):
            full[i : i + 16] = rng.poisson(1.0, (16, grid, grid, 4)).astype(np.int16)
        f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])
    used = slicing_rss_mib("--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                           "--workers", "1", "--no-progress", "--img-dim", str(img_dim),
                           "--step", "1")
    assert used < 16, used
