"""Channels, noise, apodisation, normalisation and splitting of the CMB data."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.cmb import data as cmb_data
from exagan_tf.cmb import simulate as sim
from exagan_tf.errors import UserError


def test_apodization_window():
    w = cmb_data.apodization_window(20, 0.3)
    assert w.shape == (20, 20) and np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w[10, 10] == 1.0 and w[0, 0] < 0.01 and 0 < w[0, 10] < 0.05
    assert np.all(w[6:14, 6:14] == 1.0)


def test_load_data_shapes_split_and_scales(tiny_data_dir):
    d = cmb_data.load_data(tiny_data_dir, "qu", "ek", validation_split=0.25, seed=1)
    assert d.x_train.shape == (18, 16, 16, 2) and d.y_val.shape == (6, 16, 16, 2)
    assert d.x_train.dtype == np.float32
    # q and u share one scale; every channel has unit rms over the training maps
    assert d.scales["q"] == d.scales["u"]
    assert np.sqrt(np.mean(d.x_train**2)) == pytest.approx(1.0, rel=1e-5)
    assert np.sqrt(np.mean(d.y_train[..., 0] ** 2)) == pytest.approx(1.0, rel=1e-5)
    # back to physical units: the stored, windowed maps of the validation indices
    maps, _ = cmb_data.read_maps(d.path)
    assert np.allclose(d.physical(d.y_val, "ek")[..., 1], maps["k"][d.val_index] * d.window,
                       rtol=1e-5, atol=1e-9)
    # the split depends on the seed only
    again = cmb_data.load_data(tiny_data_dir, "qu", "ek", validation_split=0.25, seed=1)
    assert np.array_equal(again.val_index, d.val_index)
    other = cmb_data.load_data(tiny_data_dir, "qu", "ek", validation_split=0.25, seed=2)
    assert not np.array_equal(other.val_index, d.val_index)


def test_noise_level_and_channels(tiny_data_dir):
    kw = dict(normalize=False, apodize=False, seed=3)
    clean = cmb_data.load_data(tiny_data_dir, "qu", "e", **kw)
    noisy = cmb_data.load_data(tiny_data_dir, "qu", "e", noise=5.0, **kw)
    pixel_arcmin = 1.25 * 60 / 16
    added = noisy.x_train - clean.x_train
    assert np.std(added) == pytest.approx(sim.noise_sigma(5.0, pixel_arcmin), rel=0.05)
    assert np.array_equal(noisy.y_train, clean.y_train)  # e is not in --noise-channels
    with_e = cmb_data.load_data(tiny_data_dir, "qu", "e", noise=5.0, noise_channels="que", **kw)
    assert not np.array_equal(with_e.y_train, clean.y_train)


def test_derived_eb_channels(tiny_data_dir):
    d = cmb_data.load_data(tiny_data_dir, "quE", "e", normalize=False, apodize=False)
    e, _ = sim.qu_to_eb(d.x_val[..., 0], d.x_val[..., 1], d.pixel_rad)
    assert np.allclose(d.x_val[..., 2], e, atol=1e-4)
    assert np.allclose(d.val_physical["E"], e, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(inputs="qx"), "unknown channel letter 'x'"),
        (dict(outputs="K"), "unknown channel letter 'K'"),
        (dict(validation_split=1.0), r"expected a fraction in \(0, 1\)"),
        (dict(validation_split=0.0), r"expected a fraction in \(0, 1\)"),
        (dict(validation_split=0.01), "need at least one map in each part"),
        (dict(noise=1.0, noise_channels="quk"), "q, u, e, b only"),
        (dict(ndeg=5.0), "maps span 1.25 deg, but --ndeg=5.0"),
    ],
)
def test_bad_inputs(tiny_data_dir, kwargs, message):
    args = dict(inputs="qu", outputs="e") | kwargs
    with pytest.raises(UserError, match=message):
        cmb_data.load_data(tiny_data_dir, args.pop("inputs"), args.pop("outputs"), **args)


def test_missing_data(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        cmb_data.load_data(tmp_path / "nowhere", "qu", "e")
    with pytest.raises(UserError, match="no cmb_maps.h5"):
        cmb_data.load_data(tmp_path, "qu", "e")
    (tmp_path / "cmb_maps.h5").write_text("not hdf5")
    with pytest.raises(UserError, match="not a readable HDF5 file"):
        cmb_data.load_data(tmp_path, "qu", "e")
