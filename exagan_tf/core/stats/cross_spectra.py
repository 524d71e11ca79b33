"""General (cross) power spectra and the cross-correlation coefficient r(k) of 2-D fields.

Used by the other systems (baryon tiles, CMB maps, GR density fields): annuli around the true
zero frequency (unlike the original ExaGAN binning), the continuous Fourier-transform
normalisation ``P = (Lx Ly) / (Nx Ny)**2 Re(A B*)``, and physical wavenumbers when a box size is
given. The ``rfft2`` half plane is binned by one cached sparse matrix per geometry, each stored
column weighted by the number of modes it stands for, so a stack costs one FFT per chunk of
images and one sparse product.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike

from exagan_tf.core.stats.batch import _chunks, _rfft2, as_image_batch
from exagan_tf.errors import UserError


def _box_lengths(box_size, h: int, w: int) -> tuple[float, float]:
    if box_size is None:
        return float(h), float(w)
    size = np.atleast_1d(np.asarray(box_size, dtype=np.float64))
    if size.size == 1:
        size = np.repeat(size, 2)
    if size.size != 2 or not np.all(np.isfinite(size)) or np.any(size <= 0):
        raise UserError(f"box_size: {box_size!r} is not a positive length or (Ly, Lx) pair")
    return float(size[0]), float(size[1])


@functools.lru_cache(maxsize=16)
def _radial_binning(
    h: int, w: int, ly: float, lx: float, physical: bool, nbins: int | None, log_bins: bool
) -> tuple[np.ndarray, scipy.sparse.csr_matrix, np.ndarray]:
    """Bin centres, the rfft2 -> bin-mean sparse matrix and the number of modes per bin."""
    ky = 2 * np.pi * np.fft.fftfreq(h, d=ly / h)
    kx = 2 * np.pi * np.fft.rfftfreq(w, d=lx / w)
    kmag = np.hypot(ky[:, None], kx[None, :])
    if not physical:
        kmag = kmag / (2 * np.pi / max(ly, lx))
    unit = 1.0 if not physical else 2 * np.pi / max(ly, lx)  # fundamental of the longer side
    # rfft2 stores columns 1 .. ceil(w/2)-1 once for two modes (k and -k); column 0 and, for
    # even w, the Nyquist column stand for themselves.
    mult = np.full(kx.shape, 2.0)
    mult[0] = 1.0
    if w % 2 == 0:
        mult[-1] = 1.0
    mult = np.broadcast_to(mult[None, :], kmag.shape)
    kmax = min(np.pi * h / ly, np.pi * w / lx)
    if not physical:
        kmax = kmax / (2 * np.pi / max(ly, lx))
    if nbins is None and not log_bins:
        # integer annuli k in [i - 1/2, i + 1/2) of the fundamental, i = 1 .. up to Nyquist
        nb = max(1, int(np.floor(kmax / unit + 0.5)))
        edges = (np.arange(nb + 1) + 0.5) * unit
    else:
        nb = 32 if nbins is None else int(nbins)
        if nb < 1:
            raise UserError(f"nbins: {nbins} must be a positive number of bins")
        kmin = kmag[kmag > 0].min()
        if log_bins:
            edges = np.geomspace(kmin * (1 - 1e-9), kmax, nb + 1)
        else:
            edges = np.linspace(0.0, kmax, nb + 1)
        edges[-1] *= 1 + 1e-12  # the Nyquist mode itself belongs to the last bin
    flat_k = kmag.ravel()
    idx = np.searchsorted(edges, flat_k, side="right") - 1
    keep = (flat_k > 0) & (idx >= 0) & (idx < nb)  # k = 0 (the mean) is never binned
    modes = np.bincount(idx[keep], weights=mult.ravel()[keep], minlength=nb)
    ksum = np.bincount(idx[keep], weights=(mult.ravel() * flat_k)[keep], minlength=nb)
    nonempty = modes > 0
    remap = np.cumsum(nonempty) - 1
    rows = np.nonzero(keep)[0]
    cols = remap[idx[keep]]
    weights = mult.ravel()[keep] / modes[idx[keep]]
    matrix = scipy.sparse.csr_matrix(
        (weights, (rows, cols)), shape=(flat_k.size, int(nonempty.sum()))
    )
    return ksum[nonempty] / modes[nonempty], matrix, modes[nonempty]


def _binned_spectra(a, b, box_size, nbins, log_bins, want=("ab",)):
    """Shared work of the general spectra: {'aa','bb','ab'} -> (n, nk) arrays and k."""
    xa = as_image_batch(a, "a")
    xb = xa if b is None or b is a else as_image_batch(b, "b")
    if xb.shape != xa.shape:
        raise UserError(f"b: shape {xb.shape} differs from a's shape {xa.shape}")
    n, h, w = xa.shape
    ly, lx = _box_lengths(box_size, h, w)
    k, matrix, _ = _radial_binning(
        h, w, ly, lx, box_size is not None, None if nbins is None else int(nbins), bool(log_bins)
    )
    # Continuous-FT normalisation: P = (Lx Ly) / (Nx Ny)**2 |FFT|**2, so a white field of pixel
    # variance s2 has P = s2 * (pixel area); without box_size lengths are in pixels (P = s2).
    norm = (ly * lx) / float(h * w) ** 2
    out = {key: np.empty((n, k.size)) for key in want}
    for sl in _chunks(n):
        fa = _rfft2(np.asarray(xa[sl], dtype=np.float64))
        fb = fa if xb is xa else _rfft2(np.asarray(xb[sl], dtype=np.float64))
        m = fa.shape[0]
        for key in want:
            if key == "aa" or (key == "ab" and fb is fa):
                p = np.square(fa.real) + np.square(fa.imag)
            elif key == "bb":
                p = np.square(fb.real) + np.square(fb.imag)
            else:
                p = fa.real * fb.real + fa.imag * fb.imag  # Re(A conj(B))
            out[key][sl] = norm * (p.reshape(m, -1) @ matrix)
    return k, out


def cross_power_spectrum_2d(
    a: ArrayLike,
    b: ArrayLike | None = None,
    *,
    box_size: float | tuple[float, float] | None = None,
    nbins: int | None = None,
    log_bins: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged (cross) power spectrum of 2-D fields, batched.

    ``P_ab(k) = <Re(A(k) B*(k))>`` over annuli around the zero frequency, with the continuous
    Fourier-transform normalisation ``P = (Lx Ly) / (Nx Ny)**2 Re(A B*)`` (A, B the unnormalised
    numpy FFTs). A white field of pixel variance s2 thus has the flat spectrum
    ``P = s2 * Lx Ly / (Nx Ny)``, the flat-sky C_ell convention when the box is in radians. The
    fields are transformed as given: subtract a mean or form an overdensity beforehand. The
    k = 0 mode is never binned; annuli beyond the smaller Nyquist frequency (the corners) are
    left out.

    Args:
        a: ``(n, H, W)`` or ``(H, W)`` real fields.
        b: fields of the same shape, or None (or ``a`` itself) for the auto spectrum.
        box_size: side length L (or ``(Ly, Lx)``) in physical units, e.g. Mpc/h or radians. When
            given, ``k = 2 pi |n| / L`` in inverse units of L (h/Mpc, or multipole ell for
            radians) and P has units of L**2. When None, lengths are in pixels and k is in units
            of the fundamental frequency ``2 pi / max(H, W)`` (k = |n| for square fields).
        nbins: number of bins; None gives annuli of width one fundamental frequency centred on
            its integer multiples 1, 2, ... up to Nyquist (or 32 bins when ``log_bins``).
        log_bins: logarithmically spaced bins from the lowest nonzero k to Nyquist.

    Returns:
        ``(k, pk)``: ``k`` ``(nk,)`` the mode-weighted mean |k| of each non-empty bin and ``pk``
        ``(n, nk)`` (or ``(1, nk)`` for a single field).
    """
    k, out = _binned_spectra(a, b, box_size, nbins, log_bins, want=("ab",))
    return k, out["ab"]


def cross_correlation_coefficient(
    a: ArrayLike,
    b: ArrayLike,
    *,
    box_size: float | tuple[float, float] | None = None,
    nbins: int | None = None,
    log_bins: bool = False,
    average: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation coefficient ``r(k) = P_ab / sqrt(P_aa P_bb)`` of paired fields.

    Binning and k units as in :func:`cross_power_spectrum_2d`. ``r = 1`` for identical (or
    proportional) fields, about 0 for independent ones.

    Args:
        a, b: paired fields, same shape ``(n, H, W)`` or ``(H, W)``.
        average: if True return one curve ``<P_ab> / sqrt(<P_aa> <P_bb>)`` from the spectra
            averaged over the stack (the less noisy estimator), shape ``(nk,)``; otherwise one
            curve per pair, ``(n, nk)``.

    Returns:
        ``(k, r)``.
    """
    k, out = _binned_spectra(a, b, box_size, nbins, log_bins, want=("aa", "bb", "ab"))
    paa, pbb, pab = out["aa"], out["bb"], out["ab"]
    if average:
        paa, pbb, pab = paa.mean(axis=0), pbb.mean(axis=0), pab.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return k, pab / np.sqrt(paa * pbb)
