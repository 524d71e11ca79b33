"""Matplotlib figures of images, pixel histograms and power spectra, as objects and PNG bytes.

Figures are built as :class:`matplotlib.figure.Figure` objects with their own Agg canvas; pyplot
and its global state are never touched, so this is safe in training callbacks, threads and
headless jobs. Turn a figure into PNG bytes (:func:`figure_to_png`), an RGBA array for a
TensorBoard image summary (:func:`figure_to_array`) or a file (:func:`save_figure`, atomic).

The histogram and spectrum figures take images in counts space (validation data as stored,
generated images after the inverse transform) and use the statistics of
:mod:`exagan_tf.core.stats`, so a figure always shows the numbers that are logged.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from exagan_tf.core import stats
from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path

_VAL_COLOUR = "black"
_GEN_COLOUR = "tab:red"
_LOG_FLOOR = 0.05  # lower edge of a mean - std band that would be <= 0, as a fraction of the mean


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig


def image_grid(
    images: ArrayLike,
    ncols: int = 4,
    title: str = "Generated images",
    *,
    scale: str = "lin",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "Blues",
    max_images: int = 64,
) -> Figure:
    """A mosaic of images with thin separating lines and one colour bar, as the original draws.

    Args:
        images: ``(n, H, W)`` (or with a singleton channel axis); at most ``max_images`` shown.
        ncols: images per row.
        title: figure title.
        scale: colour scale.
            ``"lin"``: linear; the default range is [-1, 1] when all values lie in it (the
            generator's transformed output, the original's default view) else the data range.
            ``"pwr"``: power-law stretch (gamma 0.2) for counts, default range [0, 2000], the
            original's ``cscale: pwr``.
            ``"log"``: ``log10(1 + x)`` of counts (x >= 0), linear colour map.
        vmin, vmax: override the colour range (in the units of ``images``).
        cmap: matplotlib colour map name.
    """
    x = stats.as_image_batch(images)[:max_images].astype(np.float64)
    n, h, w = x.shape
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    if scale == "log":
        x = np.log10(1.0 + np.clip(x, 0.0, None))
    mosaic = np.full((nrows * h, ncols * w), np.nan)
    for i in range(n):  # at most max_images small copies
        r, c = divmod(i, ncols)
        mosaic[r * h : (r + 1) * h, c * w : (c + 1) * w] = x[i]
    finite = mosaic[np.isfinite(mosaic)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if scale == "lin":
        in_unit = lo >= -1.0 and hi <= 1.0
        norm = Normalize(
            vmin=(-1.0 if in_unit else lo) if vmin is None else vmin,
            vmax=(1.0 if in_unit else hi) if vmax is None else vmax,
        )
        label = "pixel value"
    elif scale == "pwr":
        norm = PowerNorm(
            gamma=0.2, vmin=0.0 if vmin is None else vmin, vmax=2000.0 if vmax is None else vmax
        )
        label = "counts (power-law stretch, gamma 0.2)"
    elif scale == "log":
        norm = Normalize(
            vmin=lo if vmin is None else math.log10(1 + max(vmin, 0.0)),
            vmax=hi if vmax is None else math.log10(1 + max(vmax, 0.0)),
        )
        label = r"$\log_{10}(1 + \mathrm{counts})$"
    else:
        raise UserError(f"scale: {scale!r} is not one of 'lin', 'pwr', 'log'")

    fig = _new_figure((1.6 * ncols + 1.2, 1.6 * nrows + 0.6))
    ax = fig.add_subplot()
    im = ax.imshow(mosaic, cmap=cmap, norm=norm, interpolation="nearest", origin="lower")
    for c in range(1, ncols):
        ax.axvline(c * w - 0.5, color="k", linewidth=0.6)
    for r in range(1, nrows):
        ax.axhline(r * h - 0.5, color="k", linewidth=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=label, shrink=0.9)
    return fig


def pixel_histogram_figure(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    *,
    bins: int = stats.ORIGINAL_HIST_BINS,
    title: str = "Pixel intensity histogram",
) -> Figure:
    """Validation vs generated pixel-value histograms, as the original plots them.

    Counts-space images; ``bins`` equal-width bins over the validation range; Poisson error bars
    ``sqrt(counts)``; log y axis. The generated counts (and errors) are scaled to the
    validation set's number of pixels, which changes nothing for equal-sized sets, so the
    curves are the ones :func:`exagan_tf.core.stats.chisq_hist` compares.
    """
    v = stats.as_image_batch(val_images, "val_images")
    g = stats.as_image_batch(gen_images, "gen_images")
    edges, vh = stats.pixel_histogram(v, bins=bins)
    _, gh = stats.pixel_histogram(g, bins=edges)
    ratio = v.size / g.size
    centres = 0.5 * (edges[:-1] + edges[1:])
    fig = _new_figure((6.0, 4.5))
    ax = fig.add_subplot()
    ax.errorbar(centres, vh, yerr=np.sqrt(vh), fmt="o-", color=_VAL_COLOUR, label="validation")
    ax.errorbar(
        centres,
        gh * ratio,
        yerr=np.sqrt(gh) * ratio,
        fmt="o-",
        color=_GEN_COLOUR,
        label="generated" if ratio == 1 else f"generated (x {ratio:.3g})",
    )
    ax.set_yscale("log")
    ax.set_xlabel("Pixel value (counts)")
    ax.set_ylabel("Counts")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


def _lower(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.where(mean - std > 0, mean - std, _LOG_FLOOR * mean)


def power_spectrum_figure(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    *,
    mean: float | None = None,
    title: str = "Power spectrum",
    ratio_panel: bool = True,
) -> Figure:
    """Mean +- standard deviation of P(k) over the validation and generated sets, log-log.

    Spectra from :func:`exagan_tf.core.stats.power_spectrum_2d` (the original's definition) with
    one ``mu`` for both sets: the validation mean pixel value unless ``mean`` is given. With
    ``ratio_panel`` a lower panel shows ``mean_gen / mean_val`` with the validation scatter
    ``1 +- std_val / mean_val`` for scale. Where ``mean - std <= 0`` the band's lower edge is
    drawn at 5% of the mean (a log axis cannot show it).
    """
    v = stats.as_image_batch(val_images, "val_images")
    mu = float(np.mean(v, dtype=np.float64)) if mean is None else float(mean)
    k, pv = stats.power_spectrum_2d(v, mean=mu)
    _, pg = stats.power_spectrum_2d(gen_images, mean=mu)
    vm, vs = pv.mean(axis=0), pv.std(axis=0)
    gm, gs = pg.mean(axis=0), pg.std(axis=0)

    fig = _new_figure((6.0, 6.0 if ratio_panel else 4.5))
    if ratio_panel:
        ax, rax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    else:
        ax, rax = fig.add_subplot(), None
    # On a log axis mean - std <= 0 cannot be drawn; such lower edges are clipped.
    ax.fill_between(k, _lower(vm, vs), vm + vs, color=_VAL_COLOUR, alpha=0.2, linewidth=0)
    ax.plot(k, vm, "-", color=_VAL_COLOUR, label=f"validation ({pv.shape[0]})")
    ax.fill_between(k, _lower(gm, gs), gm + gs, color=_GEN_COLOUR, alpha=0.3, linewidth=0)
    ax.plot(k, gm, "--", color=_GEN_COLOUR, label=f"generated ({pg.shape[0]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel(r"$P(k)$ of $(x-\mu)/\mu$")
    ax.set_title(title)
    ax.legend(loc="lower left")
    if rax is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = vs / vm
            rax.fill_between(k, 1 - rel, 1 + rel, color=_VAL_COLOUR, alpha=0.2, linewidth=0)
            rax.plot(k, gm / vm, "--", color=_GEN_COLOUR)
        rax.axhline(1.0, color=_VAL_COLOUR, linewidth=0.8)
        rax.set_ylabel("gen / val")
        rax.set_xlabel(r"$k$ [$2\pi/L$, L = image side]")
    else:
        ax.set_xlabel(r"$k$ [$2\pi/L$, L = image side]")
    return fig


def figure_to_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Render ``fig`` to PNG bytes (``dpi`` defaults to the figure's own)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_to_array(fig: Figure, *, rgb: bool = False) -> np.ndarray:
    """Render ``fig`` to a ``uint8`` array ``(H, W, 4)`` RGBA (``(H, W, 3)`` with ``rgb``).

    For TensorBoard: ``tf.summary.image(name, array[None], step)``.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    arr = np.array(canvas.buffer_rgba(), dtype=np.uint8)  # a copy that outlives the canvas
    return arr[..., :3].copy() if rgb else arr


def save_figure(
    fig: Figure, path: str | os.PathLike, *, overwrite: bool = False, dpi: float = 150
) -> Path:
    """Write ``fig`` to ``path`` atomically; the format follows the suffix (png, pdf, svg, ...).

    An existing file is an error unless ``overwrite`` is True. Returns the path written.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if not path.suffix:
        path = path.with_suffix(".png")
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if fmt not in supported:
        raise UserError(
            f"{path}: figure format {fmt!r} is not supported; use one of {sorted(supported)}"
        )
    with atomic_path(path, overwrite=overwrite) as tmp:
        # the temporary name ends in .tmp, so the format must be given explicitly
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
