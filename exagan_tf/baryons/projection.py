"""Slab maps from particles: the slab geometry, CIC and gas-element deposits, projection.

Maps
----
* The dark matter of a slab is the CIC-projected particle number per pixel divided by the mean
  number per pixel of a slab of that thickness, 1 + delta_2D: the slabs of one axis have mean 1
  together, each slab about 1 (its own large-scale density contrast is kept).
* The pressure map is the line-of-sight integral of the electron pressure, sum_i E_i W_i / A_pix
  [eV cm^-3 Mpc], with W_i the 2D CIC weights convolved with particle i's Gaussian gas
  element (projected, the 3D Gaussian is the 2D one of the same sigma; a particle's element
  stays in its own slab) and A_pix the comoving pixel area; multiply by
  sigma_T / (m_e c^2) (:func:`exagan_tf.baryons.gas.compton_y`) for the thermal SZ Compton-y
  parameter.
* A particle belongs to a slab by its coordinate along the projection axis (half-open ranges), so
  the slabs of one axis conserve the particle number and the painted energy exactly.
* Geometry: each axis of the periodic box is cut into ``n_sheets`` sheets; *thin* slabs are 2
  sheets, *thick* slabs 3 sheets (the original's 100 and 150 Mpc/h from 50 Mpc/h sheets),
  projected along all three axes. A training sample is a thin-slab tile plus a thick-slab tile
  (:mod:`exagan_tf.baryons.data`). The test slabs come from an independent realisation (seed + 1),
  so training and test slabs share no matter at all. ``--train-universes N`` (default 1) adds
  training realisations (seeds seed + 2, seed + 3, ...; the test universe is unchanged): their
  slabs are appended to the training split, so pairs combine tiles across universes too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exagan_tf.errors import UserError

KINDS = ("thin", "thick")
SHEETS_PER_KIND = {"thin": 2, "thick": 3}


def deposit_2d(
    u: np.ndarray, v: np.ndarray, weights: np.ndarray | None, npix: int, box_size: float
) -> np.ndarray:
    """Periodic 2D cloud-in-cell deposit; pixel (i, j) is the node at (i, j) * box_size / npix.

    Returns (npix, npix) float64 whose sum equals the sum of ``weights`` (or the count).
    """
    scale = npix / box_size
    x = np.asarray(u, dtype=np.float64) * scale
    y = np.asarray(v, dtype=np.float64) * scale
    i0 = np.floor(x)
    j0 = np.floor(y)
    fx, fy = x - i0, y - j0
    i0 = i0.astype(np.int64) % npix
    j0 = j0.astype(np.int64) % npix
    i1, j1 = (i0 + 1) % npix, (j0 + 1) % npix
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    idx = np.concatenate([i0 * npix + j0, i0 * npix + j1, i1 * npix + j0, i1 * npix + j1])
    wts = np.concatenate(
        [w * (1 - fx) * (1 - fy), w * (1 - fx) * fy, w * fx * (1 - fy), w * fx * fy]
    )
    return np.bincount(idx, weights=wts, minlength=npix * npix).reshape(npix, npix)


def smoothed_deposit_2d(
    u: np.ndarray, v: np.ndarray, weights: Sequence[np.ndarray], smoothing: np.ndarray,
    npix: int, box_size: float,
) -> list[np.ndarray]:
    """Periodic 2D deposit of gas elements: each particle's weight spread by a Gaussian of its
    own ``smoothing`` sigma [Mpc/h] (after the CIC assignment), for each array in ``weights``.

    Particles are grouped by smoothing length rounded to 1/8 of an octave (9% steps); each
    group is deposited with :func:`deposit_2d` and convolved with its Gaussian (periodic,
    normalised, truncated at 4 sigma), so every map keeps its weights' sum and is >= 0.
    """
    import scipy.ndimage

    pixel = box_size / npix
    level = np.round(8.0 * np.log2(np.maximum(np.asarray(smoothing, np.float64), 1e-6)))
    out = [np.zeros((npix, npix)) for _ in weights]
    for lev in np.unique(level):
        sel = level == lev
        sigma = 2.0 ** (lev / 8.0) / pixel
        for acc, w in zip(out, weights):
            m = deposit_2d(u[sel], v[sel], np.asarray(w)[sel], npix, box_size)
            if sigma >= 0.05:
                m = scipy.ndimage.gaussian_filter(m, sigma, mode="wrap", truncate=4.0)
            acc += m
    return out


def slab_layout(n_sheets: int) -> dict[str, list[tuple[int, int, int]]]:
    """Slabs ``(axis, first_sheet, n_sheets)`` per kind for ``n_sheets`` sheets per axis.

    Thin slabs are 2 consecutive sheets, thick slabs 3, each kind tiling every axis without
    overlap (``n_sheets // 2`` thin and ``n_sheets // 3`` thick slabs per axis).
    """
    if n_sheets < 3:
        raise UserError(f"--sheets={n_sheets}: need at least 3 sheets per axis for a thick slab")
    layout = {}
    for kind, width in SHEETS_PER_KIND.items():
        layout[kind] = [
            (axis, first, width) for axis in range(3) for first in range(0, n_sheets - width + 1,
                                                                          width)
        ]
    return layout


def project_slab(
    pos: np.ndarray,
    weights: Sequence[np.ndarray | None],
    axis: int,
    lo: float,
    hi: float,
    npix: int,
    box_size: float,
    smoothing: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Maps of the particles with ``lo <= pos[axis] < hi`` for each weight (None = count).

    Counts are plain CIC; weights are CIC, or gas elements of per-particle Gaussian size when
    ``smoothing`` (n,) [Mpc/h] is given (:func:`smoothed_deposit_2d`). The map's rows and
    columns are the two other axes in increasing order.
    """
    inside = (pos[axis] >= lo) & (pos[axis] < hi)
    u_axis, v_axis = (a for a in range(3) if a != axis)
    u, v = pos[u_axis, inside], pos[v_axis, inside]
    out = [None if w is None else np.asarray(w)[inside] for w in weights]
    if smoothing is not None:
        given = [w for w in out if w is not None]
        smoothed = iter(smoothed_deposit_2d(u, v, given, np.asarray(smoothing)[inside], npix,
                                            box_size))
        return [deposit_2d(u, v, None, npix, box_size) if w is None else next(smoothed)
                for w in out]
    return [deposit_2d(u, v, w, npix, box_size) for w in out]

