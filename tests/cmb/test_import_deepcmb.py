"""DeepCMB's map files written as its loader reads them -> the suite's CMB data file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exagan_tf.cmb import data as cmb_data
from exagan_tf.cmb import import_deepcmb as imp
from exagan_tf.errors import UserError

N, NPIX = 9, 16


def write_sims(root, n=N, nan_at=None, channels_last=False):
    """sims_qu.npy (n, 2, npix, npix) and sims_ekb.npy (n, 3, npix, npix), as CMBDataset
    reads them (np.load, channels first), plus the loader's pickled spectra cache."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    qu = rng.standard_normal((n, 2, NPIX, NPIX)) * 3.0
    ekb = rng.standard_normal((n, 3, NPIX, NPIX)) * np.array([10.0, 0.05, 0.3])[None, :, None, None]
    if nan_at is not None:
        ekb[nan_at, 2, 4, 5] = np.nan
    if channels_last:
        qu = np.moveaxis(qu, 1, -1)
    np.save(root / "sims_qu.npy", qu.astype(np.float32))
    np.save(root / "sims_ekb.npy", ekb)  # float64
    np.save(root / "aps_quekb.npy", {"q": np.zeros(3)}, allow_pickle=True)
    return root, qu.astype(np.float32).astype(np.float64), ekb


def test_maps_land_where_expected(tmp_path, capsys):
    src, qu, ekb = write_sims(tmp_path / "sims", nan_at=4)
    out = tmp_path / "deepcmb"
    assert imp.main([str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{N - 1} maps of 16^2 over 5 deg (18.75 arcmin pixels)" in text
    assert "skipped: 1 maps with NaN or infinite pixels (aps_quekb.npy" in text
    keep = [i for i in range(N) if i != 4]
    with h5py.File(out / cmb_data.DATA_FILE) as f:
        maps = f["maps"][()]
        assert f["maps"].attrs["channels"] == "quekb" and f.attrs["ndeg"] == 5.0
        assert f["source_index"][()].tolist() == keep
    assert maps.shape == (N - 1, NPIX, NPIX, 5)
    for j, i in enumerate(keep):
        np.testing.assert_allclose(maps[j, ..., 0], qu[i, 0], rtol=1e-6)
        np.testing.assert_allclose(maps[j, ..., 1], qu[i, 1], rtol=1e-6)
        np.testing.assert_allclose(maps[j, ..., 2], ekb[i, 0], rtol=1e-6)
        np.testing.assert_allclose(maps[j, ..., 3], ekb[i, 1], rtol=1e-6)
        np.testing.assert_allclose(maps[j, ..., 4], ekb[i, 2], rtol=1e-6)
    # the suite's loader reads it: validation truth in physical units is the file's e and k
    data = cmb_data.load_data(out, "qu", "ek", normalize=False, apodize=False,
                              validation_split=0.25, ndeg=5.0)
    assert data.x_train.shape == (6, NPIX, NPIX, 2) and data.y_val.shape == (2, NPIX, NPIX, 2)
    src_index = np.array(keep)[data.val_index]
    np.testing.assert_allclose(data.val_physical["k"], ekb[src_index, 1], rtol=1e-6)
    np.testing.assert_allclose(data.y_val[..., 0], ekb[src_index, 0], rtol=1e-6)


def test_unit_factor_scales_polarisation_not_kappa(tmp_path):
    src, qu, ekb = write_sims(tmp_path / "sims")
    s = imp.import_maps(src, tmp_path / "o", to_uk=1e6, ndeg=3.2, progress=False)
    assert s["maps"] == N and s["skipped"] == 0
    with h5py.File(tmp_path / "o" / cmb_data.DATA_FILE) as f:
        m = f["maps"][2]
        assert np.isclose(f.attrs["pixel_arcmin"], 3.2 * 60 / NPIX)
    np.testing.assert_allclose(m[..., 1], qu[2, 1] * 1e6, rtol=1e-6)
    np.testing.assert_allclose(m[..., 4], ekb[2, 2] * 1e6, rtol=1e-6)
    np.testing.assert_allclose(m[..., 3], ekb[2, 1], rtol=1e-6)


def test_errors_are_one_line_and_nothing_is_written(tmp_path, capsys):
    src, _, _ = write_sims(tmp_path / "last", channels_last=True)
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as exc:
        imp.main([str(src), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sims_qu.npy" in err and "channels last?" in err
    assert not (out / cmb_data.DATA_FILE).exists()
    short, _, _ = write_sims(tmp_path / "short")
    np.save(short / "sims_ekb.npy", np.zeros((N - 2, 3, NPIX, NPIX)))
    with pytest.raises(UserError, match="sims_qu.npy holds 9 maps of \\(16, 16\\), "
                       "sims_ekb.npy 7"):
        imp.import_maps(short, out, progress=False)
    good, _, _ = write_sims(tmp_path / "good")
    out.mkdir(exist_ok=True)
    (out / cmb_data.DATA_FILE).write_text("keep")
    with pytest.raises(UserError, match="refusing to overwrite"):
        imp.import_maps(good, out, progress=False)
    assert (out / cmb_data.DATA_FILE).read_text() == "keep"
    with pytest.raises(UserError, match="sims_ekb.npy: no such file"):
        (good / "sims_ekb.npy").unlink()
        imp.import_maps(good, tmp_path / "o2", progress=False)
