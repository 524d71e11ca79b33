"""Statistics of simulated cubes: density contrast and the binned 3-D power spectrum.
"""

from __future__ import annotations

import numpy as np

from exagan_tf.cosmo.nbody.fourier import _wavenumbers


def density_contrast(counts: np.ndarray) -> np.ndarray:
    """delta = counts / mean - 1 as float64."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts / counts.mean() - 1.0


def power_spectrum_3d(field: np.ndarray, box_size: float, nbins: int | None = None,
                      return_modes: bool = False):
    """Shell-averaged power spectrum of a periodic 3D density contrast (NumPy FFT).

    Args:
        field: (n, n, n) density contrast (use :func:`density_contrast` for counts).
        box_size: side in Mpc/h.
        nbins: linear |k| bins from k_f / 2 to the Nyquist k_f n / 2 (default n // 2, one
            fundamental wide).
        return_modes: also return the number of Fourier modes per bin (both halves of each
            conjugate pair counted, so independent modes are half of it).

    Returns:
        ``(k, P)`` (and ``modes``): mode-averaged |k| in h/Mpc and P in (Mpc/h)^3 per non-empty
        bin, with P = |FFT(delta)|^2 V / n^6 (no window or shot-noise correction).
    """
    field = np.asarray(field, dtype=np.float64)
    n = field.shape[0]
    if field.shape != (n, n, n):
        raise ValueError(f"field shape {field.shape}: expected a cube (n, n, n)")
    nbins = int(nbins or n // 2)
    fk = np.fft.rfftn(field)
    power = (fk.real**2 + fk.imag**2) * box_size**3 / float(n) ** 6
    kx, ky, kz = _wavenumbers(n, box_size)
    kmag = np.sqrt(kx.astype(np.float64) ** 2 + ky**2 + kz**2)
    # rfft keeps half the modes: planes 0 and Nyquist once, the others stand for two.
    weight = np.full(kz.shape[-1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    weight = np.broadcast_to(weight, power.shape)
    kf = 2.0 * np.pi / box_size
    edges = np.linspace(0.5 * kf, 0.5 * n * kf, nbins + 1)
    which = np.digitize(kmag.ravel(), edges) - 1
    inside = (which >= 0) & (which < nbins)
    which, w = which[inside], weight.ravel()[inside]
    modes = np.bincount(which, weights=w, minlength=nbins)
    ksum = np.bincount(which, weights=w * kmag.ravel()[inside], minlength=nbins)
    psum = np.bincount(which, weights=w * power.ravel()[inside], minlength=nbins)
    ok = modes > 0
    out = (ksum[ok] / modes[ok], psum[ok] / modes[ok])
    return (*out, modes[ok]) if return_modes else out
