"""GR and Newtonian potentials of one density field, as gevolution solves them.

Both members of a pair of :mod:`exagan_tf.gr.pairs` are solved from the same matter density
contrast ``delta(x, z)`` of one particle-mesh run; this module holds gevolution's default
cosmology, the background (conformal Hubble rate, growth of phi) and the two field equations:

1. **Newton**: the Poisson equation in comoving coordinates (c = 1, phi dimensionless, lengths in
   Mpc/h, k in h/Mpc)::

       nabla^2 phi_N = 4 pi G a^2 rho_bar delta = (3/2) (H0/c)^2 Omega_m delta / a

2. **GR**: the weak-field Einstein 00 equation in Poisson (longitudinal / Newtonian) gauge,
   ds^2 = a^2 [-(1 + 2 psi) dtau^2 + (1 - 2 phi) dx^2], as gevolution solves it for phi
   (Adamek, Daverio, Durrer & Kunz 2016, JCAP 07, 053, "gevolution: a cosmological N-body code
   based on General Relativity"; the phi update in ``gevolution.hpp``, ``prepareFTsource`` and
   ``solveModifiedPoissonFT``), kept to second order in phi::

      nabla^2 phi - 3 H phi' - 3 H^2 psi = 4 pi G a^2 rho_bar delta (1 - 4 phi) - 3/2 (grad phi)^2

   with H = a H(a) / c the conformal Hubble rate (h/Mpc) and ' = d/dtau. Here psi = phi (the
   anisotropic stress chi = phi - psi is itself second order and enters only through
   3 H^2 chi, a further H^2/k^2 suppression; it is left out), and the time derivative is that of
   linear growth: phi_1 ~ D/a gives phi_1' = (f - 1) H phi_1 (f = dlnD/dlna), and the quadratic
   part phi_2 ~ (D/a)^2 gives phi_2' = 2 (f - 1) H phi_2. Order by order, with S = 4 pi G a^2
   rho_bar delta::

       -(k^2 + 3 f H^2)        phi_1(k) = S(k)                                  (linear)
       -(k^2 + 3 (2f - 1) H^2) phi_2(k) = FT[-4 phi_1 S - (3/2) |grad phi_1|^2](k)  (2nd order)

   The first line is the linear scale-dependent correction near the horizon, (k^2 + 3 H^2) phi =
   -S in matter domination (f = 1): GR and Newton agree for k >> H, and phi_GR / phi_N =
   k^2 / (k^2 + 3 f H^2) on the largest modes (H = 3.0e-4 h/Mpc at z = 1 against the fundamental
   2 pi / 5120 = 1.2e-3 h/Mpc: 0.87 there; H = 6.2e-4 h/Mpc at z = 10: 0.57). The second line
   is the leading non-linear term: phi_2 / phi_1 ~ phi k_s^2 / k^2, so its relative size grows
   with the amplitude as A_s^(1/2), and it is enhanced on large scales by (k_s / k)^2, with k_s
   the scale of the gradients. An amplified A_s (the originals used x10 to x10^4) therefore
   makes the two classes easier to tell apart.

Gauge of the shared density (``density_gauge``): ``"nbody"`` (the default) reads the particle
density of the run as the N-body-gauge density (Fidler et al. 2015, PRD 92, 123517), which is
what a Newtonian simulation's particles follow and how gevolution's own Newtonian mode reads its
particles (``main.cpp`` projects them without metric corrections, commented "n-body gauge"). It
is converted to the Poisson-gauge density with delta_P = delta_Nb (1 + 3 f H^2 / k^2) before the
GR solve, so the linear parts of phi_GR and phi_N agree exactly (Chisari & Zaldarriaga 2011, PRD
83, 123505: a Newtonian simulation is correct to linear order on all scales in this reading) and
the classes differ only by the second-order terms, whose relative size is ~ phi ~ A_s^(1/2):
1e-4 at the fiducial A_s, tens of per cent at A_s x 1e6. ``"poisson"`` reads the same density as
the Poisson-gauge one: the horizon filter k^2 / (k^2 + 3 f H^2) then separates the classes at
linear order, at every amplitude, on the few largest modes; it changes with z (0.87 at z = 1,
0.57 at z = 10 on the fundamental), so any input that combines redshifts makes that case trivial
by P(k) alone, which the originals' P(k) baseline (accuracy 0.54-0.64) rules out for gevolution.

Particle trajectories are shared by the two members of a pair. In gevolution they differ too
(the geodesic equation with psi and the 3 phi and v^2 terms), which this stand-in neglects:
moving the GR particles with the second-order force instead (tried on 32^3 cubes) runs away at
A_s x 1e6, to phi = -2.3, far outside the weak-field expansion the equations above assume.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError

# --------------------------------------------------------------------------------------------
# Constants: gevolution's default cosmology (settings.ini of gevolution 1.x)
# --------------------------------------------------------------------------------------------

HUBBLE_DISTANCE = 2997.92458  # c / H0 in Mpc/h
A_S_FIDUCIAL = 2.215e-9
# sigma_8 of the fiducial cosmology below from CAMB (massless neutrinos), checked by
# tests/gr/test_simulate.py::test_sigma8_fiducial_matches_camb (slow)
SIGMA8_FIDUCIAL = 0.8484
BOX_SIZE = 5120.0  # Mpc/h
NGRID = 256
Z_INIT = 100.0
REDSHIFTS = (20.0, 15.0, 10.0, 5.0, 1.0, 0.0)
DIFFERENCE_REDSHIFTS = (10.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Cosmology:
    """Flat LambdaCDM parameters (gevolution defaults); ``A_s`` sets the amplitude.

    ``sigma8`` scales as A_s^(1/2) from the CAMB value at the fiducial A_s (the shape of P(k) is
    fixed by the other parameters).
    """

    h: float = 0.67556
    omega_b_h2: float = 0.022032
    omega_cdm_h2: float = 0.12038
    n_s: float = 0.9619
    A_s: float = A_S_FIDUCIAL

    @property
    def omega_m(self) -> float:
        """Matter density parameter today."""
        return (self.omega_b_h2 + self.omega_cdm_h2) / self.h**2

    @property
    def sigma8(self) -> float:
        """Linear rms overdensity in 8 Mpc/h spheres at z = 0."""
        return SIGMA8_FIDUCIAL * float(np.sqrt(self.A_s / A_S_FIDUCIAL))

    @property
    def phys(self) -> tuple[float, float, float, float]:
        """(Omega_m, sigma_8, n_s, H_0 in km/s/Mpc) for :mod:`exagan_tf.cosmo.nbody`."""
        return (self.omega_m, self.sigma8, self.n_s, 100.0 * self.h)


# --------------------------------------------------------------------------------------------
# Background
# --------------------------------------------------------------------------------------------


def conformal_hubble(a: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Conformal Hubble rate H = a H(a) / c in h/Mpc for flat LambdaCDM (no radiation).

    H = a E(a) / (c/H0) with E^2 = Omega_m a^-3 + 1 - Omega_m; in Einstein-de Sitter
    H = a^(-1/2) / 2997.9 h/Mpc.
    """
    a = np.asarray(a, dtype=np.float64)
    return a * np.sqrt(omega_m / a**3 + (1.0 - omega_m)) / HUBBLE_DISTANCE


def growth_factor_phi(z: float | np.ndarray, omega_m: float) -> np.ndarray:
    """D_phi(z) = D(z) (1 + z): the linear growth of the potential, D_phi(0) = 1.

    Linear phi ~ delta / a ~ D(a) / a, so phi(z) / D_phi(z) is the same at every redshift in
    linear theory.
    """
    z = np.asarray(z, dtype=np.float64)
    return nbody.growth_factor(1.0 / (1.0 + z), omega_m) * (1.0 + z)


# --------------------------------------------------------------------------------------------
# Field equations
# --------------------------------------------------------------------------------------------


def _k_grids(n: int, box_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable float64 kx, ky, kz (h/Mpc) for an rfftn of an n^3 grid."""
    kf = 2.0 * np.pi / box_size
    kxy = np.fft.fftfreq(n, d=1.0 / n) * kf
    kz = np.fft.rfftfreq(n, d=1.0 / n) * kf
    return kxy[:, None, None], kxy[None, :, None], kz[None, None, :]


def _check_cube(field: np.ndarray, name: str) -> np.ndarray:
    field = np.asarray(field, dtype=np.float64)
    n = field.shape[0] if field.ndim else 0
    if field.ndim != 3 or field.shape != (n, n, n) or n < 2:
        raise UserError(f"{name}: shape {field.shape}, expected a cube (n, n, n) with n >= 2")
    return field


def poisson_source(delta: np.ndarray, a: float, omega_m: float) -> np.ndarray:
    """S = 4 pi G a^2 rho_bar delta = (3/2) (H0/c)^2 Omega_m delta / a, in (h/Mpc)^2."""
    return 1.5 * omega_m / (a * HUBBLE_DISTANCE**2) * np.asarray(delta, dtype=np.float64)


def _solve(source: np.ndarray, box_size: float, mass2: float = 0.0) -> np.ndarray:
    """phi with -(k^2 + mass2) phi(k) = source(k), k = 0 mode zero (periodic, spectral)."""
    n = source.shape[0]
    kx, ky, kz = _k_grids(n, box_size)
    denom = kx * kx + ky * ky + kz * kz + mass2
    denom[0, 0, 0] = 1.0
    sk = scipy.fft.rfftn(source)
    sk /= -denom
    sk[0, 0, 0] = 0.0
    return scipy.fft.irfftn(sk, s=source.shape)


def gradient_squared(phi: np.ndarray, box_size: float) -> np.ndarray:
    """|grad phi|^2 with spectral derivatives, in (h/Mpc)^2 times the units of phi squared.

    The Nyquist planes are dropped from the derivative: an odd derivative of a real field has
    no real-valued Nyquist component.
    """
    n = phi.shape[0]
    kx, ky, kz = (k.copy() for k in _k_grids(n, box_size))
    if n % 2 == 0:
        kx[n // 2] = 0.0
        ky[:, n // 2] = 0.0
        kz[..., -1] = 0.0
    fk = scipy.fft.rfftn(phi)
    out = np.zeros_like(phi, dtype=np.float64)
    for k in (kx, ky, kz):
        out += scipy.fft.irfftn(1j * k * fk, s=phi.shape) ** 2
    return out


def newtonian_potential(delta: np.ndarray, box_size: float, a: float, omega_m: float) -> np.ndarray:
    """Newtonian potential: nabla^2 phi_N = (3/2) (H0/c)^2 Omega_m delta / a.

    Args:
        delta: (n, n, n) density contrast on a periodic grid.
        box_size: side in Mpc/h.
        a: scale factor.
        omega_m: matter density today.

    Returns:
        phi_N (n, n, n) float64, dimensionless (units of c^2), mean zero.
    """
    delta = _check_cube(delta, "delta")
    return _solve(poisson_source(delta, a, omega_m), box_size)


def relativistic_potential(
    delta: np.ndarray,
    box_size: float,
    a: float,
    omega_m: float,
    *,
    horizon: bool = True,
    second_order: bool = True,
    density_gauge: str = "nbody",
    return_parts: bool = False,
):
    """Weak-field GR potential phi in Poisson gauge to second order (see the module docstring).

    Args:
        delta: (n, n, n) density contrast on a periodic grid.
        box_size: side in Mpc/h.
        a: scale factor.
        omega_m: matter density today.
        horizon: keep the 3 H phi' + 3 H^2 psi terms (the horizon-scale correction); False
            gives the Newtonian operator with the second-order terms only.
        second_order: add phi_2 from -4 phi S - (3/2) |grad phi|^2.
        density_gauge: ``"nbody"`` (default): ``delta`` is the N-body-gauge density, converted
            with delta_P = delta (1 + 3 f H^2 / k^2), so that phi_1 equals the Newtonian
            potential exactly; ``"poisson"``: ``delta`` is the Poisson-gauge density, and phi_1
            carries the horizon filter k^2 / (k^2 + 3 f H^2).
        return_parts: return ``(phi_1, phi_2)`` instead of their sum.

    Returns:
        phi (n, n, n) float64, dimensionless, mean zero (or the two parts).
    """
    delta = _check_cube(delta, "delta")
    if density_gauge not in ("poisson", "nbody"):
        raise UserError(f"density_gauge {density_gauge!r}: expected 'poisson' or 'nbody'")
    hc = float(conformal_hubble(a, omega_m))
    f = float(nbody.growth_rate(a, omega_m))
    source = poisson_source(delta, a, omega_m)
    mass1 = 3.0 * f * hc * hc if horizon else 0.0
    if density_gauge == "nbody" and horizon:
        # S_P(k) = S(k) (k^2 + 3 f H^2) / k^2, so -(k^2 + 3 f H^2) phi_1 = S_P gives phi_N
        phi1 = _solve(source, box_size)
    else:
        phi1 = _solve(source, box_size, mass1)
    if not second_order:
        return (phi1, np.zeros_like(phi1)) if return_parts else phi1
    quadratic = -4.0 * phi1 * source - 1.5 * gradient_squared(phi1, box_size)
    mass2 = 3.0 * (2.0 * f - 1.0) * hc * hc if horizon else 0.0
    phi2 = _solve(quadratic, box_size, mass2)
    return (phi1, phi2) if return_parts else phi1 + phi2

