"""gevolution runs written as gevolution and LATfield2 write them -> the GR/Newton cube file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.gr import import_gevolution as imp
from exagan_tf.gr import simulate as sim
from exagan_tf.gr.data import WholeCubeDataset, WholeCubeDataset2

N = 8
ZS = (20.0, 15.0, 10.0, 5.0, 1.0, 0.0)
H, OB, OC = 0.67556, 0.022032, 0.12038


def settings_used(theory: str, seed: int, redshifts=ZS, ngrid=N, boxsize=5120.0) -> str:
    """A <generic file base>_settings_used.ini as gevolution's saveParameterFile writes it
    ('name = value' lines of the used parameters), with the thesis's values."""
    name = "GR" if theory == "gr" else "Newton"
    lines = {
        "IC generator": "basic", "seed": f"{seed:04d}", "A_s": "2.215e-09", "n_s": "0.9619",
        "h": str(H), "omega_b": str(OB), "omega_cdm": str(OC),
        "initial redshift": "100.0", "boxsize": str(boxsize), "Ngrid": str(ngrid),
        "gravity theory": name, "output path": f"/data/seed{seed:04d}/{theory}/",
        "generic file base": theory, "snapshot file base": f"{theory}_snap",
        # the parser sorts these in descending order whatever order the file gives
        "snapshot redshifts": ", ".join(f"{z:g}" for z in sorted(redshifts)),
        "snapshot outputs": "phi",
    }
    return "".join(f"{k} = {v}\n" for k, v in lines.items())


def phi_lattice(seed: int, theory: str, iz: int, n: int = N) -> np.ndarray:
    """A field phi(x, y, z) on the lattice, distinct per seed, theory and snapshot."""
    rng = np.random.default_rng([seed, theory == "gr", iz])
    return rng.standard_normal((n, n, n)) * 1e-5


def write_latfield(path, phi_xyz: np.ndarray, byteorder: str = "<") -> None:
    """Write phi as LATfield2's serial saveHDF5 does: dataset 'data', dimensions reversed
    (HDF5 (Nz, Ny, Nx) with x fastest), double of the build's byte order, one whole chunk."""
    data = np.ascontiguousarray(np.transpose(phi_xyz, (2, 1, 0)))
    with h5py.File(path, "w") as f:
        f.create_dataset(imp.DATASET, data=data, dtype=np.dtype(f"{byteorder}f8"),
                         chunks=data.shape)


def make_runs(root, seeds, byteorder="<", skip=(), n=N):
    """The thesis layout: seed{seed:04d}/{gr,newton}/ with the settings and phi snapshots."""
    for seed in seeds:
        for theory in sim.THEORIES:
            if (seed, theory) in skip:
                continue
            d = root / f"seed{seed:04d}" / theory
            d.mkdir(parents=True)
            (d / f"{theory}_settings_used.ini").write_text(settings_used(theory, seed, ngrid=n))
            for i in range(len(ZS)):  # snapshot i is the i-th of the descending list
                write_latfield(d / f"{theory}_snap{i:03d}_phi.h5",
                               phi_lattice(seed, theory, i, n), byteorder)
    return root


def expected_cube(seed, theory, z):
    """phi at z as the thesis read it: f['data'][()] (axes z, y, x of the lattice)."""
    return np.transpose(phi_lattice(seed, theory, ZS.index(z)), (2, 1, 0))


def test_settings_parser_reads_like_gevolution(tmp_path):
    p = tmp_path / "s.ini"
    p.write_text("# comment = no\nboxsize = 320.0   # in Mpc/h\nNgrid=64\n  seed = 7\n"
                 "snapshot redshifts  = 30, 10, 3, 0\nlabel # = not a parameter\nseed = 8\n")
    s = imp.parse_settings(p)
    assert s == {"boxsize": "320.0", "Ngrid": "64", "seed": "7",
                 "snapshot redshifts": "30, 10, 3, 0"}


def test_difference_raw_values_land_where_expected(tmp_path):
    root = make_runs(tmp_path / "runs", [0, 1, 2])
    out = tmp_path / "diff.h5"
    s = imp.import_runs(root, out, standardise=False, progress=False)
    assert s["pairs"] == 3 and s["seeds"] == [0, 1, 2] and s["skipped"] == {}
    om = (OB + OC) / H**2
    with h5py.File(out) as f:
        assert sorted(f) == sorted(["seeds"] + [sim.cube_name(t, s) for s in range(3)
                                                for t in sim.THEORIES])
        assert f["seeds"][()].tolist() == [0, 1, 2]
        assert not f.attrs["standardised"] and f.attrs["box_size_mpc_h"] == 5120.0
        assert np.isclose(f.attrs["A_s"], 2.215e-9) and np.isclose(f.attrs["omega_m"], om)
        for seed in range(3):
            for theory in sim.THEORIES:
                want = sim.growth_normalised_difference(
                    expected_cube(seed, theory, 10.0), expected_cube(seed, theory, 1.0),
                    10.0, 1.0, om)
                got = f[sim.cube_name(theory, seed)][()]
                assert got.shape == (1, N, N, N) and got.dtype == np.float32
                np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-12)


def test_redshift_channels_standardised_big_endian_and_loaders(tmp_path):
    root = make_runs(tmp_path / "runs", [0, 1, 2, 3], byteorder=">")
    out = tmp_path / "z.h5"
    imp.import_runs(root, out, difference=False, redshifts=[0.0, 20.0], progress=False)
    raw = {(t, s): np.stack([expected_cube(s, t, 0.0), expected_cube(s, t, 20.0)])
           for s in range(4) for t in sim.THEORIES}
    allc = np.stack(list(raw.values()))
    mean, std = allc.mean(axis=(0, 2, 3, 4)), allc.std(axis=(0, 2, 3, 4))
    with h5py.File(out) as f:
        assert list(f.attrs["channels"]) == ["phi(z=0)", "phi(z=20)"]
        assert f.attrs["standardised"]
        np.testing.assert_allclose(f.attrs["mean"], mean, rtol=1e-6)
        cube = f["newton_seed0002"][()]
    np.testing.assert_allclose(cube, (raw["newton", 2] - mean[:, None, None, None])
                               / std[:, None, None, None], rtol=1e-4, atol=1e-5)
    # RACOON/PENGUIN's loaders read it: 2 theories x 3 N slices per seed, labels GR 1 Newton 0
    ds = WholeCubeDataset(out, [0, 1])
    images, labels, seeds = ds.arrays()
    assert images.shape == (2 * 2 * 3 * N, N, N, 2) and labels.sum() == 2 * 3 * N
    # slice i along axis 0 of the first (GR, seed 0) cube is cube[:, i] channels last
    np.testing.assert_allclose(images[5, ..., 1],
                               (raw["gr", 0][1, 5] - mean[1]) / std[1], rtol=1e-4, atol=1e-5)


def test_raw_file_for_wholecubedataset2(tmp_path):
    root = make_runs(tmp_path / "runs", [0, 1])
    out = tmp_path / "raw.h5"
    imp.import_runs(root, out, standardise=False, progress=False)
    ds = WholeCubeDataset2(out, [0, 1])
    assert ds.num_channels == 1 and ds.image_size == N


def test_incomplete_pairs_are_skipped_and_counted(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", [0, 1, 2, 3], skip={(1, "newton")})
    (root / "seed0002" / "gr" / "gr_snap004_phi.h5").unlink()  # z = 1 of seed 2 missing
    tpl = root / "initialisations"
    tpl.mkdir()
    (tpl / "gr.ini").write_text("seed =\nsnapshot redshifts = 20, 15, 10, 5, 1, 0\n")
    out = tmp_path / "o.h5"
    assert imp.main([str(root), "--out", str(out), "--renumber"]) == 0
    text = capsys.readouterr().out
    assert "2 GR/Newton pairs (seeds 0..3)" in text
    assert "no newton run for the seed: 1" in text
    assert "a phi snapshot file is missing: 1" in text
    assert "gr.ini: no 'seed': 1" in text
    with h5py.File(out) as f:
        assert f["seeds"][()].tolist() == [0, 1]
        assert f["gevolution_seeds"][()].tolist() == [0, 3]
        assert "gr_seed0001" in f and "gr_seed0003" not in f


def test_errors_are_one_line_and_nothing_is_written(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", [0])
    bad = root / "seed0000" / "gr" / "gr_snap002_phi.h5"
    bad.unlink()
    write_latfield(bad, np.zeros((N, N, N // 2)))
    out = tmp_path / "o.h5"
    with pytest.raises(SystemExit) as exc:
        imp.main([str(root), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gr_snap002_phi.h5" in err and "(4, 8, 8)" in err
    assert not out.exists() and not list(tmp_path.glob(".o.h5.*"))
    out.write_text("keep")
    with pytest.raises(UserError, match="refusing to overwrite"):
        imp.import_runs(root, out, progress=False)
    assert out.read_text() == "keep"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no gevolution run found"):
        imp.import_runs(tmp_path / "empty", tmp_path / "x.h5", progress=False)
    with pytest.raises(UserError, match="no such folder"):
        imp.import_runs(tmp_path / "absent", tmp_path / "x.h5", progress=False)


@pytest.mark.slow  # trains the tiny RACOON on the imported cubes
def test_imported_runs_train_racoon(tmp_path, make_config):
    from exagan_tf.gr import run_controller

    root = make_runs(tmp_path / "runs", range(6), n=16)
    data = tmp_path / "gevolution.h5"
    imp.import_runs(root, data, progress=False)
    cfg = make_config(tmp_path / "tiny.yaml", data, tmp_path / "logs")
    assert run_controller.main([str(cfg), "--no-evaluate"]) == 0
