"""Grids and Fourier helpers of the particle-mesh code: wavenumbers, the inverse Laplacian and the
FFT options (scipy.fft with ``workers`` threads).
"""

from __future__ import annotations

import functools

import numpy as np


def _wavenumbers(n: int, box_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable kx, ky, kz (h/Mpc) for an rfftn of an n^3 grid; float32."""
    kf = 2.0 * np.pi / box_size
    kxy = (np.fft.fftfreq(n, d=1.0 / n) * kf).astype(np.float32)
    kz = (np.fft.rfftfreq(n, d=1.0 / n) * kf).astype(np.float32)
    return kxy[:, None, None], kxy[None, :, None], kz[None, None, :]


def _gradient_wavenumbers(n: int, box_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`_wavenumbers` with the Nyquist entries zeroed: an odd derivative of a real field
    has no real-valued Nyquist component, so dropping it keeps the gradient real and unbiased."""
    kx, ky, kz = (k.copy() for k in _wavenumbers(n, box_size))
    if n % 2 == 0:
        kx[n // 2] = 0.0
        ky[:, n // 2] = 0.0
        kz[..., n // 2] = 0.0
    return kx, ky, kz


@functools.lru_cache(maxsize=8)
def _inverse_k2(n: int, box_size: float) -> np.ndarray:
    """1 / k^2 (float32, (Mpc/h)^2) on the rfftn grid of an n^3 mesh, 0 at k = 0 (cached)."""
    kx, ky, kz = _wavenumbers(n, box_size)
    k2 = kx * kx + ky * ky + kz * kz
    k2[0, 0, 0] = 1.0
    out = np.float32(1.0) / k2
    out[0, 0, 0] = 0.0
    out.setflags(write=False)
    return out


def _inverse_laplacian(field_k: np.ndarray, n: int, box_size: float) -> np.ndarray:
    """Return -field_k / k^2 (the Fourier solution of nabla^2 phi = field), zero mode set to 0."""
    out = field_k * _inverse_k2(n, box_size)
    np.negative(out, out=out)
    return out


def _fft_kwargs(threads: int) -> dict:
    return {"workers": max(1, int(threads))}
