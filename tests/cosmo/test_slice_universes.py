"""Tests of exagan_tf.cosmo.slice_universes on tiny CosmoFlow-layout cubes (16^3 x 4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from exagan_tf.cosmo import slice_universes as su
from exagan_tf.errors import UserError

N, D, STEP = 16, 8, 2  # grid, tile side, plane step: 8 planes x 4 tiles = 32 images per universe
PER_UNIVERSE = 32
REDSHIFTS = np.array([0.0, 0.5, 1.5, 3.0])


def cube(seed: int, shape=(N, N, N, 4)) -> np.ndarray:
    """Counts with distinct-enough values that a wrong index would give different numbers."""
    return np.random.default_rng(seed).integers(0, 4000, size=shape, dtype=np.int16)


def write_universe(path: Path, full: np.ndarray, seed: int = 0, **extra) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("full", data=full, **extra)
        f["redshifts"] = REDSHIFTS[: full.shape[-1]] if full.ndim == 4 else REDSHIFTS
        f["namePar"] = np.array([b"Omega_m", b"sigma_8", b"N_spec", b"H_0"])
        f["physPar"] = np.array([0.3, 0.8, 0.96, 70.0]) * (1 + 0.01 * seed)
        f["unitPar"] = np.array([0.1, -0.2, 0.3, -0.4]) * seed
    return path


def make_inputs(folder: Path, n: int = 5) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    cubes = {}
    for i in range(n):
        cubes[f"univ_{i}"] = cube(i)
        write_universe(folder / f"univ_{i}.hdf5", cubes[f"univ_{i}"], seed=i)
    return cubes


def run(inp, out, **kw):
    kw = {"img_dim": D, "step": STEP, "workers": 1, "progress": False, **kw}
    return su.slice_universes(inp, out, **kw)


def cli(inp, out, *extra):
    args = ["--input", str(inp), "--output", str(out), "--img-dim", str(D), "--step", str(STEP)]
    return su.main([*args, "--workers", "1", "--no-progress", *extra])


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file's mtime and bytes, but the lock record (each slicing renews it)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "run.lock"
    }


# ------------------------------------------------------------------------------------- tiling


def test_axis0_tiles_follow_original_indexing():
    full = cube(1)
    tiles = su.slice_cube_tiles(full, img_dim=D, step=STEP, axis=0, redshift_index=0)
    assert tiles.shape == (PER_UNIVERSE, D, D)
    assert tiles.dtype == np.int16
    m, ns = N // D, N // STEP
    for k in range(PER_UNIVERSE):
        t, j = divmod(k, ns)
        ix, iy = divmod(t, m)
        want = full[j * STEP, ix * D : (ix + 1) * D, iy * D : (iy + 1) * D, 0]
        np.testing.assert_array_equal(tiles[k], want)
    # The original's loop: for ix, for iy: full[::8, tile, tile, 0], concatenated.
    original = np.concatenate(
        [
            full[::STEP, ix * D : (ix + 1) * D, iy * D : (iy + 1) * D, 0]
            for ix in range(m)
            for iy in range(m)
        ]
    )
    np.testing.assert_array_equal(tiles, original)


def test_h5py_dataset_gives_same_tiles_as_array(tmp_path):
    full = cube(2)
    path = write_universe(tmp_path / "u.h5", full)
    with h5py.File(path, "r") as f:
        from_h5 = su.slice_cube_tiles(f["full"], img_dim=D, step=STEP)
    np.testing.assert_array_equal(from_h5, su.slice_cube_tiles(full, img_dim=D, step=STEP))


@pytest.mark.parametrize("axis", [1, 2])
def test_other_axes_and_redshift(axis):
    full = cube(3)
    step, zi = 3, 2  # 16 is not a multiple of 3: planes 0, 3, ..., 15 -> 6 planes
    tiles = su.slice_cube_tiles(full, img_dim=D, step=step, axis=axis, redshift_index=zi)
    assert tiles.shape == (6 * 4, D, D)
    pos = su.tile_positions(N, D, step)
    for k in range(len(tiles)):
        j, a, b = pos[k]
        plane = full[:, j, :, zi] if axis == 1 else full[:, :, j, zi]
        np.testing.assert_array_equal(tiles[k], plane[a : a + D, b : b + D])
    assert pos[7].tolist() == [3, 0, 8]  # tile (ix 0, iy 1), second plane at 3


@pytest.mark.parametrize(
    "shape, words",
    [
        ((N, N, N), "4-D"),
        ((N, N, 8, 4), "cubic"),
        ((N, N, N, 1), "redshift"),
        ((12,) * 3 + (4,), "divisible"),
    ],
)
def test_slice_cube_tiles_rejects_bad_shapes(shape, words):
    with pytest.raises(UserError, match=words):
        su.slice_cube_tiles(np.zeros(shape, np.int16), img_dim=D, step=STEP, redshift_index=2)


# -------------------------------------------------------------------------------------- split


def test_n_validation():
    assert [su.n_validation(n, 0.1) for n in (0, 1, 2, 10, 30)] == [0, 0, 1, 1, 3]
    assert su.n_validation(10, 0.25) == 3  # round half up
    assert su.n_validation(4, 0.9) == 3  # never every universe
    assert su.n_validation(10, 0.0) == 0


def test_split_is_deterministic_order_free_and_sticky():
    stems = [f"u{i:02d}" for i in range(20)]
    a = su.assign_splits(stems, 0.2, seed=0)
    assert a == su.assign_splits(list(reversed(stems)), 0.2, seed=0)
    assert sorted(a) == stems and sum(v == "val" for v in a.values()) == 4
    assert a != su.assign_splits(stems, 0.2, seed=1)
    # Adding universes later keeps every existing one where it was.
    grown = su.assign_splits(stems + ["u20", "u21", "u22", "u23", "u24"], 0.2, 0, existing=a)
    assert {s: grown[s] for s in stems} == a
    assert sum(v == "val" for v in grown.values()) == 5


# ------------------------------------------------------------------------------ end to end


def test_shards_split_by_universe_with_raw_counts(tmp_path):
    cubes = make_inputs(tmp_path / "in")
    summary = run(tmp_path / "in", tmp_path / "out")
    out = tmp_path / "out"
    train = su.list_shards(out, "train")
    val = su.list_shards(out, "val")
    assert len(val) == 1 and len(train) == 4  # 10% of 5 rounds to 0, but at least one
    assert {p.stem for p in train} | {p.stem for p in val} == set(cubes)
    assert not {p.stem for p in train} & {p.stem for p in val}
    assert summary["images"] == {"train": 4 * PER_UNIVERSE, "val": PER_UNIVERSE}
    assert summary["written"] == 5 and summary["images_written"] == 5 * PER_UNIVERSE
    for shard in train + val:
        with h5py.File(shard, "r") as f:
            data = f["data"]
            assert data.dtype == np.int16 and data.shape == (PER_UNIVERSE, D, D)
            assert data.chunks[1:] == (D, D)
            want = su.slice_cube_tiles(cubes[shard.stem], img_dim=D, step=STEP)
            np.testing.assert_array_equal(data[()], want)
            np.testing.assert_array_equal(f["position"][()], su.tile_positions(N, D, STEP))
            attrs = dict(f.attrs)
        assert attrs["source"] == f"{shard.stem}.hdf5"
        assert (attrs["img_dim"], attrs["step"], attrs["axis"], attrs["redshift_index"]) == (
            D,
            STEP,
            0,
            0,
        )
        assert attrs["redshift"] == 0.0 and attrs["split"] == shard.parent.name
        seed = int(shard.stem[-1])
        np.testing.assert_allclose(
            attrs["physPar"], np.array([0.3, 0.8, 0.96, 70]) * (1 + 0.01 * seed)
        )
        np.testing.assert_allclose(attrs["unitPar"], np.array([0.1, -0.2, 0.3, -0.4]) * seed)
        assert attrs["code_version"]


def test_manifest_contents(tmp_path):
    make_inputs(tmp_path / "in", n=3)
    (tmp_path / "in" / "junk.h5").write_bytes(b"not hdf5 at all " * 64)
    run(tmp_path / "in", tmp_path / "out", val_fraction=0.34, seed=7, axis=1, redshift_index=3)
    man = su.read_manifest(tmp_path / "out")
    assert man["options"] == {
        "img_dim": D,
        "step": STEP,
        "axis": 1,
        "redshift_index": 3,
        "val_fraction": 0.34,
        "seed": 7,
    }
    assert sorted(man["universes"]) == ["univ_0", "univ_1", "univ_2"]
    u1 = man["universes"]["univ_1"]
    assert u1["n_images"] == PER_UNIVERSE and u1["redshift"] == 3.0 and u1["grid"] == N
    assert u1["shard"] == f"{u1['split']}/univ_1.h5"
    assert u1["source"] == str((tmp_path / "in" / "univ_1.hdf5").resolve())
    assert man["totals"]["universes"] == {"train": 2, "val": 1}
    assert man["totals"]["images"] == {"train": 2 * PER_UNIVERSE, "val": PER_UNIVERSE}
    assert man["totals"]["skipped"] == 1
    assert man["skipped"][0]["file"].endswith("junk.h5")
    assert "not a readable HDF5 file" in man["skipped"][0]["reason"]
    splits = {s: u["split"] for s, u in man["universes"].items()}
    assert splits == su.assign_splits(splits, 0.34, 7)


def test_worker_count_does_not_change_output(tmp_path):
    make_inputs(tmp_path / "in", n=4)
    run(tmp_path / "in", tmp_path / "one", workers=1, val_fraction=0.5)
    run(tmp_path / "in", tmp_path / "two", workers=2, val_fraction=0.5)
    for split in su.SPLITS:
        one, two = su.list_shards(tmp_path / "one", split), su.list_shards(tmp_path / "two", split)
        assert [p.name for p in one] == [p.name for p in two] and len(one) == 2
        for a, b in zip(one, two, strict=True):
            with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
                np.testing.assert_array_equal(fa["data"][()], fb["data"][()])
    assert (tmp_path / "one" / "manifest.json").read_bytes() == (
        tmp_path / "two" / "manifest.json"
    ).read_bytes()


def test_rerun_skips_existing_shards_and_changes_nothing(tmp_path, capsys):
    make_inputs(tmp_path / "in", n=3)
    out = tmp_path / "out"
    cli(tmp_path / "in", out)
    before = snapshot(out)
    cli(tmp_path / "in", out)
    assert snapshot(out) == before  # same bytes, same mtimes, manifest included
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "0 sliced, 3 already done" in last


def test_resume_after_a_killed_run_and_added_universes(tmp_path):
    cubes = make_inputs(tmp_path / "in", n=4)
    out = tmp_path / "out"
    run(tmp_path / "in", out, val_fraction=0.25)
    first = su.read_manifest(out)["universes"]
    (out / "manifest.json").unlink()  # as if killed before the manifest was written
    victim = su.list_shards(out, "train")[0]
    victim.unlink()  # and before this shard was finished
    for i in (4, 5, 6, 7):
        cubes[f"univ_{i}"] = cube(i)
        write_universe(tmp_path / "in" / f"univ_{i}.hdf5", cubes[f"univ_{i}"], seed=i)
    summary = run(tmp_path / "in", out, val_fraction=0.25)
    assert summary["written"] == 5 and summary["already_done"] == 3
    now = su.read_manifest(out)["universes"]
    assert {s: now[s]["split"] for s in first if s != victim.stem} == {
        s: first[s]["split"] for s in first if s != victim.stem
    }
    assert summary["universes"] == {"train": 6, "val": 2}


@pytest.mark.parametrize(
    "flag, value, option",
    [
        ("--step", "4", "--step 2"),
        ("--img-dim", "4", "--img-dim 8"),
        ("--axis", "2", "--axis 0"),
        ("--seed", "3", "--seed 0"),
    ],
)
def test_rerun_with_other_options_is_refused(tmp_path, capsys, flag, value, option):
    make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    cli(tmp_path / "in", out)
    before = snapshot(out)
    capsys.readouterr()
    args = ["--input", str(tmp_path / "in"), "--output", str(out), "--img-dim", str(D)]
    args += ["--step", str(STEP), "--no-progress", "--workers", "1"]
    with pytest.raises(SystemExit) as exc:
        su.main([*args, flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and option in err
    assert snapshot(out) == before


def test_shards_without_manifest_are_checked_too(tmp_path):
    make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    run(tmp_path / "in", out)
    (out / "manifest.json").unlink()
    with pytest.raises(UserError, match=r"univ_\d\.h5: sliced with --redshift-index 0"):
        run(tmp_path / "in", out, redshift_index=1)


# ---------------------------------------------------------------------------- bad input files


def bad_file(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.h5"
    if kind == "garbage":
        path.write_bytes(os.urandom(3000))
    elif kind == "truncated":
        write_universe(tmp := folder / "whole.tmpdata", cube(9))
        data = tmp.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        tmp.unlink()
    elif kind == "no_full":
        with h5py.File(path, "w") as f:
            f["cube"] = cube(9)
    elif kind == "not_cubic":
        write_universe(path, cube(9, (N, N, 8, 4)))
    elif kind == "three_d":
        write_universe(path, cube(9, (N, N, N)))
    elif kind == "indivisible":
        write_universe(path, cube(9, (12, 12, 12, 4)))
    elif kind == "few_redshifts":
        write_universe(path, cube(9, (N, N, N, 1)))
    elif kind == "corrupt_chunk":
        # Header fine, one compressed chunk of voxels overwritten: fails only when read.
        write_universe(path, cube(9), chunks=(1, N, N, 4), compression="gzip")
        with h5py.File(path, "r") as f:
            info = f["full"].id.get_chunk_info(4)
        with open(path, "r+b") as fh:
            fh.seek(info.byte_offset)
            fh.write(b"\xff" * info.size)
    return path


BAD_KINDS = {
    "garbage": "file signature not found",
    "truncated": "(truncated file: eof = ",
    "no_full": "no dataset 'full'",
    "not_cubic": "cubic",
    "three_d": "4-D",
    "indivisible": "not divisible by --img-dim 8",
    "few_redshifts": "redshift channels",
    "corrupt_chunk": "reading the voxels failed",
}


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_bad_file_is_skipped_and_recorded(tmp_path, capsys, kind):
    make_inputs(tmp_path / "in", n=2)
    bad = bad_file(kind, tmp_path / "in")
    redshift_index = 1 if kind == "few_redshifts" else 0
    cli(tmp_path / "in", tmp_path / "out", "--redshift-index", str(redshift_index))
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(bad) in warnings[0] and BAD_KINDS[kind] in warnings[0]
    man = su.read_manifest(tmp_path / "out")
    assert man["skipped"] == [{"file": str(bad), "reason": man["skipped"][0]["reason"]}]
    assert BAD_KINDS[kind] in man["skipped"][0]["reason"]
    assert sorted(man["universes"]) == ["univ_0", "univ_1"]  # never mixed in
    shards = su.list_shards(tmp_path / "out", "train") + su.list_shards(tmp_path / "out", "val")
    assert sorted(p.stem for p in shards) == ["univ_0", "univ_1"]
    assert not list((tmp_path / "out").rglob("*.tmp"))
    assert "1 skipped" in captured.out


@pytest.mark.parametrize("kind", ["garbage", "truncated", "not_cubic", "corrupt_chunk"])
def test_bad_file_is_an_error_under_strict(tmp_path, capsys, kind):
    make_inputs(tmp_path / "in", n=2)
    bad = bad_file(kind, tmp_path / "in")
    with pytest.raises(SystemExit) as exc:
        cli(tmp_path / "in", tmp_path / "out", "--strict")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: ") and BAD_KINDS[kind] in err[0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_parallel_workers_skip_or_stop_on_a_file_that_fails_mid_read(tmp_path, capsys):
    make_inputs(tmp_path / "in", n=3)
    bad = bad_file("corrupt_chunk", tmp_path / "in")
    summary = run(tmp_path / "in", tmp_path / "out", workers=2)
    assert summary["written"] == 3
    assert summary["skipped"] == [{"file": str(bad), "reason": summary["skipped"][0]["reason"]}]
    assert f"warning: {bad}: reading the voxels failed" in capsys.readouterr().err
    with pytest.raises(UserError, match="corrupt_chunk.h5: reading the voxels failed"):
        run(tmp_path / "in", tmp_path / "strict", workers=2, strict=True)
    assert not list(tmp_path.rglob("*.tmp"))


def test_gzip_shards_hold_the_same_counts(tmp_path):
    cubes = make_inputs(tmp_path / "in", n=2)
    run(tmp_path / "in", tmp_path / "out", compression="gzip")
    for shard in su.list_shards(tmp_path / "out", "train") + su.list_shards(
        tmp_path / "out", "val"
    ):
        with h5py.File(shard, "r") as f:
            assert f["data"].compression == "gzip"
            want = su.slice_cube_tiles(cubes[shard.stem], img_dim=D, step=STEP)
            np.testing.assert_array_equal(f["data"][()], want)


def test_all_inputs_bad_is_an_error(tmp_path):
    (tmp_path / "in").mkdir()
    bad_file("garbage", tmp_path / "in")
    with pytest.raises(UserError, match="no universe could be sliced"):
        run(tmp_path / "in", tmp_path / "out")


# ------------------------------------------------------------------------------------ inputs


def test_inputs_from_files_globs_and_folders(tmp_path):
    make_inputs(tmp_path / "a", n=2)
    make_inputs(tmp_path / "b", n=0)
    write_universe(tmp_path / "b" / "other.h5", cube(5))
    (tmp_path / "b" / "notes.txt").write_text("not a universe")
    files = su.find_inputs([tmp_path / "a", str(tmp_path / "b" / "*.h5")])
    assert [p.name for p in files] == ["univ_0.hdf5", "univ_1.hdf5", "other.h5"]
    write_universe(tmp_path / "b" / "univ_0.h5", cube(6))
    with pytest.raises(UserError, match="same name stem 'univ_0'"):
        su.find_inputs([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(UserError, match="no such file or folder"):
        su.find_inputs([tmp_path / "missing.h5"])
    with pytest.raises(UserError, match="no file matches"):
        su.find_inputs([str(tmp_path / "a" / "*.nothing")])


def test_list_shards_and_read_manifest_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        su.list_shards(tmp_path / "nope", "train")
    with pytest.raises(UserError, match="split 'test'"):
        su.list_shards(tmp_path, "test")
    with pytest.raises(UserError, match="manifest.json: no such file"):
        su.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(UserError, match="not a readable JSON manifest"):
        su.read_manifest(tmp_path)


def test_help_documents_skip_policy(capsys):
    with pytest.raises(SystemExit) as exc:
        su.main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "skipped with a one-line warning" in text and "--strict" in text
    assert "(default: data/slices)" in text


def test_manifest_is_valid_json_without_nan(tmp_path):
    make_inputs(tmp_path / "in", n=2)
    with h5py.File(tmp_path / "in" / "univ_1.hdf5", "a") as f:
        del f["redshifts"]
    run(tmp_path / "in", tmp_path / "out")
    text = (tmp_path / "out" / "manifest.json").read_text()
    man = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert man["universes"]["univ_1"]["redshift"] is None
