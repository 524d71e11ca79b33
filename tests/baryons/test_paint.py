"""Painting: seamless maps larger than a tile, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from exagan_tf.baryons import paint
from exagan_tf.baryons.transforms import Transform
from exagan_tf.core import stats
from exagan_tf.errors import UserError


def _painter(tiles):
    # a convolutional "painter" with zero padding: wrong near tile edges, like a CNN
    return np.stack([gaussian_filter(t, 2.0, mode="constant") ** 1.5 for t in tiles])


def _map(n=128, seed=0):
    rng = np.random.default_rng(seed)
    return np.exp(gaussian_filter(rng.normal(size=(n, n)), 3.0, mode="wrap") * 3.0)


def test_taper_is_a_partition_of_unity_at_half_overlap():
    w = np.sin(np.pi * (np.arange(32) + 0.5) / 32) ** 2
    np.testing.assert_allclose(w[16:] + w[:16], 1.0)
    assert paint.taper(32).min() > 0


def test_blended_painting_has_no_seams_in_the_power_spectrum():
    dm = _map()
    whole = gaussian_filter(dm, 2.0, mode="constant") ** 1.5  # painted in one go
    blended = paint.paint_map(_painter, dm, 32)
    hard = paint.paint_map(_painter, dm, 32, overlap=0)
    inner = np.s_[16:-16, 16:-16]  # the map's own outer edge is an edge for both
    err_blend = np.abs(blended - whole)[inner].max() / whole.std()
    err_hard = np.abs(hard - whole)[inner].max() / whole.std()
    assert err_blend < 0.15 and err_hard > 2.0  # measured 0.11 and 4.1
    k, p_whole = stats.cross_power_spectrum_2d(whole[inner], box_size=96.0)
    _, p_blend = stats.cross_power_spectrum_2d(blended[inner], box_size=96.0)
    _, p_hard = stats.cross_power_spectrum_2d(hard[inner], box_size=96.0)
    ratio_blend = p_blend[0] / p_whole[0]
    ratio_hard = p_hard[0] / p_whole[0]
    assert np.max(np.abs(ratio_blend - 1)) < 0.05  # measured 0.039
    assert np.max(np.abs(ratio_hard - 1)) > 1.0  # seams of plain tiling: measured 8.2


def test_map_edges_and_odd_sizes_are_covered():
    dm = _map(80)
    out = paint.paint_map(_painter, dm, 32, overlap=8)
    assert out.shape == (80, 80) and np.all(np.isfinite(out))
    assert paint.tile_origins(80, 32, 24) == [0, 24, 48]


def _transform():
    return Transform((0.0, 1.0, 2.0), (1.0, 0.8, 0.5), (0.3, 0.1, 0.02))


def test_bad_input_gives_clear_errors():
    p = paint.Painter("cgan", {"generator": None}, _transform(), 32)
    with pytest.raises(UserError, match="trained on 32x32 tiles"):
        p.tiles(np.ones((2, 16, 16)), 0.5)
    bad = np.ones((1, 32, 32))
    bad[0, 3, 3] = np.nan
    with pytest.raises(UserError, match="NaN"):
        p.tiles(bad, 0.5)
    with pytest.raises(UserError, match="< 0"):
        p.tiles(-np.ones((1, 32, 32)), 0.5)
    with pytest.raises(UserError, match="outside the trained range"):
        p.tiles(np.ones((1, 32, 32)), 3.0)
    with pytest.raises(UserError, match="smaller than"):
        paint.paint_map(_painter, np.ones((16, 40)), 32)
    with pytest.raises(UserError, match="overlap"):
        paint.paint_map(_painter, np.ones((64, 64)), 32, overlap=32)


def test_cvae_latent_mean_decodes_the_prior_mean_and_sample_draws_around_it():
    import keras
    import tensorflow as tf


    class Prior(keras.Model):  # mean 0.5 whatever the condition, log-variance 0
        def call(self, y, training=False):
            m = tf.ones_like(y[:, :1, :1, :1]) * 0.5
            return m, tf.zeros_like(m)

    class Decoder(keras.Model):  # output = latent everywhere (a constant tile)
        def call(self, inputs, training=False):
            z, y = inputs
            return tf.ones_like(y[..., :1]) * z

    nets = {"prior": Prior(), "decoder": Decoder()}
    t = _transform()
    dm = np.ones((3, 32, 32))
    mean = paint.Painter("cvae", nets, t, 32, latent="mean")
    sample = paint.Painter("cvae", nets, t, 32)
    np.testing.assert_allclose(mean.transformed(dm, 1.0, seed=0), 0.5)
    np.testing.assert_allclose(mean.transformed(dm, 1.0, seed=1), 0.5)
    draws = sample.transformed(dm, 1.0, seed=0)[:, 0, 0]
    eps = np.random.default_rng(0).standard_normal((3, 1, 1, 1))[:, 0, 0, 0]
    np.testing.assert_allclose(draws, 0.5 + eps, rtol=1e-6)
    with pytest.raises(UserError, match="latent 'median'"):
        paint.Painter("cvae", nets, t, 32, latent="median")
