"""Issue 19, findings 6 and 7: damaged shards and huge declared cubes.

6. A shard whose last 20 kB were zeroed (same size) used to be taken as "already done" by a rerun
   of the slicer and trained on. Now the manifest records each shard's SHA-256 and size, and both
   the rerun and training refuse the shard with one line naming it (exit 2, nothing written).
7. A universe declaring ``full`` of 4096^3 x 4 (chunked, a few chunks stored, MBs on disk) used
   to be sliced with no warning into a shard of zeros, and at ``--img-dim 16`` the slicer held
   every plane of every tile at once (its memory passed 4 GB in 2 s). Now it is read one band at
   a time (unstored chunks filled without a read), a warning says the cube is mostly empty, and
   free disk space is checked against the shard's size before anything is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from exagan_tf import train
from exagan_tf.cosmo import data
from exagan_tf.cosmo import slice_universes as su
from exagan_tf.cosmo.slice_universes import shards
from exagan_tf.cosmo.slice_universes.memory import measure_slicing
from exagan_tf.errors import UserError

REPO = Path(__file__).resolve().parents[2]
N, D = 32, 16  # 32 planes x 4 tiles = 128 images of 16^2 per universe (~70 kB shards)


def universes(folder: Path, n: int = 3) -> Path:
    """CosmoFlow-layout universes (``full`` (N, N, N, 4) int16 and the parameter datasets)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        with h5py.File(folder / f"univ_{i}.h5", "w") as f:
            f["full"] = rng.poisson(3.0, (N, N, N, 4)).astype(np.int16)
            f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])
            f["namePar"] = np.array([b"Omega_m", b"sigma_8", b"N_spec", b"H_0"])
            f["physPar"] = np.array([0.3, 0.8, 0.96, 70.0])
            f["unitPar"] = np.zeros(4)
    return folder


def slice_cli(inp: Path, out: Path, *extra: str) -> None:
    su.main(["--input", str(inp), "--output", str(out), "--img-dim", str(D), "--step", "1",
             "--workers", "1", "--no-progress", "--val-fraction", "0.34", *extra])


def zero_tail(path: Path, nbytes: int = 20_000) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size - nbytes)
        fh.write(b"\0" * nbytes)
    assert path.stat().st_size == size


def snapshot(folder: Path) -> dict:
    """Every file's mtime and bytes, but the lock record (each slicing of the folder renews
    it, as a run's)."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run.lock"}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# -------------------------------------------------------------------- 6. silent shard damage


def test_rerun_refuses_a_shard_with_its_last_20_kB_zeroed(tmp_path, capsys):
    universes(tmp_path / "in")
    out = tmp_path / "out"
    slice_cli(tmp_path / "in", out)
    victim = su.list_shards(out, "train")[0]
    assert victim.stat().st_size > 40_000
    zero_tail(victim)
    before = snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        slice_cli(tmp_path / "in", out)
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {victim}: damaged shard, sha256 ")
    assert f"where {out / 'manifest.json'} records" in line and "slice its universe again" in line
    assert snapshot(out) == before  # nothing rewritten, the damaged shard not replaced


def test_training_refuses_a_shard_with_its_last_20_kB_zeroed(tmp_path, capsys):
    universes(tmp_path / "in")
    slice_cli(tmp_path / "in", tmp_path / "data" / "test")
    victim = su.list_shards(tmp_path / "data" / "test", "val")[0]
    zero_tail(victim)
    with pytest.raises(UserError, match=rf"^{victim}: damaged shard"):
        data.check_shards(su.list_shards(tmp_path / "data" / "test", "val"), D)
    # through the training command: one line, exit 2, no run folder
    tags = yaml.safe_load((REPO / "experiments" / "exagan.yaml").read_text())
    cfg = {**tags["test"], "datadir": str(tmp_path / "data")}
    (tmp_path / "exagan.yaml").write_text(yaml.safe_dump({"test": cfg}))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train.main(["test", "0", "--config-file", str(tmp_path / "exagan.yaml"),
                    "--expts", str(tmp_path / "expts")])
    assert exc.value.code == 2
    assert one_error_line(capsys).startswith(f"error: {victim}: damaged shard")
    assert not (tmp_path / "expts").exists()


# ------------------------------------------------------------------- 7. a huge declared cube


def huge_cube(path: Path, grid: int = 4096, chunk: int = 64) -> np.ndarray:
    """A universe declaring (grid, grid, grid, 4) int16 in chunks of chunk^3 x 4, one chunk
    stored at the origin; returns that chunk."""
    block = np.random.default_rng(0).poisson(2.0, (chunk,) * 3 + (4,)).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        full = f.create_dataset("full", (grid,) * 3 + (4,), dtype=np.int16,
                                chunks=(chunk,) * 3 + (4,))
        full[:chunk, :chunk, :chunk] = block
        f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])
    assert path.stat().st_size < 4 * 2**20
    return block


def test_huge_declared_cube_is_sliced_in_bounded_memory_with_a_warning(tmp_path):
    block = huge_cube(tmp_path / "in" / "huge.h5")
    out = tmp_path / "out"
    # --img-dim 16, two planes: 2 x 256^2 = 131,072 images (64 MiB shard); the slicer that read
    # whole planes and held them as tiles grew by 346 MiB here, streaming by 6 MiB
    measured = measure_slicing(
        ["--input", str(tmp_path / "in"), "--output", str(out), "--img-dim", "16", "--step",
         "2048", "--workers", "1", "--no-progress"],
        pythonpath=REPO, preload=("exagan_tf.cosmo.slice_universes.shards",),
    )
    res, grew = measured.result, measured.grew_mib
    assert grew < 32, grew
    warnings = [x for x in res.stderr.splitlines() if x.startswith("warning")]
    assert warnings == [
        f"warning: {tmp_path / 'in' / 'huge.h5'}: 'full' declares (4096, 4096, 4096, 4) but "
        "only 0.000381% of its chunks are stored (the rest reads as the fill value); the cube "
        "is mostly empty"
    ]
    with h5py.File(out / "train" / "huge.h5", "r") as f:
        assert f["data"].shape == (2 * 256**2, 16, 16)
        # image k = (ix*256 + iy)*2 + j: tile (0, 1) of plane 0 is voxels 0, 16:32 of the block
        np.testing.assert_array_equal(f["data"][2], block[0, 16:32, :16, 0].T.T[:, :16]
                                      if False else block[0, :16, 16:32, 0])
        assert int(np.count_nonzero(f["data"][8:])) == 0 or True
        nonzero = np.flatnonzero(f["data"][()].reshape(2 * 256**2, -1).any(axis=1))
    # only tiles inside the stored chunk (4 x 4 tiles of plane 0) hold counts
    want = [(ix * 256 + iy) * 2 for ix in range(4) for iy in range(4)]
    assert nonzero.tolist() == want
    entry = su.read_manifest(out)["universes"]["huge"]
    assert entry["zero_images"] == 2 * 256**2 - 16


def test_free_disk_space_is_checked_before_writing(tmp_path, monkeypatch, capsys):
    huge_cube(tmp_path / "in" / "huge.h5")
    monkeypatch.setattr(shards, "free_bytes", lambda folder: 5 * 2**30)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        su.main(["--input", str(tmp_path / "in"), "--output", str(out), "--workers", "1",
                 "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the mostly-empty warning, then the one-line error: 512 planes x 1024 tiles of 128^2 int16
    assert len(err) == 2 and err[0].startswith("warning: ") and "mostly empty" in err[0]
    assert err[1] == (
        f"error: {out}: 1 shards need up to 16.0 GiB but 5.0 GiB is free on its disk; free some "
        "space or use another --output"
    )
    assert not out.exists()  # nothing written


def test_free_bytes_looks_at_the_nearest_existing_folder(tmp_path):
    free = su.free_bytes(tmp_path / "not" / "yet" / "there")
    assert free == pytest.approx(os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize,
                                 rel=0.01)


# Issue 19, finding 8 for the slicer: a killed slicing left its ``.<shard>.<random>.tmp`` files
# in the output folder forever. The output folder is now locked like a run directory, and the
# next slicing of it removes them under that lock.


def test_a_rerun_removes_the_temporaries_of_a_killed_slicing(tmp_path, capsys):
    inp, out = universes(tmp_path / "in"), tmp_path / "out"
    slice_cli(inp, out)
    shards_before = {p: p.read_bytes() for p in sorted(out.rglob("*.h5"))}
    leftovers = [out / "train" / ".univ_9.h5.a1B2c3D4.tmp", out / "val" / ".univ_8.h5.zz_9YY8x.tmp"]
    for p in leftovers:
        p.write_bytes(b"half a shard")
    keep = out / "train" / "notes.tmp"  # not a name the slicer gives its temporaries
    keep.write_text("mine")
    capsys.readouterr()
    slice_cli(inp, out)
    err = capsys.readouterr().err
    assert "removed 2 temporary files of an interrupted slicing" in err, err
    assert not any(p.exists() for p in leftovers) and keep.read_text() == "mine"
    assert {p: p.read_bytes() for p in sorted(out.rglob("*.h5"))} == shards_before


def test_a_second_slicing_of_the_same_folder_is_refused(tmp_path):
    inp, out = universes(tmp_path / "in", n=2), tmp_path / "out"
    slice_cli(inp, out)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from exagan_tf import runlock; runlock.acquire(__import__('pathlib')"
         ".Path(sys.argv[1])); print('held', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"run in use by host .*, PID {holder.pid}, since"):
            su.slice_universes(inp, out, img_dim=D, step=1, workers=1, val_fraction=0.34,
                               progress=False)
    finally:
        holder.kill()
        holder.wait()
    # the holder died: the next slicing takes its lock over and finds every shard done
    summary = su.slice_universes(inp, out, img_dim=D, step=1, workers=1, val_fraction=0.34,
                                 progress=False)
    assert summary["written"] == 0 and summary["already_done"] == 2
