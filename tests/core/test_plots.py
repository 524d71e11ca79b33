"""Tests of exagan_tf.core.plots: figures build without pyplot, show the logged numbers, and
render to PNG bytes, arrays and files."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from exagan_tf.core import plots, stats
from exagan_tf.errors import UserError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    val = rng.lognormal(size=(12, 32, 32))
    gen = rng.lognormal(mean=0.1, size=(8, 32, 32))
    return val, gen


def test_image_grid_scales_and_png(pair):
    val, _ = pair
    rng = np.random.default_rng(1)
    transformed = np.tanh(rng.normal(size=(6, 16, 16)))
    for fig in (
        plots.image_grid(transformed, ncols=3, title="samples"),
        plots.image_grid(val[:5, ..., None], scale="pwr"),  # channels_last accepted
        plots.image_grid(val, scale="log", ncols=4),
    ):
        assert isinstance(fig, Figure)
        assert plots.figure_to_png(fig).startswith(PNG_MAGIC)
    fig = plots.image_grid(transformed, ncols=3)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 16, 3 * 16)
    np.testing.assert_allclose(mosaic[16:32, 16:32], transformed[4])
    norm = fig.axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (-1.0, 1.0)  # transformed values: the original's range
    with pytest.raises(UserError, match="scale"):
        plots.image_grid(transformed, scale="sqrt")


def test_histogram_figure_shows_the_compared_counts(pair):
    val, gen = pair
    fig = plots.pixel_histogram_figure(val, gen)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    edges, vh = stats.pixel_histogram(val)
    _, gh = stats.pixel_histogram(gen, bins=edges)
    val_line, gen_line = ax.lines[0], ax.lines[-1]
    np.testing.assert_array_equal(val_line.get_ydata(), vh)
    np.testing.assert_allclose(gen_line.get_ydata(), gh * val.size / gen.size)
    assert plots.figure_to_png(fig).startswith(PNG_MAGIC)


def test_power_spectrum_figure_shows_set_means(pair):
    val, gen = pair
    fig = plots.power_spectrum_figure(val, gen)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    mu = val.mean()
    k, pv = stats.power_spectrum_2d(val, mean=mu)
    _, pg = stats.power_spectrum_2d(gen, mean=mu)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), k)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), pv.mean(axis=0))
    np.testing.assert_allclose(ax.lines[1].get_ydata(), pg.mean(axis=0))
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), pg.mean(0) / pv.mean(0))
    single = plots.power_spectrum_figure(val, gen, ratio_panel=False)
    assert len(single.axes) == 1


def test_figure_to_array_shape_and_dtype():
    fig = Figure(figsize=(3, 2), dpi=50)  # no canvas attached: one is made
    fig.add_subplot().plot([0, 1], [1, 0])
    rgba = plots.figure_to_array(fig)
    assert rgba.shape == (100, 150, 4) and rgba.dtype == np.uint8
    assert rgba[..., 3].min() == 255 and rgba[..., :3].min() < 100  # opaque, with a dark line
    rgb = plots.figure_to_array(fig, rgb=True)
    assert rgb.shape == (100, 150, 3)
    np.testing.assert_array_equal(rgb, rgba[..., :3])


def test_save_figure_atomic_no_silent_overwrite(tmp_path, pair):
    val, gen = pair
    fig = plots.pixel_histogram_figure(val, gen)
    out = plots.save_figure(fig, tmp_path / "sub" / "hist.png")
    assert out.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(UserError, match="exists"):
        plots.save_figure(fig, out)
    plots.save_figure(fig, out, overwrite=True)
    assert plots.save_figure(fig, tmp_path / "hist.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(UserError, match="format"):
        plots.save_figure(fig, tmp_path / "hist.xyz")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hist.pdf", "hist.png", "sub"]


def test_no_pyplot_figures_are_left_open(pair):
    val, gen = pair
    plots.power_spectrum_figure(val, gen)
    plots.image_grid(val)
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
