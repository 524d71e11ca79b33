"""Initial conditions: a Gaussian field on the particle lattice and its second-order Lagrangian
perturbation theory (2LPT) displacements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft

from exagan_tf.cosmo.nbody.fourier import (
    _fft_kwargs,
    _gradient_wavenumbers,
    _inverse_laplacian,
    _wavenumbers,
)


def gaussian_field(npart: int, box_size: float, power: Callable[[np.ndarray], np.ndarray],
                   rng: np.random.Generator, threads: int = 1) -> np.ndarray:
    """Gaussian density contrast on an npart^3 grid with power spectrum ``power(k)``.

    White noise w ~ N(0, 1) per cell is coloured in Fourier space by sqrt(P(k) / V_cell), so the
    estimator ``|FFT(delta)|^2 V_cell / npart^3`` has expectation P(k) (the convention of
    :func:`power_spectrum_3d`). The k = 0 mode is zero.

    Returns:
        float32 array (npart, npart, npart).
    """
    kw = _fft_kwargs(threads)
    white = rng.standard_normal((npart,) * 3, dtype=np.float32)
    white_k = scipy.fft.rfftn(white, **kw)
    del white
    kx, ky, kz = _wavenumbers(npart, box_size)
    kmag = np.sqrt(kx * kx + ky * ky + kz * kz)
    cell_volume = (box_size / npart) ** 3
    amplitude = np.sqrt(power(kmag) / cell_volume).astype(np.float32)
    white_k *= amplitude
    white_k[0, 0, 0] = 0.0
    return scipy.fft.irfftn(white_k, s=(npart,) * 3, **kw).astype(np.float32, copy=False)


def _lpt_potentials(delta: np.ndarray, box_size: float,
                    threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Fourier potentials of first- and second-order Lagrangian perturbation theory.

    Convention (Scoccimarro 1998; Crocce et al. 2006): x = q + D1 psi1 + D2 psi2 with
    psi1 = -grad phi1, nabla^2 phi1 = delta (the z = 0 linear field), and psi2 = grad phi2,
    nabla^2 phi2 = sum_{i>j} (phi1_ii phi1_jj - phi1_ij^2), D2 ~ -3/7 D1^2.

    Returns:
        ``phi1_k, phi2_k``: complex64 rfftn arrays, (Mpc/h)^2.
    """
    n = delta.shape[0]
    kw = _fft_kwargs(threads)
    shape = (n,) * 3
    phi1_k = _inverse_laplacian(scipy.fft.rfftn(delta, **kw), n, box_size)
    ks = _wavenumbers(n, box_size)
    gks = _gradient_wavenumbers(n, box_size)

    def second_derivative(i: int, j: int) -> np.ndarray:
        # phi_ij <-> -k_i k_j phi_k; diagonal terms keep the Nyquist entries, off-diagonal ones
        # use the odd-derivative wavenumbers on both axes.
        ki, kj = (ks[i], ks[j]) if i == j else (gks[i], gks[j])
        return scipy.fft.irfftn(-ki * kj * phi1_k, s=shape, overwrite_x=True, **kw)

    pxx, pyy, pzz = (second_derivative(i, i) for i in range(3))
    source = pxx * pyy + pxx * pzz + pyy * pzz
    del pxx, pyy, pzz
    for i, j in ((0, 1), (0, 2), (1, 2)):
        source -= second_derivative(i, j) ** 2
    phi2_k = _inverse_laplacian(scipy.fft.rfftn(source, **kw), n, box_size)
    return phi1_k, phi2_k


def _lpt_component(phi_k: np.ndarray, axis: int, sign: float, box_size: float,
                   threads: int) -> np.ndarray:
    """sign * d phi / d x_axis on the lattice, flattened float32 (n^3,) in C order."""
    n = phi_k.shape[0]
    gk = _gradient_wavenumbers(n, box_size)[axis]
    return scipy.fft.irfftn(np.complex64(sign * 1j) * gk * phi_k, s=(n,) * 3, overwrite_x=True,
                            **_fft_kwargs(threads)).ravel()


def lpt_displacements(delta: np.ndarray, box_size: float,
                      threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """First- and second-order Lagrangian displacements (Mpc/h) of the z = 0 linear field.

    See :func:`_lpt_potentials` for the convention. Returns ``psi1, psi2``: float32 arrays
    (3, n^3), component-major, particles in lattice (C) order.
    """
    phi1_k, phi2_k = _lpt_potentials(delta, box_size, threads)
    psi1 = np.stack([_lpt_component(phi1_k, c, -1.0, box_size, threads) for c in range(3)])
    psi2 = np.stack([_lpt_component(phi2_k, c, 1.0, box_size, threads) for c in range(3)])
    return psi1, psi2
