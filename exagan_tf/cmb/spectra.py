"""Flat-sky angular power spectra in multipole bands (NumPy; the TensorFlow loss is in losses.py).

Normalisation (the one of :mod:`exagan_tf.cmb.simulate` and of
:func:`exagan_tf.core.stats.cross_power_spectrum_2d` with the box in radians): for maps ``a, b``
of ``N^2`` pixels of side ``dx`` radians, ``C_ell^ab = <Re(A B*)> dx^2 / N^2`` averaged over the
modes of a band, ``A = FFT(a)`` unnormalised. A map multiplied by a window ``w`` (apodisation)
has its spectra divided by ``mean(w^2)``, the usual pseudo-C_ell correction for a slowly varying
window. Bands are ``[lo, hi)`` in multipole; the zero mode is never used.

Figures of merit of a prediction ``X^`` of a map ``X`` (DeepCMB, Caldeira et al. 2019):
cross-correlation coefficient ``r_ell = C^{X^X} / sqrt(C^{X^X^} C^{XX})`` and residual ratio
``C^{(X^-X)(X^-X)} / C^{XX}`` (0 is perfect, 1 is what predicting zero gives), both from spectra
summed over the validation set before dividing.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse

from exagan_tf.cmb.simulate import fourier_grid, interpolate_cl
from exagan_tf.errors import UserError


def default_edges(npix: int, pixel_rad: float, nbins: int = 12) -> np.ndarray:
    """Linear multipole band edges from the fundamental ``2 pi / L`` to the Nyquist ``pi / dx``."""
    fundamental = 2 * np.pi / (npix * pixel_rad)
    return np.linspace(fundamental, np.pi / pixel_rad, nbins + 1)


@functools.lru_cache(maxsize=32)
def _band_matrix(npix: int, pixel_rad: float, edges: tuple[float, ...]):
    """Sparse ``(N (N/2+1), nb)`` map from rfft2 powers to band means, the band centres (mode
    weighted mean ell) and the number of modes per band."""
    _, _, ell, _, _ = fourier_grid(npix, pixel_rad)
    edges_a = np.asarray(edges)
    mult = np.full(ell.shape, 2.0)  # rfft2 columns 1 .. N/2-1 stand for two modes (ell, -ell)
    mult[:, 0] = 1.0
    mult[:, -1] = 1.0
    flat = ell.ravel()
    idx = np.searchsorted(edges_a, flat, side="right") - 1
    keep = (flat > 0) & (idx >= 0) & (idx < edges_a.size - 1)
    nb = edges_a.size - 1
    modes = np.bincount(idx[keep], weights=mult.ravel()[keep], minlength=nb)
    if np.any(modes == 0):
        empty = int(np.argmin(modes > 0))
        raise UserError(
            f"ell band [{edges_a[empty]:.0f}, {edges_a[empty + 1]:.0f}) holds no Fourier mode of "
            f"a {npix}^2 map with {np.rad2deg(pixel_rad) * 60:.2f} arcmin pixels"
        )
    centres = np.bincount(idx[keep], weights=(mult.ravel() * flat)[keep], minlength=nb) / modes
    rows = np.nonzero(keep)[0]
    weights = mult.ravel()[keep] / modes[idx[keep]]
    matrix = scipy.sparse.csr_matrix((weights, (rows, idx[keep])), shape=(flat.size, nb))
    return matrix, centres, modes


def band_info(npix: int, pixel_rad: float, edges) -> tuple[np.ndarray, np.ndarray]:
    """``(centres, modes)`` of the bands: mode-weighted mean ell and number of modes."""
    _, centres, modes = _band_matrix(int(npix), float(pixel_rad), tuple(map(float, edges)))
    return centres, modes


def binned_spectra(a: np.ndarray, b: np.ndarray | None, pixel_rad: float, edges,
                   window: np.ndarray | None = None) -> np.ndarray:
    """Band-averaged (cross) spectra ``C_ell^ab`` of map stacks ``(n, N, N)`` -> ``(n, nb)``.

    Args:
        a, b: maps (b None for the auto spectrum of a).
        pixel_rad: pixel side in radians.
        edges: multipole band edges.
        window: optional ``(N, N)`` window multiplied into both maps first; spectra are divided
            by ``mean(window^2)``.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    b = a if b is None else np.asarray(b, dtype=np.float64).reshape(a.shape)
    n, npix = a.shape[0], a.shape[-1]
    matrix, _, _ = _band_matrix(int(npix), float(pixel_rad), tuple(map(float, edges)))
    norm = pixel_rad**2 / float(npix) ** 2
    if window is not None:
        norm /= float(np.mean(np.square(window)))
        a = a * window
        b = b * window if b is not a else a
    fa = np.fft.rfft2(a)
    fb = fa if b is a else np.fft.rfft2(b)
    p = fa.real * fb.real + fa.imag * fb.imag
    return norm * (p.reshape(n, -1) @ matrix)


def binned_theory(cl: np.ndarray, npix: int, pixel_rad: float, edges) -> np.ndarray:
    """The band average of a theory C_ell over exactly the modes :func:`binned_spectra` uses."""
    matrix, _, _ = _band_matrix(int(npix), float(pixel_rad), tuple(map(float, edges)))
    _, _, ell, _, _ = fourier_grid(int(npix), float(pixel_rad))
    return interpolate_cl(np.asarray(cl), ell).ravel() @ matrix


def prediction_metrics(pred: np.ndarray, truth: np.ndarray, pixel_rad: float, edges,
                       window: np.ndarray | None = None, norm: float = 1.0) -> dict:
    """Spectra and figures of merit of predictions against truth, summed over the set.

    Args:
        pred, truth: ``(n, N, N)`` maps in the same units.
        window: window to multiply in first (for maps that are not apodised yet).
        norm: divisor of every spectrum (``mean(w^2)`` for maps already apodised by ``w``);
            r and the residual ratio do not depend on it.

    Returns:
        dict of ``(nb,)`` arrays: ``cl_pred``, ``cl_truth``, ``cl_cross``, ``cl_residual`` (set
        means), ``r`` (cross-correlation coefficient) and ``residual_ratio``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise UserError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    cpp = binned_spectra(pred, None, pixel_rad, edges, window).mean(0) / norm
    ctt = binned_spectra(truth, None, pixel_rad, edges, window).mean(0) / norm
    cpt = binned_spectra(pred, truth, pixel_rad, edges, window).mean(0) / norm
    crr = binned_spectra(pred - truth, None, pixel_rad, edges, window).mean(0) / norm
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(cpp > 0, cpt / np.sqrt(cpp * ctt), 0.0)
        ratio = crr / ctt
    return {"cl_pred": cpp, "cl_truth": ctt, "cl_cross": cpt, "cl_residual": crr,
            "r": r, "residual_ratio": ratio}
