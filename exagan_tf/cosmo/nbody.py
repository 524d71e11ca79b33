"""Small particle-mesh (PM) N-body universes written in the CosmoFlow HDF5 layout.

The CosmoFlow cubes that ExaGAN was trained on cannot be downloaded, so this module makes
universes of the same kind: dark-matter particle counts per voxel at z = 0, 0.5, 1.5 and 3 in a
periodic box, for cosmological parameters drawn like the original four-parameter set.

Physics and conventions
-----------------------
* Flat LambdaCDM with matter and a cosmological constant (radiation is neglected in the
  dynamics). Units: lengths in Mpc/h, wavenumbers in h/Mpc, power in (Mpc/h)^3, time in 1/H0.
* Parameters ``phys = (Omega_m, sigma_8, n_s, H_0)``, H_0 in km/s/Mpc. The baryon density is a
  fixed fraction of the matter density, ``Omega_b = BARYON_FRACTION * Omega_m`` with
  ``BARYON_FRACTION = 0.049 / 0.3`` (Planck-like Omega_b = 0.049 at the fiducial Omega_m = 0.3),
  so the baryon features move with Omega_m; neutrinos are massless.
* Linear power at z = 0 from CAMB (transfer functions only, no CMB) or from the Eisenstein & Hu
  (1998) fitting formula with baryon wiggles, always normalised here to the requested sigma_8 with
  the same top-hat integral (R = 8 Mpc/h).
* Linear growth ``D(a)`` of flat LambdaCDM in closed form, ``D ∝ a 2F1(1/3, 1; 11/6;
  -a^3 Omega_L/Omega_m)``, normalised to D(1) = 1; ``f = dlnD/dlna`` from the derivative of 2F1.
* Initial conditions: a Gaussian field on the particle lattice (white noise from
  ``numpy.random.default_rng``) moved by second-order Lagrangian perturbation theory (2LPT) at
  ``z_init`` (default 24). Particle ``(i, j, k)`` starts from lattice point ``(i, j, k) L/Np``.
* Dynamics: kick-drift-kick leapfrog in the scale factor with the FastPM kick and drift factors
  (Feng et al. 2016), which make linear growth exact on large scales for any step size. Gravity
  from an FFT Poisson solve on a force mesh ``mesh_factor`` (default 2) times finer than the
  particle lattice per dimension: CIC deposit, exact 1/k^2 Green's function, central-difference
  gradient (see :func:`_pm_force` for why not ``i k``), CIC interpolation.
* Time steps are uniform in ``a`` within each interval between snapshots, with the steps shared
  out in proportion to the interval's length in ``a``, so snapshots fall exactly on step edges.
* Output counts: nearest-grid-point (NGP) particle counts per voxel, voxel ``(i, j, k)`` centred on
  ``(i, j, k) * L/N``. NGP counts are the number of particles in a voxel, integers by
  construction, so the total is the particle number exactly in every snapshot. The optional
  ``deposit="cic"`` spreads particles with CIC and rounds conservatively (largest remainder).

File layout (as CosmoFlow ``cosmoUniverse_2019_05_4parE``; HDF5 datasets, not attributes)
-------------------------------------------------------------------------------------------
``full``       (N, N, N, 4) int16 particle counts per voxel, last axis redshift [0, 0.5, 1.5, 3.0]
``redshifts``  float32 (4,) [0, 0.5, 1.5, 3.0]
``namePar``    bytes (4,) [b'Omega_m', b'sigma_8', b'N_spec', b'H_0']
``physPar``    float32 (4,) physical parameter values
``unitPar``    float32 (4,) u in [-1, 1], ``physPar = fiducial * (1 + 0.1 u)``
Provenance (box size, seed, index, grid sizes, steps, z_init, method, code version) is stored as
file attributes only. ``full`` is chunked (1, N, N, 4) so that reading every k-th slice along axis
0 touches only those slices, and gzip-1 compressed with the byte shuffle filter.

Files are named ``univ_<seed>_<index:05d>.h5``; universe ``index`` of run ``seed`` is made from
``numpy.random.SeedSequence([seed, index])`` alone, so the files do not depend on the worker
count or on which other universes were made.

Command line::

    python -m exagan_tf.cosmo.nbody --out data/universes --count 8 --ngrid 128 --seed 0 --workers 2

Defaults, chosen by measurement at 128^3 particles in 128 Mpc/h (against 60 steps): 30 steps and
mesh_factor 2 keep the z = 0 count power spectrum within 1.6 % up to k = 3 h/Mpc (3.4 % at
z = 1.5); 20 steps lose 4 % (11 % at z = 1.5); mesh_factor 1.5 and 1 lose 22 % and 47 % at
k = 3 h/Mpc, and the largest count per 1 (Mpc/h)^3 voxel at z = 0 drops from ~1900 to ~1400.
Cost: ~50 s of one core per universe at the default (2 cores: ~2 universes/minute with
``--workers 2``); peak memory 0.7 GB. Memory grows 8x per doubling of ngrid: ~3.6 GB at 256^3,
so 512^3 needs ~29 GB at mesh_factor 2, or ~12 GB with ``--mesh-factor 1``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft
from scipy.special import hyp2f1

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, open_h5

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

PARAMETER_NAMES = (b"Omega_m", b"sigma_8", b"N_spec", b"H_0")
FIDUCIAL = np.array([0.3, 0.8, 0.96, 70.0])
PARAMETER_SPREAD = 0.1  # physPar = FIDUCIAL * (1 + PARAMETER_SPREAD * u), u ~ U[-1, 1]
REDSHIFTS = (0.0, 0.5, 1.5, 3.0)  # CosmoFlow order: index 0 is z = 0
BARYON_FRACTION = 0.049 / 0.3  # Omega_b / Omega_m, fixed
T_CMB = 2.7255  # K
DEFAULT_Z_INIT = 24.0
DEFAULT_NSTEPS = 30
DEFAULT_MESH_FACTOR = 2
FILE_PATTERN = "univ_{seed}_{index:05d}.h5"
_CAMB_KMAX = 10.0  # h/Mpc; beyond it the spectrum is extrapolated as a power law in log-log
_TABLE_LNK = np.linspace(np.log(1e-5), np.log(1e3), 2400)  # table for P(k), ~0.8% steps in k
_CHUNK = 1 << 21  # particles per CIC chunk: bounds the temporary index/weight arrays


# --------------------------------------------------------------------------------------------
# Cosmology: parameters, growth, linear power
# --------------------------------------------------------------------------------------------


def draw_parameters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (Omega_m, sigma_8, n_s, H_0) as CosmoFlow does: fiducial * (1 + 0.1 u).

    Args:
        rng: a NumPy generator; four uniform numbers are taken from it.

    Returns:
        ``(phys, unit)``: float64 arrays of shape (4,): the physical values (H_0 in km/s/Mpc) and
        the unit values ``u`` in [-1, 1].
    """
    unit = rng.uniform(-1.0, 1.0, size=4)
    phys = FIDUCIAL * (1.0 + PARAMETER_SPREAD * unit)
    return phys, unit


def _efunc(a: np.ndarray, omega_m: float) -> np.ndarray:
    """H(a) / H0 for flat LambdaCDM without radiation."""
    return np.sqrt(omega_m / a**3 + (1.0 - omega_m))


def _growth_unnormalised(a: np.ndarray, omega_m: float) -> np.ndarray:
    # Exact growing mode of flat matter + Lambda; 2F1 is well defined for the negative argument.
    return a * hyp2f1(1.0 / 3.0, 1.0, 11.0 / 6.0, -(a**3) * (1.0 - omega_m) / omega_m)


def growth_factor(a: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Linear growth factor D(a) of flat LambdaCDM, normalised to D(a=1) = 1.

    Args:
        a: scale factor(s), > 0.
        omega_m: matter density today (Omega_Lambda = 1 - omega_m).

    Returns:
        D(a), same shape as ``a``. D = a exactly for omega_m = 1 (Einstein-de Sitter).
    """
    a = np.asarray(a, dtype=np.float64)
    return _growth_unnormalised(a, omega_m) / _growth_unnormalised(np.float64(1.0), omega_m)


def growth_rate(a: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Linear growth rate f = dln D / dln a of flat LambdaCDM (f = 1 in Einstein-de Sitter).

    Uses d 2F1(a, b; c; z)/dz = (ab/c) 2F1(a+1, b+1; c+1; z).
    """
    a = np.asarray(a, dtype=np.float64)
    z = -(a**3) * (1.0 - omega_m) / omega_m
    ratio = hyp2f1(4.0 / 3.0, 2.0, 17.0 / 6.0, z) / hyp2f1(1.0 / 3.0, 1.0, 11.0 / 6.0, z)
    return 1.0 + 3.0 * z * (2.0 / 11.0) * ratio


def _omega_m_of_a(a: np.ndarray, omega_m: float) -> np.ndarray:
    return omega_m / a**3 / _efunc(a, omega_m) ** 2


def _momentum_growth(a: np.ndarray, omega_m: float) -> np.ndarray:
    """G_p(a) = a^3 E dD/da = a^2 E f D: momentum p = a^2 dx/dt per unit linear displacement."""
    a = np.asarray(a, dtype=np.float64)
    return a**2 * _efunc(a, omega_m) * growth_rate(a, omega_m) * growth_factor(a, omega_m)


def _tophat_sigma(lnk: np.ndarray, power: np.ndarray, radius: float) -> float:
    """RMS linear overdensity in a top-hat sphere of ``radius`` Mpc/h (trapezoid in ln k)."""
    x = np.exp(lnk) * radius
    window = 3.0 * (np.sin(x) - x * np.cos(x)) / x**3
    integrand = np.exp(lnk) ** 3 * power * window**2 / (2.0 * np.pi**2)
    return float(np.sqrt(np.trapezoid(integrand, lnk)))


def _eh_transfer(k: np.ndarray, omega_m: float, omega_b: float, h: float) -> np.ndarray:
    """Eisenstein & Hu (1998, ApJ 496, 605) matter transfer function with baryon oscillations.

    Args:
        k: wavenumbers in h/Mpc.
        omega_m, omega_b: density parameters today; h = H0 / 100.
    """
    kmpc = np.asarray(k, dtype=np.float64) * h  # the fit is written in 1/Mpc
    om_h2, ob_h2 = omega_m * h * h, omega_b * h * h
    f_b = omega_b / omega_m
    f_c = 1.0 - f_b
    theta = T_CMB / 2.7
    z_eq = 2.50e4 * om_h2 * theta**-4
    k_eq = 7.46e-2 * om_h2 * theta**-2
    b1 = 0.313 * om_h2**-0.419 * (1.0 + 0.607 * om_h2**0.674)
    b2 = 0.238 * om_h2**0.223
    z_d = 1291.0 * om_h2**0.251 / (1.0 + 0.659 * om_h2**0.828) * (1.0 + b1 * ob_h2**b2)
    r_d = 31.5 * ob_h2 * theta**-4 * (1000.0 / z_d)
    r_eq = 31.5 * ob_h2 * theta**-4 * (1000.0 / z_eq)
    s = (2.0 / (3.0 * k_eq) * np.sqrt(6.0 / r_eq)
         * np.log((np.sqrt(1.0 + r_d) + np.sqrt(r_d + r_eq)) / (1.0 + np.sqrt(r_eq))))
    k_silk = 1.6 * ob_h2**0.52 * om_h2**0.73 * (1.0 + (10.4 * om_h2) ** -0.95)
    q = kmpc / (13.41 * k_eq)

    a1 = (46.9 * om_h2) ** 0.670 * (1.0 + (32.1 * om_h2) ** -0.532)
    a2 = (12.0 * om_h2) ** 0.424 * (1.0 + (45.0 * om_h2) ** -0.582)
    alpha_c = a1**-f_b * a2 ** (-(f_b**3))
    bb1 = 0.944 / (1.0 + (458.0 * om_h2) ** -0.708)
    bb2 = (0.395 * om_h2) ** -0.0266
    beta_c = 1.0 / (1.0 + bb1 * (f_c**bb2 - 1.0))

    def t0(alpha: float, beta: float) -> np.ndarray:
        ln = np.log(np.e + 1.8 * beta * q)
        c = 14.2 / alpha + 386.0 / (1.0 + 69.9 * q**1.08)
        return ln / (ln + c * q * q)

    ks = kmpc * s
    f = 1.0 / (1.0 + (ks / 5.4) ** 4)
    t_cdm = f * t0(1.0, beta_c) + (1.0 - f) * t0(alpha_c, beta_c)

    y = (1.0 + z_eq) / (1.0 + z_d)
    sy = np.sqrt(1.0 + y)
    g = y * (-6.0 * sy + (2.0 + 3.0 * y) * np.log((sy + 1.0) / (sy - 1.0)))
    alpha_b = 2.07 * k_eq * s * (1.0 + r_d) ** -0.75 * g
    beta_node = 8.41 * om_h2**0.435
    beta_b = 0.5 + f_b + (3.0 - 2.0 * f_b) * np.sqrt((17.2 * om_h2) ** 2 + 1.0)
    s_tilde = s / (1.0 + (beta_node / ks) ** 3) ** (1.0 / 3.0)
    t_bar = (t0(1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
             + alpha_b / (1.0 + (beta_b / ks) ** 3) * np.exp(-((kmpc / k_silk) ** 1.4)))
    t_bar = t_bar * np.sinc(kmpc * s_tilde / np.pi)  # j0(x) = sin(x)/x = np.sinc(x/pi)
    return f_b * t_bar + f_c * t_cdm


def _camb_table(omega_m: float, n_s: float, h0: float) -> tuple[np.ndarray, np.ndarray]:
    """ln k [h/Mpc] and ln P(k) [(Mpc/h)^3, arbitrary amplitude] at z = 0 from CAMB."""
    import camb  # imported lazily: only the CAMB method needs it
    from camb import model

    h = h0 / 100.0
    omega_b = BARYON_FRACTION * omega_m
    pars = camb.CAMBparams()
    pars.set_cosmology(H0=h0, ombh2=omega_b * h * h, omch2=(omega_m - omega_b) * h * h,
                       mnu=0.0, omk=0.0, TCMB=T_CMB)
    pars.InitPower.set_params(As=2.1e-9, ns=n_s)
    # Transfer functions only (no CMB spectra); set_matter_power takes kmax in 1/Mpc.
    pars.set_matter_power(redshifts=[0.0], kmax=_CAMB_KMAX * h)
    pars.WantCls = False
    pars.NonLinear = model.NonLinear_none
    results = camb.get_transfer_functions(pars)
    kh, _, pk = results.get_linear_matter_power_spectrum(hubble_units=True, k_hunit=True)
    return np.log(kh), np.log(pk[0])


@functools.lru_cache(maxsize=64)
def _power_table(omega_m: float, sigma8: float, n_s: float, h0: float,
                 method: str) -> tuple[np.ndarray, np.ndarray]:
    """ln P on the fixed ln k grid ``_TABLE_LNK``, normalised to sigma8 (cached per process)."""
    lnk = _TABLE_LNK
    if method == "camb":
        lnk_c, lnp_c = _camb_table(omega_m, n_s, h0)
        lnp = np.interp(lnk, lnk_c, lnp_c)
        # Outside CAMB's range: primordial slope n_s at low k (T -> 1), and the local log-log
        # slope of the last tenth of a decade at high k (T ~ ln k / k^2 varies slowly there).
        low = lnk < lnk_c[0]
        lnp[low] = lnp_c[0] + n_s * (lnk[low] - lnk_c[0])
        tail = lnk_c > lnk_c[-1] - 0.1 * np.log(10.0)
        slope = np.polyfit(lnk_c[tail], lnp_c[tail], 1)[0]
        high = lnk > lnk_c[-1]
        lnp[high] = lnp_c[-1] + slope * (lnk[high] - lnk_c[-1])
    elif method == "eh":
        k = np.exp(lnk)
        t = _eh_transfer(k, omega_m, BARYON_FRACTION * omega_m, h0 / 100.0)
        lnp = n_s * lnk + 2.0 * np.log(t)
    else:
        raise UserError(f"linear power method {method!r}: expected 'camb' or 'eh'")
    lnp = lnp + 2.0 * np.log(sigma8 / _tophat_sigma(lnk, np.exp(lnp), 8.0))
    lnp.setflags(write=False)
    return lnk, lnp


def linear_power(k: np.ndarray, omega_m: float, sigma8: float, n_s: float, h0: float,
                 method: str = "camb") -> np.ndarray:
    """Linear matter power spectrum at z = 0, normalised to ``sigma8``.

    Args:
        k: wavenumbers in h/Mpc (any shape; k <= 0 gives P = 0).
        omega_m: matter density today (baryons are ``BARYON_FRACTION`` of it; flat).
        sigma8: rms linear overdensity in 8 Mpc/h top-hat spheres at z = 0.
        n_s: primordial spectral index.
        h0: Hubble constant H_0 in km/s/Mpc (e.g. 70).
        method: ``"camb"`` (CAMB transfer functions) or ``"eh"`` (Eisenstein & Hu 1998 fit with
            baryon wiggles).

    Returns:
        P(k) in (Mpc/h)^3, float64, same shape as ``k``. The table behind it is cached per
        parameter set, so repeated calls cost one interpolation.
    """
    lnk_t, lnp_t = _power_table(float(omega_m), float(sigma8), float(n_s), float(h0), method)
    k = np.asarray(k, dtype=np.float64)
    out = np.zeros_like(k)
    pos = k > 0
    out[pos] = np.exp(np.interp(np.log(k[pos]), lnk_t, lnp_t))
    return out


# --------------------------------------------------------------------------------------------
# Grids and Fourier helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Initial conditions
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Mass assignment
# --------------------------------------------------------------------------------------------


def _cic_cells(pos: np.ndarray, nmesh: int,
               box_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIC set-up for particles ``pos`` (3, n) on a mesh padded to (nmesh + 1)^3.

    Mesh node j sits at j * box_size / nmesh. The padded mesh has an extra plane at index nmesh
    on each axis (the periodic image of plane 0), so the 8 corners of a particle are its base
    index plus 8 constant offsets, with no modulo in the inner loop.

    Returns:
        ``(base, frac, offsets)``: int64 (n,) flat base index into the padded mesh, float32 (3, n)
        fractional distances to the base node in cells, int64 (8,) corner offsets (x-major).
    """
    s = pos * np.float32(nmesh / box_size)
    base = np.minimum(s.astype(np.int32), nmesh - 1)  # s >= 0, so truncation is floor
    frac = s - base.astype(np.float32)  # float32 - int32 would promote to float64
    p = nmesh + 1
    flat = (base[0].astype(np.int64) * p + base[1]) * p + base[2]
    offsets = np.array([(ox * p + oy) * p + oz for ox in (0, 1) for oy in (0, 1) for oz in (0, 1)],
                       dtype=np.int64)
    return flat, frac, offsets


def _cic_weights(frac: np.ndarray) -> np.ndarray:
    """(8, n) float32 CIC weights in the corner order of :func:`_cic_cells`."""
    one = np.float32(1.0)
    wx, wy, wz = ((one - frac[c], frac[c]) for c in range(3))
    out = np.empty((8, frac.shape[1]), dtype=np.float32)
    i = 0
    for ox in (0, 1):
        for oy in (0, 1):
            wxy = wx[ox] * wy[oy]
            for oz in (0, 1):
                np.multiply(wxy, wz[oz], out=out[i])
                i += 1
    return out


def cic_deposit(pos: np.ndarray, nmesh: int, box_size: float) -> np.ndarray:
    """Cloud-in-cell mass assignment: number of particles per mesh node (float32, sums to n).

    Args:
        pos: particle positions (3, n) in Mpc/h, inside [0, box_size).
        nmesh: mesh cells per dimension; node j at j * box_size / nmesh.
    """
    p = nmesh + 1
    rho = None
    for start in range(0, pos.shape[1], _CHUNK):
        flat, frac, offsets = _cic_cells(pos[:, start:start + _CHUNK], nmesh, box_size)
        # One bincount per chunk over all 8 corners: bincount costs O(entries + mesh size), so
        # concatenating beats 8 calls that would each sweep the whole mesh.
        idx = (flat[None, :] + offsets[:, None]).ravel()
        part = np.bincount(idx, weights=_cic_weights(frac).ravel(), minlength=p**3)
        if rho is None:
            rho = part
        else:
            rho += part
        del idx, part
    if rho is None:
        return np.zeros((nmesh,) * 3, dtype=np.float32)
    rho = rho.reshape(p, p, p)
    # Fold the padding planes back onto their periodic images (plane nmesh is plane 0).
    rho[0] += rho[nmesh]
    rho[:nmesh, 0] += rho[:nmesh, nmesh]
    rho[:nmesh, :nmesh, 0] += rho[:nmesh, :nmesh, nmesh]
    return rho[:nmesh, :nmesh, :nmesh].astype(np.float32)


def _pad_periodic(fields: Sequence[np.ndarray]) -> np.ndarray:
    """Stack (m, m, m) fields into an (m+1, m+1, m+1, len) array padded with plane 0 at index m.

    Interleaving the components lets one gather fetch all of a node's components at once.
    """
    m = fields[0].shape[0]
    out = np.empty((m + 1, m + 1, m + 1, len(fields)), dtype=np.float32)
    for c, f in enumerate(fields):
        out[:m, :m, :m, c] = f
    out[m] = out[0]
    out[:, m] = out[:, 0]
    out[:, :, m] = out[:, :, 0]
    return out


def _cic_gather(padded: np.ndarray, pos: np.ndarray, box_size: float) -> np.ndarray:
    """CIC interpolation from a padded interleaved mesh (see :func:`_pad_periodic`) -> (c, n)."""
    nmesh = padded.shape[0] - 1
    ncomp = padded.shape[-1]
    # Viewing each node's components as one opaque record makes np.take move them in one go
    # (measured 1.7x faster than fancy indexing rows of the 2D array, for random indices).
    records = np.ascontiguousarray(padded).reshape(-1, ncomp).view(
        np.dtype((np.void, 4 * ncomp))).ravel()
    out = np.empty((ncomp, pos.shape[1]), dtype=np.float32)
    for start in range(0, pos.shape[1], _CHUNK):
        flat, frac, offsets = _cic_cells(pos[:, start:start + _CHUNK], nmesh, box_size)
        weights = _cic_weights(frac)
        acc = np.zeros((flat.size, ncomp), dtype=np.float32)
        for corner in range(8):
            values = np.take(records, flat + offsets[corner]).view(np.float32)
            acc += weights[corner][:, None] * values.reshape(-1, ncomp)
        out[:, start:start + flat.size] = acc.T
    return out


def cic_interpolate(fields: Sequence[np.ndarray], pos: np.ndarray, box_size: float) -> np.ndarray:
    """CIC interpolation of periodic mesh fields (each (m, m, m)) at particles ``pos`` (3, n).

    Returns:
        float32 array (len(fields), n).
    """
    return _cic_gather(_pad_periodic(fields), pos, box_size)


def ngp_counts(pos: np.ndarray, ngrid: int, box_size: float) -> np.ndarray:
    """Nearest-grid-point particle counts, (ngrid,)*3 int64; voxel i is centred on i * L/ngrid.

    Integers by construction; the sum is exactly the number of particles.
    """
    counts = np.zeros(ngrid**3, dtype=np.int64)
    for start in range(0, pos.shape[1], _CHUNK):
        cell = np.floor(pos[:, start:start + _CHUNK] * np.float32(ngrid / box_size) + 0.5)
        cell = cell.astype(np.int64) % ngrid
        counts += np.bincount((cell[0] * ngrid + cell[1]) * ngrid + cell[2], minlength=ngrid**3)
    return counts.reshape((ngrid,) * 3)


def conservative_round(values: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``values`` to integers summing exactly to ``total`` (largest remainder).

    Every value is rounded down, then the ``total - sum(floor)`` entries with the largest
    fractional parts get one more.
    """
    flat = values.reshape(-1).astype(np.float64)
    out = np.floor(flat).astype(np.int64)
    missing = int(total - out.sum())
    if missing < 0 or missing > flat.size:
        raise ValueError(f"cannot round values summing to {flat.sum()} onto total {total}")
    if missing:
        remainder = flat - out
        top = np.argpartition(-remainder, missing - 1)[:missing]
        out[top] += 1
    return out.reshape(values.shape)


def _to_int16(counts: np.ndarray) -> np.ndarray:
    top = int(counts.max())
    if top > np.iinfo(np.int16).max:
        raise ValueError(f"a voxel holds {top} particles, more than int16 can store")
    return counts.astype(np.int16)


# --------------------------------------------------------------------------------------------
# Time stepping
# --------------------------------------------------------------------------------------------


def time_steps(a_init: float, a_snapshots: Sequence[float], nsteps: int) -> np.ndarray:
    """Scale factors of the step edges from ``a_init`` to max(a_snapshots), uniform in ``a``
    within each interval between consecutive snapshots, every snapshot an edge.

    The ``nsteps`` steps are shared out over the intervals in proportion to their length in
    ``a`` (largest remainder), with at least one step per interval.
    """
    edges = np.array([a_init] + sorted(float(a) for a in a_snapshots))
    if np.any(np.diff(edges) <= 0):
        raise UserError(f"snapshot scale factors {list(a_snapshots)} must all differ and exceed "
                        f"a_init = {a_init:g}")
    lengths = np.diff(edges)
    if nsteps < lengths.size:
        raise UserError(f"nsteps = {nsteps}: need at least one step per snapshot interval "
                        f"({lengths.size})")
    share = lengths / lengths.sum() * nsteps
    steps = np.maximum(1, np.floor(share).astype(int))
    while steps.sum() < nsteps:
        steps[np.argmax(share - steps)] += 1
    while steps.sum() > nsteps:
        steps[np.argmax(np.where(steps > 1, steps - share, -np.inf))] -= 1
    parts = [np.linspace(edges[i], edges[i + 1], steps[i] + 1)[:-1] for i in range(steps.size)]
    return np.concatenate(parts + [edges[-1:]])


# --------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------


@dataclass
class Simulation:
    """Result of :func:`run_simulation`.

    Attributes:
        counts: (N, N, N, nz) int16 particle counts per voxel, last axis in ``redshifts`` order.
        redshifts: (nz,) the snapshot redshifts.
        linear_delta: (Np, Np, Np) float32 Gaussian linear density contrast at z = 0 (D = 1) on
            the particle lattice, or None unless ``keep_fields``.
        initial_density: (N, N, N) float32 CIC density contrast of the particles at z_init on the
            output grid, or None unless ``keep_fields``.
        density: (N, N, N, nz) float32 CIC density contrast at the snapshots, or None unless
            ``keep_fields``.
        positions: (3, Np^3) float32 final particle positions (Mpc/h), or None unless
            ``keep_fields``.
        scale_factors: step edges in ``a``.
        attrs: provenance (box size, grids, steps, z_init, method, ...).
    """

    counts: np.ndarray
    redshifts: np.ndarray
    scale_factors: np.ndarray
    attrs: dict = field(default_factory=dict)
    linear_delta: np.ndarray | None = None
    initial_density: np.ndarray | None = None
    density: np.ndarray | None = None
    positions: np.ndarray | None = None


def _cic_contrast(pos: np.ndarray, ngrid: int, box_size: float) -> np.ndarray:
    """CIC density contrast of particles ``pos`` on an ngrid^3 mesh (float32, mean 0)."""
    rho = cic_deposit(pos, ngrid, box_size)
    rho *= np.float32(ngrid**3 / pos.shape[1])
    rho -= np.float32(1.0)
    return rho


def _pm_force(pos: np.ndarray, nmesh: int, box_size: float, threads: int) -> np.ndarray:
    """F = -grad phi at the particles, nabla^2 phi = delta (the mesh density contrast); (3, n).

    CIC deposit, exact -1/k^2 Green's function, two-point central-difference gradient in real
    space, CIC interpolation; no window deconvolution. The physical acceleration is
    (3/2) Omega_m / a times F; the FastPM kick factor absorbs that.

    Why the central difference: on a force mesh finer than the particle lattice, the lattice's
    harmonics sit at the mesh Nyquist frequency; a displaced lattice puts power just below it,
    and the exact ``i k`` gradient turns that into forces that alias back onto long waves
    (measured: +7 % force at the box scale for mesh_factor 2, and CIC deconvolution made it
    +40 %). The central difference, symbol sin(k h) / h, vanishes at Nyquist and suppresses
    them: the measured linear force response of a displaced lattice is then within 0.1 % of the
    fluid one up to half the particle Nyquist wavenumber and within 4 % at it.
    """
    kw = _fft_kwargs(threads)
    delta = _cic_contrast(pos, nmesh, box_size)
    phi_k = _inverse_laplacian(scipy.fft.rfftn(delta, **kw), nmesh, box_size)
    del delta
    phi = scipy.fft.irfftn(phi_k, s=(nmesh,) * 3, overwrite_x=True, **kw)
    del phi_k
    # padded[i] = phi[i - 1] for i = 0 .. nmesh + 2, so node i's neighbours are padded[i], [i + 2].
    padded = np.pad(phi, ((1, 2),) * 3, mode="wrap")
    del phi
    m1 = nmesh + 1
    scale = np.float32(-0.5 * nmesh / box_size)  # -1 / (2h)
    inner = slice(1, m1 + 1)
    force = np.empty((m1, m1, m1, 3), dtype=np.float32)
    force[..., 0] = padded[2:m1 + 2, inner, inner] - padded[0:m1, inner, inner]
    force[..., 1] = padded[inner, 2:m1 + 2, inner] - padded[inner, 0:m1, inner]
    force[..., 2] = padded[inner, inner, 2:m1 + 2] - padded[inner, inner, 0:m1]
    del padded
    force *= scale
    return _cic_gather(force, pos, box_size)


def run_simulation(phys: Sequence[float], ngrid: int = 128, box_size: float = 128.0,
                   nsteps: int = DEFAULT_NSTEPS, seed: int | np.random.Generator | None = 0,
                   redshifts: Sequence[float] = REDSHIFTS, *, npart: int | None = None,
                   mesh_factor: float = DEFAULT_MESH_FACTOR, z_init: float = DEFAULT_Z_INIT,
                   method: str = "camb", lpt_order: int = 2, deposit: str = "ngp",
                   threads: int = 1, keep_fields: bool = False,
                   progress: Callable[[int], None] | None = None) -> Simulation:
    """Run a PM N-body simulation and return the counts (and optionally fields) at ``redshifts``.

    Args:
        phys: (Omega_m, sigma_8, n_s, H_0 [km/s/Mpc]).
        ngrid: output voxels per dimension.
        box_size: periodic box side in Mpc/h.
        nsteps: number of kick-drift-kick steps from z_init to the lowest redshift.
        seed: seed (or generator) for the Gaussian white noise.
        redshifts: snapshot redshifts; the output's last axis keeps this order.
        npart: particles per dimension (default ngrid, i.e. one particle per voxel on average).
        mesh_factor: force-mesh cells per particle per dimension (force mesh = npart*mesh_factor).
        z_init: starting redshift of the 2LPT (or Zel'dovich) initial conditions.
        method: linear power, ``"camb"`` or ``"eh"``.
        lpt_order: 2 for 2LPT, 1 for Zel'dovich initial conditions.
        deposit: ``"ngp"`` (integer counts of particles per voxel) or ``"cic"`` (CIC, then
            conservative rounding); both conserve the particle number exactly.
        threads: FFT worker threads (scipy.fft ``workers``).
        keep_fields: also return the linear field, the initial and snapshot CIC density contrasts
            and the final positions (for tests and diagnostics).
        progress: called with 1 after every step (e.g. ``tqdm.update``).
    """
    omega_m, sigma8, n_s, h0 = (float(v) for v in phys)
    npart = int(npart or ngrid)
    nmesh = int(round(npart * mesh_factor))
    if deposit not in ("ngp", "cic"):
        raise UserError(f"deposit {deposit!r}: expected 'ngp' or 'cic'")
    if lpt_order not in (1, 2):
        raise UserError(f"lpt_order {lpt_order}: expected 1 or 2")
    if not 0.0 < omega_m <= 1.0:
        raise UserError(f"Omega_m = {omega_m}: expected 0 < Omega_m <= 1 (flat LambdaCDM)")
    z_snap = np.asarray(redshifts, dtype=np.float64)
    if np.any(z_snap >= z_init) or np.any(z_snap < 0):
        raise UserError(f"redshifts {list(redshifts)}: expected 0 <= z < z_init = {z_init:g}")
    a_snap = 1.0 / (1.0 + z_snap)
    a_init = 1.0 / (1.0 + z_init)
    a_steps = time_steps(a_init, a_snap, nsteps)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mass_per_voxel = npart**3 / ngrid**3

    # --- initial conditions -----------------------------------------------------------------
    def power(k: np.ndarray) -> np.ndarray:
        return linear_power(k, omega_m, sigma8, n_s, h0, method=method)

    delta_lin = gaussian_field(npart, box_size, power, rng, threads)
    phi1_k, phi2_k = _lpt_potentials(delta_lin, box_size, threads)
    if not keep_fields:
        delta_lin = None
    d1 = float(growth_factor(a_init, omega_m))
    f1 = float(growth_rate(a_init, omega_m))
    om_a = float(_omega_m_of_a(np.float64(a_init), omega_m))
    d2 = -3.0 / 7.0 * d1 * d1 * om_a ** (-1.0 / 143.0) if lpt_order == 2 else 0.0
    f2 = 2.0 * om_a ** (6.0 / 11.0)
    a2e = a_init**2 * float(_efunc(np.float64(a_init), omega_m))
    lattice = (np.arange(npart, dtype=np.float32) * np.float32(box_size / npart))
    pos = np.empty((3, npart**3), dtype=np.float32)
    mom = np.empty((3, npart**3), dtype=np.float32)
    grid = np.meshgrid(lattice, lattice, lattice, indexing="ij", sparse=True)
    # One component at a time, so only two displacement fields are ever in memory.
    for c in range(3):
        psi1 = _lpt_component(phi1_k, c, -1.0, box_size, threads)
        psi2 = _lpt_component(phi2_k, c, 1.0, box_size, threads)
        pos[c] = np.broadcast_to(grid[c], (npart,) * 3).reshape(-1)
        pos[c] += np.float32(d1) * psi1 + np.float32(d2) * psi2
        # p = a^2 dx/dt = a^2 E dx/dlna (time in 1/H0).
        mom[c] = np.float32(a2e * f1 * d1) * psi1 + np.float32(a2e * f2 * d2) * psi2
    del psi1, psi2, phi1_k, phi2_k
    np.mod(pos, np.float32(box_size), out=pos)
    pos[pos >= box_size] = 0.0  # float32 rounding of mod can return exactly box_size

    initial_density = _cic_contrast(pos, ngrid, box_size) if keep_fields else None
    counts = np.zeros((ngrid, ngrid, ngrid, z_snap.size), dtype=np.int16)
    density = (np.zeros((ngrid, ngrid, ngrid, z_snap.size), dtype=np.float32)
               if keep_fields else None)

    def snapshot(a: float) -> None:
        for iz in np.flatnonzero(np.isclose(a_snap, a, rtol=1e-12, atol=0.0)):
            if deposit == "ngp":
                cnt = ngp_counts(pos, ngrid, box_size)
            else:
                cnt = conservative_round(cic_deposit(pos, ngrid, box_size), npart**3)
            counts[..., iz] = _to_int16(cnt)
            if density is not None:
                density[..., iz] = _cic_contrast(pos, ngrid, box_size)

    # --- kick-drift-kick with FastPM factors --------------------------------------------------
    # Linear theory has x = q + D psi, p = G_p(a) psi and F = D psi (F = -grad phi,
    # nabla^2 phi = delta). Kick: dp = dG_p / D(a_force) * F; drift: dx = dD / G_p(a_half) * p;
    # both are exact for linear growth whatever the step, so large scales grow exactly as D(a).
    a_half = 0.5 * (a_steps[1:] + a_steps[:-1])
    gp = functools.partial(_momentum_growth, omega_m=omega_m)
    dg = functools.partial(growth_factor, omega_m=omega_m)
    force = _pm_force(pos, nmesh, box_size, threads)
    mom += np.float32((gp(a_half[0]) - gp(a_steps[0])) / dg(a_steps[0])) * force
    for i in range(a_steps.size - 1):
        a0, a1 = a_steps[i], a_steps[i + 1]
        pos += np.float32((dg(a1) - dg(a0)) / gp(a_half[i])) * mom
        np.mod(pos, np.float32(box_size), out=pos)
        pos[pos >= box_size] = 0.0
        snapshot(a1)
        if i + 1 < a_half.size:  # the last kick would only move momenta past the last output
            force = _pm_force(pos, nmesh, box_size, threads)
            mom += np.float32((gp(a_half[i + 1]) - gp(a_half[i])) / dg(a1)) * force
        if progress is not None:
            progress(1)

    attrs = {
        "box_size_mpc_h": float(box_size), "ngrid": ngrid, "npart": npart, "nmesh": nmesh,
        "nsteps": int(a_steps.size - 1), "z_init": float(z_init), "method": method,
        "lpt_order": lpt_order, "deposit": deposit,
        "mean_count": float(mass_per_voxel),
    }
    return Simulation(counts=counts, redshifts=z_snap, scale_factors=a_steps, attrs=attrs,
                      linear_delta=delta_lin, initial_density=initial_density, density=density,
                      positions=pos if keep_fields else None)


def simulate_universe(phys: Sequence[float], ngrid: int = 128, box_size: float = 128.0,
                      nsteps: int = DEFAULT_NSTEPS, seed: int | np.random.Generator | None = 0,
                      redshifts: Sequence[float] = REDSHIFTS, **kwargs) -> np.ndarray:
    """Particle counts per voxel, (ngrid, ngrid, ngrid, len(redshifts)) int16.

    A thin wrapper of :func:`run_simulation` (see there for the arguments and ``kwargs``); use
    that function with ``keep_fields=True`` to get particle positions and density fields too.
    """
    return run_simulation(phys, ngrid=ngrid, box_size=box_size, nsteps=nsteps, seed=seed,
                          redshifts=redshifts, **kwargs).counts


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def universe_filename(seed: int, index: int) -> str:
    """``univ_<seed>_<index:05d>.h5``."""
    return FILE_PATTERN.format(seed=seed, index=index)


def write_universe(path: str | os.PathLike, counts: np.ndarray, phys: Sequence[float],
                   unit: Sequence[float], attrs: dict | None = None,
                   redshifts: Sequence[float] = REDSHIFTS) -> None:
    """Write one universe in the CosmoFlow layout, atomically; an existing file is an error.

    Args:
        path: destination ``.h5`` file.
        counts: (N, N, N, len(redshifts)) int16 particle counts, last axis in ``redshifts`` order.
        phys, unit: the 4 physical and unit parameter values (namePar order).
        attrs: provenance stored as file attributes (scalars or strings).
        redshifts: the snapshot redshifts (CosmoFlow: [0, 0.5, 1.5, 3.0]).
    """
    import h5py

    counts = np.asarray(counts)
    n = counts.shape[0]
    if counts.ndim != 4 or counts.shape[:3] != (n, n, n) or counts.shape[3] != len(redshifts):
        raise ValueError(f"counts shape {counts.shape}: expected (N, N, N, {len(redshifts)})")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("full", data=counts.astype(np.int16, copy=False),
                         chunks=(1, n, n, counts.shape[3]), compression="gzip",
                         compression_opts=1, shuffle=True)
        f.create_dataset("redshifts", data=np.asarray(redshifts, dtype=np.float32))
        f.create_dataset("namePar", data=np.array(PARAMETER_NAMES))
        f.create_dataset("physPar", data=np.asarray(phys, dtype=np.float32))
        f.create_dataset("unitPar", data=np.asarray(unit, dtype=np.float32))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def read_universe(path: str | os.PathLike, full_index=Ellipsis) -> dict:
    """Read and validate one universe file in the CosmoFlow layout.

    Args:
        path: the HDF5 file.
        full_index: index applied to the ``full`` dataset before reading it, e.g.
            ``np.s_[::8, :, :, 0]`` reads only every 8th slice at z = 0. Default: everything.

    Returns:
        dict with ``full`` (the indexed counts), ``full_shape`` (shape of the whole dataset),
        ``redshifts``, ``namePar`` (list of str), ``physPar``, ``unitPar`` (float64 arrays) and
        ``attrs`` (file attributes).

    Raises:
        UserError: the file is missing or not HDF5, or a dataset is missing, not a dataset or has
            the wrong shape or kind; the message names the file, the dataset, its shape and what
            was expected.
    """
    import h5py

    with open_h5(path) as f:
        def dataset(name: str, expected: str) -> h5py.Dataset:
            obj = f.get(name)
            if not isinstance(obj, h5py.Dataset):
                what = "missing" if obj is None else "not a dataset"
                raise UserError(f"{path}: dataset '{name}' {what}; expected {expected}")
            return obj

        full = dataset("full", "(N, N, N, nz) integer particle counts")
        redshifts = dataset("redshifts", "(nz,) floats")
        if redshifts.ndim != 1:
            raise UserError(f"{path}: dataset 'redshifts' has shape {redshifts.shape}; "
                            "expected (nz,)")
        nz = redshifts.shape[0]
        shape = full.shape
        if len(shape) != 4 or shape[1:3] != (shape[0],) * 2 or shape[3] != nz:
            raise UserError(f"{path}: dataset 'full' has shape {shape}; expected (N, N, N, {nz}) "
                            f"(a cube with one channel per redshift)")
        if full.dtype.kind not in "iu":
            raise UserError(f"{path}: dataset 'full' has dtype {full.dtype}; expected integer "
                            "particle counts (int16)")
        out = {"full": full[full_index], "full_shape": tuple(shape),
               "redshifts": redshifts[()].astype(np.float64)}
        for name in ("namePar", "physPar", "unitPar"):
            ds = dataset(name, "(4,)")
            if ds.shape != (4,):
                raise UserError(f"{path}: dataset '{name}' has shape {ds.shape}; expected (4,)")
            out[name] = ds[()]
        out["namePar"] = [v.decode() if isinstance(v, bytes) else str(v) for v in out["namePar"]]
        out["physPar"] = np.asarray(out["physPar"], dtype=np.float64)
        out["unitPar"] = np.asarray(out["unitPar"], dtype=np.float64)
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def universe_rngs(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for (parameters, initial field) of universe ``index`` of ``seed``."""
    params, field_ = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(params), np.random.default_rng(field_)


def make_universe(out_dir: str | os.PathLike, seed: int, index: int, *, ngrid: int = 128,
                  box_size: float | None = None, nsteps: int = DEFAULT_NSTEPS,
                  method: str = "camb", mesh_factor: float = DEFAULT_MESH_FACTOR,
                  z_init: float = DEFAULT_Z_INIT, threads: int = 1,
                  progress: Callable[[int], None] | None = None) -> tuple[Path, float]:
    """Draw parameters, simulate and write universe ``index`` of run ``seed``.

    Returns:
        (path, seconds). The path's existence is the caller's check: this raises
        :class:`UserError` rather than overwrite.
    """
    t0 = time.perf_counter()
    box_size = float(box_size or ngrid * 1.0)
    path = Path(out_dir) / universe_filename(seed, index)
    rng_par, rng_field = universe_rngs(seed, index)
    phys, unit = draw_parameters(rng_par)
    sim = run_simulation(phys, ngrid=ngrid, box_size=box_size, nsteps=nsteps, seed=rng_field,
                         method=method, mesh_factor=mesh_factor, z_init=z_init,
                         threads=threads, progress=progress)
    from exagan_tf import __version__

    attrs = dict(sim.attrs, seed=seed, index=index, code="exagan_tf.cosmo.nbody",
                 code_version=__version__)
    write_universe(path, sim.counts, phys, unit, attrs)
    return path, time.perf_counter() - t0


def _worker(args: tuple) -> tuple[int, str, float]:
    out_dir, seed, index, options = args
    path, seconds = make_universe(out_dir, seed, index, **options)
    return index, str(path), seconds


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: simulate ``--count`` universes into ``--out`` (resumable)."""
    from tqdm import tqdm

    parser = argparse.ArgumentParser(
        prog="python -m exagan_tf.cosmo.nbody",
        description="Simulate PM N-body universes in the CosmoFlow HDF5 layout "
                    "(files univ_<seed>_<index>.h5; existing files are skipped).")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, default=1, help="number of universes")
    parser.add_argument("--start", type=int, default=0, help="index of the first universe")
    parser.add_argument("--ngrid", type=int, default=128, help="voxels (and particles) per side")
    parser.add_argument("--box-size", type=float, default=None,
                        help="box side in Mpc/h (default: ngrid, i.e. 1 Mpc/h voxels)")
    parser.add_argument("--seed", type=int, default=0, help="run seed")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--threads", type=int, default=None,
                        help="FFT threads per worker (default: cores / workers)")
    parser.add_argument("--nsteps", type=int, default=DEFAULT_NSTEPS, help="PM steps")
    parser.add_argument("--method", choices=("camb", "eh"), default="camb",
                        help="linear power spectrum")
    parser.add_argument("--mesh-factor", type=float, default=DEFAULT_MESH_FACTOR,
                        help="force-mesh cells per particle per dimension")
    parser.add_argument("--z-init", type=float, default=DEFAULT_Z_INIT, help="starting redshift")
    args = parser.parse_args(argv)

    for name in ("count", "workers", "nsteps"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)}: expected a positive integer")
    if args.ngrid < 8 or args.ngrid % 2:
        raise UserError(f"--ngrid {args.ngrid}: expected an even number >= 8")
    if args.start < 0 or args.seed < 0:
        raise UserError("--start and --seed must be >= 0")
    if args.mesh_factor <= 0 or (args.box_size is not None and args.box_size <= 0):
        raise UserError("--mesh-factor and --box-size must be positive")
    if args.z_init <= max(REDSHIFTS):
        raise UserError(f"--z-init {args.z_init}: expected > {max(REDSHIFTS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    options = {"ngrid": args.ngrid, "box_size": args.box_size, "nsteps": args.nsteps,
               "method": args.method, "mesh_factor": args.mesh_factor, "z_init": args.z_init,
               "threads": threads}

    todo = []
    for index in range(args.start, args.start + args.count):
        path = out_dir / universe_filename(args.seed, index)
        if path.exists():
            print(f"skipping {path}: already exists", file=sys.stderr)
        else:
            todo.append(index)
    if not todo:
        print(f"all {args.count} universes already exist in {out_dir}")
        return 0

    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), unit="universe", desc="universes")
    if args.workers == 1:
        for index in todo:
            with tqdm(total=args.nsteps, unit="step", desc=f"universe {index}",
                      leave=False) as steps:
                path, _ = make_universe(out_dir, args.seed, index, progress=steps.update,
                                        **options)
            bar.update(1)
    else:
        jobs = [(str(out_dir), args.seed, index, options) for index in todo]
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.workers) as pool:
            for _ in pool.map(_worker, jobs):
                bar.update(1)
    bar.close()
    minutes = (time.perf_counter() - t0) / 60.0
    print(f"wrote {len(todo)} universes to {out_dir} in {minutes * 60:.1f} s "
          f"({len(todo) / minutes:.2f} universes/minute, {args.workers} workers)")
    return 0


if __name__ == "__main__":
    main()
