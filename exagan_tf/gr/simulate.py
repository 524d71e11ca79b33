"""Stand-in GR / Newtonian potential pairs for the RACOON and PENGUIN classifiers.

The original data are gevolution runs (box 5120 Mpc/h, 256^3 grid, z_init 100, the same seed and
initial conditions for ``gravity theory = GR`` and ``= Newton``), saved as the scalar potential
phi at z = 20, 15, 10, 5, 1, 0. They cannot be downloaded, so this module makes pairs of the same
kind from one seed each:

1. One particle-mesh run (:func:`exagan_tf.cosmo.nbody.run_simulation`, 2LPT initial conditions,
   FastPM steps, CIC density contrast on the output grid) gives the matter density contrast
   ``delta(x, z)`` at the requested redshifts. Both members of the pair share it.
2. **Newton**: the Poisson equation in comoving coordinates (c = 1, phi dimensionless, lengths in
   Mpc/h, k in h/Mpc)::

       nabla^2 phi_N = 4 pi G a^2 rho_bar delta = (3/2) (H0/c)^2 Omega_m delta / a

3. **GR**: the weak-field Einstein 00 equation in Poisson (longitudinal / Newtonian) gauge,
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

What separates the classes (measured on 32^3 cubes, 64 train + 32 test seeds, ROC AUC on single
test slices, experiments/gr/demo*.yaml; the README has the table): the second-order terms grow
with the non-linear density, so they change the potential between redshifts differently from
Newtonian evolution, while the linear potential, which dominates the variance of every slice and
differs from seed to seed, is the same in both classes. The input that exposes this is the
potential at several redshifts as channels (``--input redshifts``, by default the originals'
outputs z = 20, 15, 10, 5, 1, 0): at A_s x 1e6 RACOON reaches 0.999, PENGUIN 0.996 and a
P(k)-only logistic regression 0.978; at the fiducial A_s all three stay at 0.50. phi(z=1) alone
leaves each slice its cosmic variance (A_s x 1e6: RACOON 0.81, P(k) 0.73, though the mean over a
cube's 96 slices separates the cubes, AUC 0.98-1.00); the growth-normalised difference reaches
RACOON 0.89, P(k) 0.86 at A_s x 1e6 and 0.50 at the fiducial A_s.

Growth normalisation (the original's final input): D_phi(z) = D(z) (1 + z), with D the linear
growth factor normalised to D(z=0) = 1, so that linear phi(z) / D_phi(z) does not depend on z,
and the growth-normalised difference phi(z=10)/D_phi(10) - phi(z=1)/D_phi(1) cancels the linear
Newtonian potential and keeps what is non-linear or relativistic.

File layout (as the original single ``.h5`` of pre-standardised cubes, seeds as the index)
-------------------------------------------------------------------------------------------
``gr_seed{seed:04d}`` and ``newton_seed{seed:04d}``: float32 (C, N, N, N) cubes, one channel per
requested redshift (or one channel for the growth-normalised difference), standardised with
the mean and standard deviation of the whole file per channel (both theories, all seeds);
``seeds`` int64 (n,). Attributes: ``channels`` (names), ``redshifts``, ``mean``, ``std`` (the
statistics that were removed; raw = std * stored + mean), ``standardised`` (False for a raw
file, for ``WholeCubeDataset2``), ``A_s``, ``amplification``, ``box_size_mpc_h``, ``ngrid``,
``z_init``, ``nsteps``, ``method``, ``density_gauge``, ``second_order``, ``horizon``, cosmology.

Command line::

    python -m exagan_tf.gr.simulate --out data/gr/demo_z6.h5 --seeds 96 --ngrid 32 --input redshifts
    python -m exagan_tf.gr.simulate --out data/gr/diff.h5 --seeds 96 --ngrid 32 --input difference
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.fft

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path

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
THEORIES = ("gr", "newton")


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


# --------------------------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PairOptions:
    """How one GR/Newton pair is made (every field is stored in the file's attributes)."""

    ngrid: int = NGRID
    box_size: float = BOX_SIZE
    amplification: float = 1.0
    redshifts: tuple[float, ...] = DIFFERENCE_REDSHIFTS
    difference: bool = True
    z_init: float = Z_INIT
    nsteps: int = 20
    mesh_factor: float = 2.0
    method: str = "eh"
    density_gauge: str = "nbody"
    horizon: bool = True
    second_order: bool = True

    def validate(self) -> None:
        """Raise :class:`UserError` on inconsistent options."""
        if self.ngrid < 4 or self.ngrid % 2:
            raise UserError(f"ngrid={self.ngrid}: expected an even number >= 4")
        if self.box_size <= 0:
            raise UserError(f"box_size={self.box_size}: expected a positive length in Mpc/h")
        if self.amplification <= 0:
            raise UserError(f"amplification={self.amplification}: expected A_s factor > 0")
        if not self.redshifts:
            raise UserError("redshifts: expected at least one redshift")
        if len(set(self.redshifts)) != len(self.redshifts):
            raise UserError(f"redshifts {list(self.redshifts)}: expected distinct values")
        if self.difference and len(self.redshifts) != 2:
            raise UserError(
                f"difference input needs two redshifts (z_high, z_low), got {list(self.redshifts)}"
            )
        if min(self.redshifts) < 0 or max(self.redshifts) >= self.z_init:
            raise UserError(
                f"redshifts {list(self.redshifts)}: expected 0 <= z < z_init={self.z_init:g}"
            )
        if self.mesh_factor < 1:
            raise UserError(f"mesh_factor={self.mesh_factor}: expected >= 1")
        if self.method not in ("eh", "camb"):
            raise UserError(f"method {self.method!r}: expected 'eh' or 'camb'")
        if self.density_gauge not in ("poisson", "nbody"):
            raise UserError(f"density_gauge {self.density_gauge!r}: expected 'poisson' or 'nbody'")

    @property
    def cosmology(self) -> Cosmology:
        """The cosmology with A_s = amplification * A_s(fiducial)."""
        return Cosmology(A_s=A_S_FIDUCIAL * self.amplification)

    @property
    def channels(self) -> list[str]:
        """Channel names of the stored cubes."""
        if self.difference:
            hi, lo = self.redshifts
            return [f"phi(z={hi:g})/D_phi({hi:g}) - phi(z={lo:g})/D_phi({lo:g})"]
        return [f"phi(z={z:g})" for z in self.redshifts]


def growth_normalised_difference(
    phi_high: np.ndarray, phi_low: np.ndarray, z_high: float, z_low: float, omega_m: float
) -> np.ndarray:
    """phi(z_high) / D_phi(z_high) - phi(z_low) / D_phi(z_low) (the original's final input)."""
    return phi_high / growth_factor_phi(z_high, omega_m) - phi_low / growth_factor_phi(
        z_low, omega_m
    )


def simulate_pair(seed: int, options: PairOptions) -> dict[str, np.ndarray]:
    """One GR/Newton pair from one seed: ``{"gr": cube, "newton": cube}``, float32 (C, N, N, N).

    The particle-mesh run uses ``numpy.random.default_rng(seed)`` for its initial conditions, so
    a pair depends on its seed and the options only.
    """
    options.validate()
    cosmo = options.cosmology
    sim = nbody.run_simulation(
        cosmo.phys,
        ngrid=options.ngrid,
        box_size=options.box_size,
        nsteps=options.nsteps,
        mesh_factor=options.mesh_factor,
        seed=int(seed),
        redshifts=options.redshifts,
        z_init=options.z_init,
        method=options.method,
        keep_fields=True,
    )
    om = cosmo.omega_m
    out: dict[str, list[np.ndarray]] = {"gr": [], "newton": []}
    for iz, z in enumerate(options.redshifts):
        a = 1.0 / (1.0 + z)
        delta = sim.density[..., iz].astype(np.float64)
        out["newton"].append(newtonian_potential(delta, options.box_size, a, om))
        out["gr"].append(
            relativistic_potential(
                delta,
                options.box_size,
                a,
                om,
                horizon=options.horizon,
                second_order=options.second_order,
                density_gauge=options.density_gauge,
            )
        )
    result = {}
    for theory, cubes in out.items():
        if options.difference:
            (z_hi, z_lo), (hi, lo) = options.redshifts, cubes
            cubes = [growth_normalised_difference(hi, lo, z_hi, z_lo, om)]
        result[theory] = np.stack(cubes).astype(np.float32)
    return result


def cube_name(theory: str, seed: int) -> str:
    """Dataset name of one cube in the original layout: ``gr_seed0007`` / ``newton_seed0007``."""
    return f"{theory}_seed{int(seed):04d}"


def write_dataset(
    path: str | Path,
    seeds: Sequence[int],
    options: PairOptions,
    *,
    standardise: bool = True,
    progress: bool = False,
) -> dict:
    """Simulate the pairs of ``seeds`` and write them to one HDF5 file (layout: module docstring).

    Two passes over a temporary file (raw cubes, then standardisation in place), so memory stays
    at one pair; the file appears under ``path`` only when complete, and an existing ``path`` is
    never overwritten.

    Returns:
        The attributes written (statistics per channel included).
    """
    import h5py

    options.validate()
    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(f"seeds: expected distinct non-negative integers, got {seeds[:5]}...")
    nchan = len(options.channels)
    total = np.zeros(nchan)
    total2 = np.zeros(nchan)
    count = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), unit="pair", desc=f"{Path(path).name}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for seed in seeds:
                pair = simulate_pair(seed, options)
                for theory in THEORIES:
                    cube = pair[theory]
                    total += cube.astype(np.float64).sum(axis=(1, 2, 3))
                    total2 += (cube.astype(np.float64) ** 2).sum(axis=(1, 2, 3))
                    f.create_dataset(cube_name(theory, seed), data=cube)
                count += len(THEORIES) * options.ngrid**3
                if bar is not None:
                    bar.update(1)
            mean = total / count
            std = np.sqrt(np.maximum(total2 / count - mean**2, 0.0))
            if np.any(std <= 0):
                raise UserError(f"{path}: a channel has zero variance; nothing to standardise")
            if standardise:
                for seed in seeds:
                    for theory in THEORIES:
                        ds = f[cube_name(theory, seed)]
                        ds[...] = (
                            (ds[...] - mean[:, None, None, None]) / std[:, None, None, None]
                        ).astype(np.float32)
            cosmo = options.cosmology
            attrs = {
                "channels": options.channels,
                "redshifts": list(options.redshifts),
                "difference": options.difference,
                "mean": mean,
                "std": std,
                "standardised": standardise,
                "A_s": cosmo.A_s,
                "amplification": options.amplification,
                "sigma8": cosmo.sigma8,
                "omega_m": cosmo.omega_m,
                "h": cosmo.h,
                "n_s": cosmo.n_s,
                "box_size_mpc_h": options.box_size,
                "ngrid": options.ngrid,
                "z_init": options.z_init,
                "nsteps": options.nsteps,
                "mesh_factor": options.mesh_factor,
                "method": options.method,
                "density_gauge": options.density_gauge,
                "horizon": options.horizon,
                "second_order": options.second_order,
            }
            f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
            for key, value in attrs.items():
                f.attrs[key] = value
    if bar is not None:
        bar.close()
    return attrs


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m exagan_tf.gr.simulate``."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.gr.simulate",
        description="Simulate GR/Newton potential pairs into one HDF5 file (seeds as the index).",
    )
    p.add_argument("--out", required=True, help="output .h5 file (never overwritten)")
    p.add_argument("--seeds", type=int, required=True, help="number of seeds (pairs)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--ngrid", type=int, default=32, help="grid cells per side (original 256)")
    p.add_argument("--box-size", type=float, default=BOX_SIZE, help="box side in Mpc/h (5120)")
    p.add_argument(
        "--amplification", type=float, default=1.0, help="A_s / 2.215e-9 (originals: 10 to 1e4)"
    )
    p.add_argument(
        "--input",
        choices=("difference", "redshifts"),
        default="difference",
        help="difference: phi(z1)/D_phi(z1) - phi(z2)/D_phi(z2) of --redshifts (default 10 1); "
        "redshifts: one channel per redshift (default 20 15 10 5 1 0)",
    )
    p.add_argument("--redshifts", type=float, nargs="+", default=None, help="snapshot redshifts")
    p.add_argument("--z-init", type=float, default=Z_INIT, help="initial redshift (100)")
    p.add_argument("--nsteps", type=int, default=20, help="particle-mesh steps (default 20)")
    p.add_argument(
        "--mesh-factor",
        type=float,
        default=2.0,
        help="force-mesh cells per particle per side (2; 1 is ~4x faster)",
    )
    p.add_argument("--method", choices=("eh", "camb"), default="eh", help="linear P(k)")
    p.add_argument(
        "--density-gauge",
        choices=("nbody", "poisson"),
        default="nbody",
        help="nbody (default): linear phi_GR = phi_N; poisson: adds the linear horizon filter",
    )
    p.add_argument("--no-horizon", action="store_true", help="drop the 3H phi' + 3H^2 psi terms")
    p.add_argument("--linear", action="store_true", help="drop the second-order terms")
    p.add_argument(
        "--raw", action="store_true", help="store raw (unstandardised) cubes (WholeCubeDataset2)"
    )
    return p.parse_args(argv)


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: simulate and write the file, with a progress bar."""
    args = parse_args(argv)
    if args.seeds < 1 or args.first_seed < 0:
        raise UserError(f"--seeds={args.seeds} --first-seed={args.first_seed}: expected >= 1, >= 0")
    if args.redshifts is None:
        redshifts = DIFFERENCE_REDSHIFTS if args.input == "difference" else REDSHIFTS
    else:
        redshifts = tuple(args.redshifts)
    options = PairOptions(
        ngrid=args.ngrid,
        box_size=args.box_size,
        amplification=args.amplification,
        redshifts=redshifts,
        difference=args.input == "difference",
        z_init=args.z_init,
        nsteps=args.nsteps,
        mesh_factor=args.mesh_factor,
        method=args.method,
        density_gauge=args.density_gauge,
        horizon=not args.no_horizon,
        second_order=not args.linear,
    )
    options.validate()
    if Path(args.out).exists():
        raise UserError(f"{args.out}: already exists; refusing to overwrite it")
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    attrs = write_dataset(args.out, seeds, options, standardise=not args.raw, progress=True)
    print(
        f"wrote {args.out}: {args.seeds} GR/Newton pairs of {len(attrs['channels'])} x "
        f"{args.ngrid}^3 ({', '.join(attrs['channels'])}), A_s = {attrs['A_s']:.4g}, "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
