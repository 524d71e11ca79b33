"""Slice datasets: seeds, labels, standardisation of both loaders, augmentation, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.gr import data


def test_split_seeds_has_no_leakage():
    train, test = data.split_seeds(150, 100)
    assert train[0] == 0 and train[-1] == 149 and test[0] == 150 and test[-1] == 249
    assert not set(train) & set(test)
    with pytest.raises(UserError, match="train_seeds=0"):
        data.split_seeds(0, 3)


def test_train_and_test_datasets_share_no_seed(gr_files):
    train_seeds, test_seeds = data.split_seeds(4, 2)
    tr = data.WholeCubeDataset(gr_files["std"], train_seeds)
    te = data.WholeCubeDataset(gr_files["std"], test_seeds)
    _, _, s_tr = tr.arrays()
    x_te, y_te, s_te = te.arrays()
    assert set(np.unique(s_tr)) == {0, 1, 2, 3} and set(np.unique(s_te)) == {4, 5}
    assert len(x_te) == len(te) == 2 * 2 * 3 * 16
    assert y_te.mean() == 0.5  # as many GR (1) as Newton (0) slices


def test_cube_slices_order_and_shape():
    cube = np.arange(2 * 4**3, dtype=np.float32).reshape(2, 4, 4, 4)
    s = data.cube_slices(cube)
    assert s.shape == (12, 4, 4, 2)
    assert np.array_equal(s[1], np.moveaxis(cube[:, 1], 0, -1))
    assert np.array_equal(s[4 + 2], np.moveaxis(cube[:, :, 2], 0, -1))
    assert np.array_equal(s[8 + 3], np.moveaxis(cube[:, :, :, 3], 0, -1))
    assert data.cube_slices(cube, "channels_first").shape == (12, 2, 4, 4)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_tf_slices_equal_the_numpy_slices(fmt):
    cubes = np.random.default_rng(0).standard_normal((2, 3, 5, 5, 5)).astype(np.float32)
    expected = np.concatenate([data.cube_slices(c, fmt) for c in cubes])
    assert np.array_equal(data.tf_cube_slices(cubes, fmt).numpy(), expected)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_unshuffled_pipeline_yields_every_slice_in_order(gr_files, fmt):
    ds = data.WholeCubeDataset(gr_files["std"], [0, 1], newton_augmentation=0.5,
                               data_format=fmt)
    x, y, _ = ds.arrays()
    batches = list(ds.dataset(7, shuffle=False))
    assert len(batches) == -(-len(ds) // 7)
    assert np.array_equal(np.concatenate([b[0] for b in batches]), x)
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y)


def test_labels_follow_the_theory(gr_files):
    ds = data.WholeCubeDataset(gr_files["std"], [0])
    with h5py.File(gr_files["std"]) as f:
        gr = f["gr_seed0000"][()]
    (x_gr, y_gr, _), (x_n, y_n, _) = list(ds.iter_slices())
    assert np.array_equal(x_gr, data.cube_slices(gr)) and np.all(y_gr == 1)
    assert np.all(y_n == 0) and not np.array_equal(x_gr, x_n)


def test_both_loaders_agree_on_standardisation(gr_files):
    seeds = range(6)  # the whole file: WholeCubeDataset2 then uses the file's own statistics
    lazy = data.WholeCubeDataset(gr_files["std"], seeds)
    memory = data.WholeCubeDataset2(gr_files["raw"], seeds)
    a, ya, _ = lazy.arrays()
    b, yb, _ = memory.arrays()
    assert np.array_equal(ya, yb)
    assert np.allclose(a, b, atol=2e-5)
    assert abs(b.mean()) < 1e-5 and abs(b.std() - 1.0) < 1e-5
    with h5py.File(gr_files["raw"]) as f:
        assert np.allclose(memory.mean, f.attrs["mean"]) and np.allclose(memory.std, f.attrs["std"])


def test_lazy_loader_refuses_a_raw_file(gr_files):
    with pytest.raises(UserError, match="WholeCubeDataset2"):
        data.WholeCubeDataset(gr_files["raw"], [0])


def test_newton_augmentation_scales_only_newton(gr_files):
    plain = list(data.WholeCubeDataset(gr_files["std"], [1]).iter_slices())
    half = list(data.WholeCubeDataset(gr_files["std"], [1], newton_augmentation=0.5).iter_slices())
    assert np.array_equal(plain[0][0], half[0][0])  # GR untouched
    assert np.allclose(half[1][0], 0.5 * plain[1][0])


def test_tf_pipeline_shapes_and_both_formats(gr_files):
    ds = data.make_dataset("WholeCubeDataset2", gr_files["std"], [0, 1])
    batches = list(ds.dataset(batch_size=32, seed=1))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (len(ds), 16, 16, 1) and labels.shape == (len(ds), 1)
    assert labels.mean() == 0.5 and not np.all(labels[: len(labels) // 2] == labels[0])  # shuffled


@pytest.mark.parametrize("buffer", [1, 40, 4096])
def test_a_shuffled_pass_holds_every_slice_once(gr_files, buffer):
    ds = data.WholeCubeDataset(gr_files["std"], [0, 1, 2])
    x, y, _ = ds.arrays()
    batches = list(ds.dataset(5, seed=3, shuffle_buffer=buffer))
    xs = np.concatenate([b[0] for b in batches])
    ys = np.concatenate([b[1] for b in batches])
    assert len(batches) == -(-len(ds) // 5) and not np.array_equal(xs, x)

    def rows(images, labels):  # each slice with its label, in a canonical order
        flat = np.concatenate([images.reshape(len(images), -1), labels], axis=1)
        return flat[np.lexsort(flat.T[::-1])]

    assert np.array_equal(rows(xs, ys), rows(x, y))
    first = data.make_dataset(
        "WholeCubeDataset", gr_files["std"], [0], data_format="channels_first"
    )
    x, y = next(iter(first.dataset(batch_size=4, shuffle=False)))
    assert x.shape == (4, 1, 16, 16) and y.shape == (4, 1)


def test_missing_file_missing_seed_and_wrong_shape(tmp_path, gr_files):
    with pytest.raises(UserError, match="no such file"):
        data.WholeCubeDataset(tmp_path / "nope.h5", [0])
    with pytest.raises(UserError, match="no dataset 'gr_seed0008'.*seeds 0..5"):
        data.WholeCubeDataset(gr_files["std"], [8, 9])
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["gr_seed0000"] = np.zeros((1, 8, 8, 4), np.float32)
        f["newton_seed0000"] = np.zeros((1, 8, 8, 4), np.float32)
    with pytest.raises(UserError, match=r"shape \(1, 8, 8, 4\), expected a cube"):
        data.WholeCubeDataset(bad, [0])
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="not a readable HDF5"):
        data.WholeCubeDataset2(junk, [0])
    with pytest.raises(UserError, match="loader 'Other'"):
        data.make_dataset("Other", gr_files["std"], [0])
