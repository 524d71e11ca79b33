"""Tiles, two-tile combinations and batches."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.baryons import data as bdata
from exagan_tf.baryons.simulate import read_stats
from exagan_tf.baryons.transforms import Transform
from exagan_tf.errors import UserError


def test_original_combination_counts():
    # 11 slabs x 16 tiles of each thickness, 11 redshifts (seed 000)
    counts = bdata.combination_counts(176, 176, 11)
    assert counts == {"total": 340736, "independent": 1936}


def test_tiles_cut_and_reassemble():
    maps = np.arange(2 * 8 * 8, dtype=float).reshape(2, 8, 8)
    tiles = bdata.tile_maps(maps, 4)
    assert tiles.shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(tiles[1, 1], maps[1, :4, 4:])
    np.testing.assert_array_equal(tiles[0, 2], maps[0, 4:, :4])
    with pytest.raises(UserError, match="does not divide"):
        bdata.tile_maps(maps, 3)


def test_tileset_counts_and_independent_pairs(tiny_data):
    tiles = bdata.load_tiles(tiny_data, "train", 32)
    assert tiles.thin["dm"].shape == (3, 9, 32, 32)
    assert tiles.counts() == {"total": 3 * 9 * 6, "independent": 3 * 6}
    pairs = bdata.independent_pairs(9, 6, seed=1)
    assert pairs.shape == (6, 2)
    assert len(set(pairs[:, 0])) == 6 and len(set(pairs[:, 1])) == 6
    f = bdata.pair_fields(tiles, 0, pairs)
    np.testing.assert_allclose(f["dm"], tiles.thin["dm"][0, pairs[:, 0]]
                               + tiles.thick["dm"][0, pairs[:, 1]].astype(float))


def test_dihedral_symmetries_are_distinct_and_preserve_pixels():
    img = np.arange(9.0).reshape(1, 3, 3)
    outs = [bdata.dihedral(img, np.array([k]))[0] for k in range(8)]
    assert len({o.tobytes() for o in outs}) == 8
    assert all(sorted(o.ravel()) == sorted(img.ravel()) for o in outs)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_batches_are_transformed_two_tile_sums(tiny_data, fmt):
    tiles = bdata.load_tiles(tiny_data, "train", 32)
    t = Transform.from_stats(read_stats(tiny_data), "cgan")
    cond, target = next(bdata.batches(tiles, t, 5, seed=0, augment=False, data_format=fmt))
    ch = 1 if fmt == "channels_first" else -1
    assert cond.shape[ch] == 2 and target.shape[ch] == 1 and cond.shape[0] == 5
    z_chan = np.take(cond, 1, axis=ch)
    z = z_chan[:, 0, 0] + 1.0  # f(z) = z - 1
    assert np.all(np.isin(np.round(z, 5), [0.0, 1.0, 2.0]))
    np.testing.assert_allclose(z_chan, z_chan[:, :1, :1] * np.ones_like(z_chan))
    # invert the transform: the dark matter is a sum of a thin and a thick tile (mean 2)
    dm = t.inverse_dm(np.take(cond, 0, axis=ch), z)
    sums = (tiles.thin["dm"][:, :, None].astype(float) + tiles.thick["dm"][:, None]).sum((3, 4))
    for d in dm:  # every sample's total mass is that of some thin + thick pair
        assert np.min(np.abs(sums - d.sum()) / d.sum()) < 1e-4
    p = t.inverse_pressure(np.take(target, 0, axis=ch), z)
    assert np.all(p >= -1e-6)


def test_vae_order_and_dataset(tiny_data):
    tiles = bdata.load_tiles(tiny_data, "train", 32)
    t = Transform.from_stats(read_stats(tiny_data), "cvae")
    ds = bdata.make_dataset(tiles, t, 3, seed=1, target_first=True)
    x, y = next(iter(ds))
    assert tuple(x.shape) == (3, 32, 32, 1) and tuple(y.shape) == (3, 32, 32, 2)
    assert float(np.min(x)) >= 0.0  # T(pressure) >= 0 for the CVAE
