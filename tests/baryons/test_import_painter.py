"""baryon_painter's stacks written as its prepare_simulation_data notebook writes them -> the
suite's baryon_maps.h5 and stats.json."""

from __future__ import annotations

import collections
import json
import pickle

import h5py
import numpy as np
import pytest

from exagan_tf.baryons import data as bdata
from exagan_tf.baryons import import_painter as imp
from exagan_tf.baryons import simulate as bsim
from exagan_tf.baryons.transforms import Transform
from exagan_tf.errors import UserError

NPIX, NSTACK = 16, 5
ZS = (0.0, 0.5, 1.0)
PAINTER_FIELDS = ("dm", "gas", "pressure", "stars")


def stacks(field: str, z: float, thickness: str, n: int = NSTACK, seed: int = 0,
           npix: int = NPIX) -> np.ndarray:
    """Positive float32 stacks (n, NPIX, NPIX), distinct per field, redshift and thickness,
    summed from sheets as the notebook sums them (stack.sum(axis=0))."""
    rng = np.random.default_rng([seed, PAINTER_FIELDS.index(field), int(8 * z), int(thickness)])
    sheets = rng.gamma(2.0, 1.0 + z, size=(n, int(thickness) // 50, npix, npix))
    scale = 256.0 if field == "dm" else 1e-3
    return (scale * sheets).astype(np.float32).sum(axis=1)


def write_painter_folder(root, name="train", seed=0, n=NSTACK, corrupt_mean=False, npix=NPIX):
    """npy stacks + <name>_files_info.pickle as prepare_simulation_data.ipynb writes them."""
    root.mkdir(parents=True, exist_ok=True)
    info = []
    for field in PAINTER_FIELDS:
        for z in ZS:
            s100 = stacks(field, z, "100", n, seed, npix)
            s150 = stacks(field, z, "150", n, seed, npix)
            base = f"{field}_z{z:.3f}_{name}"
            np.save(root / (base + "_100"), s100)
            np.save(root / (base + "_150"), s150)
            info.append({
                "field": field, "z": z, "n_grid": npix, "n_sheet": 8, "n_stack": n,
                "mean_100": s100.mean() * (1.5 if corrupt_mean else 1.0),
                "mean_150": s150.mean(),
                "min_100": s100.min(), "min_150": s150.min(),
                "max_100": s100.max(), "max_150": s150.max(),
                "median_100": np.median(s100), "median_150": np.median(s150),
                "var_100": s100.var(ddof=1), "var_150": s150.var(ddof=1),
                "file_100": base + "_100.npy", "file_150": base + "_150.npy",
            })
    with open(root / f"{name}_files_info.pickle", "wb") as f:
        pickle.dump(info, f)
    return root


def test_maps_land_where_expected_and_train_the_suite(tmp_path, capsys):
    src = write_painter_folder(tmp_path / "stacks")
    out = tmp_path / "bahamas"
    assert imp.main([str(src), "--out", str(out), "--test-stacks", "2", "--box", "400"]) == 0
    text = capsys.readouterr().out
    assert "train 3 thin (100 Mpc/h) + 3 thick (150 Mpc/h) slabs, test 2 + 2" in text
    assert "gas: 3 entries; stars: 3 entries" in text
    with h5py.File(out / bsim.MAPS_FILE) as f:
        assert f["redshifts"][()].tolist() == list(ZS)
        assert f.attrs["pixel_mpc_h"] == 400.0 / NPIX
        for iz, z in enumerate(ZS):
            d100, d150 = stacks("dm", z, "100"), stacks("dm", z, "150")
            # dark matter: each slab over the mean per pixel of its thickness (1 + delta)
            np.testing.assert_allclose(f["train/thin/dm"][iz, 1], d100[3] / d100.mean(),
                                       rtol=1e-5)
            np.testing.assert_allclose(f["test/thick/dm"][iz, 0], d150[0] / d150.mean(),
                                       rtol=1e-5)
            assert np.isclose(f.attrs["dm_scale_thin"][iz], 1 / d100.mean(), rtol=1e-6)
            # pressure as stored
            np.testing.assert_array_equal(f["train/thick/pressure"][iz, 2],
                                          stacks("pressure", z, "150")[4])
            np.testing.assert_array_equal(f["test/thin/pressure"][iz, 1],
                                          stacks("pressure", z, "100")[1])
        assert "pressure_mean" not in f["train/thin"]
    # the streamed statistics are what the simulator's map_statistics gives on the same maps
    maps = bsim.read_maps(out, "train")
    ref = bsim.map_statistics(maps, ZS)
    stats = bsim.read_stats(out)
    for key in ("dm_mean", "dm_std", "pressure_mean", "pressure_std", "pressure_min"):
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-6)
    assert np.allclose(stats["dm_mean"], 2.0, atol=0.2)  # thin + thick, each about 1
    src_stats = json.loads((out / bsim.STATS_FILE).read_text())["source_stats"]
    assert np.isclose(src_stats["pressure"]["0.5"]["var_150"],
                      stacks("pressure", 0.5, "150").var(ddof=1), rtol=1e-6)
    # the suite's readers take it: tiles, pairs (no noise-free truth), transforms
    tiles = bdata.load_tiles(out, "train", 8)
    assert tiles.thin["dm"].shape == (3, 3 * 4, 8, 8) and "pressure_mean" not in tiles.thin
    pair = bdata.pair_fields(tiles, 1, np.array([[0, 1]]))
    assert sorted(pair) == ["dm", "pressure"]
    t = Transform.from_stats(stats, "cvae")
    assert t.redshifts == ZS


def test_separate_test_pickle(tmp_path):
    src = write_painter_folder(tmp_path / "stacks")
    write_painter_folder(src, name="test", seed=1, n=2)
    out = tmp_path / "o"
    s = imp.import_stacks(src, out, redshifts=[1.0, 0.0], progress=False)
    assert s["slabs"] == {"train": {"thin": 5, "thick": 5}, "test": {"thin": 2, "thick": 2}}
    assert s["redshifts"] == [0.0, 1.0]
    with h5py.File(out / bsim.MAPS_FILE) as f:
        d100 = stacks("dm", 1.0, "100")  # the training info's mean scales the test maps too
        np.testing.assert_allclose(f["test/thin/dm"][1, 1],
                                   stacks("dm", 1.0, "100", 2, seed=1)[1] / d100.mean(),
                                   rtol=1e-5)
        np.testing.assert_array_equal(f["train/thin/pressure"][0, 4],
                                      stacks("pressure", 0.0, "100")[4])
    bad = write_painter_folder(tmp_path / "bad")
    write_painter_folder(bad, name="test", seed=1, n=2, corrupt_mean=True)
    with pytest.raises(UserError, match="test_files_info.pickle says mean_100"):
        imp.import_stacks(bad, tmp_path / "o2", progress=False)


def test_errors_are_one_line_and_nothing_is_written(tmp_path, capsys):
    src = write_painter_folder(tmp_path / "bad", corrupt_mean=True)
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as exc:
        imp.main([str(src), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dm_z0.000_train_100.npy" in err and "mean_100" in err
    assert not (out / bsim.MAPS_FILE).exists() and not (out / bsim.STATS_FILE).exists()
    assert not list(out.glob(".*tmp"))
    good = write_painter_folder(tmp_path / "good")
    (out / bsim.STATS_FILE).write_text("{}")
    with pytest.raises(UserError, match="refusing to overwrite"):
        imp.import_stacks(good, out, progress=False)
    assert (out / bsim.STATS_FILE).read_text() == "{}"
    with pytest.raises(UserError, match="no maps at z = 0.25"):
        imp.import_stacks(good, tmp_path / "o2", redshifts=[0.25], progress=False)
    with pytest.raises(UserError, match="--test-stacks=5"):
        imp.import_stacks(good, tmp_path / "o3", test_stacks=5, progress=False)
    # a pickle holding anything but plain values is refused, not executed
    evil = tmp_path / "evil"
    evil.mkdir()
    with open(evil / imp.TRAIN_INFO, "wb") as f:
        pickle.dump([collections.Counter(a=1)], f)
    with pytest.raises(UserError, match="refusing to load collections.Counter"):
        imp.import_stacks(evil, tmp_path / "o4", progress=False)
    neg = write_painter_folder(tmp_path / "neg")
    arr = np.load(neg / "pressure_z0.500_train_150.npy")
    arr[3, 2, 1] = -1.0
    arr[3, 0, 0] += 1.0  # keep the mean as the info says
    np.save(neg / "pressure_z0.500_train_150.npy", arr)
    with pytest.raises(UserError, match=r"train pressure z=0.5 \(150 Mpc/h\) stack 0: 1 NaN"):
        imp.import_stacks(neg, tmp_path / "o5", progress=False)


@pytest.mark.slow  # trains the tiny CVAE: about 25 s of CPU
def test_imported_stacks_train_and_evaluate_without_a_floor(tmp_path, capsys):
    import yaml

    from exagan_tf.baryons import evaluate, train

    from .conftest import REPO

    src = write_painter_folder(tmp_path / "stacks", npix=32)  # tiles of 32 pixels
    data = tmp_path / "bahamas"
    imp.import_stacks(src, data, test_stacks=2, progress=False)
    cfg = dict(yaml.safe_load((REPO / "experiments" / "baryons.yaml").read_text())["cvae_test"])
    cfg.update(datadir=str(data), monitor_redshifts=[0.0, 1.0])
    cfg_file = tmp_path / "baryons.yaml"
    cfg_file.write_text(yaml.safe_dump({"cvae_test": cfg}))
    expts = tmp_path / "expts"
    assert train.main(["cvae_test", "0", "--config-file", str(cfg_file), "--expts",
                       str(expts)]) == 0
    assert evaluate.main(["cvae_test", "0", "--expts", str(expts), "--pairs", "2"]) == 0
    metrics = json.loads((expts / "cvae_test" / "run0" / "analysis" / "metrics.json").read_text())
    res = metrics["redshifts"]["0.5"]
    assert {"cvae", "cvae_mean", "local_baseline", "truth"} <= set(res) and "floor" not in res
    assert metrics["pixel_mpc_h"] == 400.0 / 32
    capsys.readouterr()
