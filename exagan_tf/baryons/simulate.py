"""Dark-matter and electron-pressure slabs with a known truth, the stand-in for BAHAMAS.

The original pairs (Tröster et al. 2019) are projected dark matter and electron pressure from the
BAHAMAS hydrodynamical simulation, which cannot be had here. This module makes pairs of the same
kind from real N-body dark matter (:mod:`exagan_tf.cosmo.nbody`: 2LPT initial conditions and
FastPM kick-drift-kick particle-mesh steps) and a gas model painted on the particles that is
**non-local** (a particle's temperature is set by the mass of the halo it belongs to, found with
friends-of-friends) and **stochastic** (a smooth log-normal scatter field), while the noise-free
conditional mean stays computable, so the irreducible error of any painter is known.

Gas model (per particle i of mass m_p at redshift z; units in brackets)
--------------------------------------------------------------------------
* Haloes: friends-of-friends groups with linking length ``b`` times the mean interparticle
  spacing (Davis et al. 1985), at least ``min_particles`` members; mass M = N m_p [Msun/h].
* Halo gas is isothermal at the virial temperature of a halo of overdensity Delta = 200 with
  respect to the critical density,

      kT_vir = mu m_H G M / (2 R_Delta),   R_Delta = (3 M / (4 pi Delta rho_c(z)))^(1/3),

  so kT_vir = (mu m_H G / 2) (4 pi Delta rho_c0 / 3)^(1/3) M^(2/3) E(z)^(2/3) [keV], the
  self-similar mass-temperature scaling kT ∝ M^(2/3) E(z)^(2/3) (Kaiser 1986), with
  E(z) = H(z)/H0 of flat LambdaCDM. About 8 keV for M = 1e15 Msun/h at z = 0 (h = 0.7).
* Halo gas is depleted in low-mass groups: a fraction f_gas(M) = 1 / (1 + (M_c / M)^beta) of the
  cosmic share Omega_b/Omega_m stays bound (Schneider & Teyssier 2015, their Eq. 2.19; M_c =
  1.2e14 Msun/h, beta = 0.6).
* Hot atmospheres: gas outside the FoF group but inside a halo's accretion shock is shock-heated
  by that halo. The shock lies well beyond the virialised dark matter: 1.2-2 times the splashback
  radius (Aung, Nagai & Lau 2021), median 2.6-3.5 R_200c = ~1.6-2.2 R_200m in the 324 clusters of
  The Three Hundred (Zhang et al. 2025). Every particle within r_sh = ``shock_radius`` R_200m of a
  halo's centre of mass takes kT_vir(M) for r <= R_200m and kT_vir(M) (R_200m / r)^p beyond (p =
  ``outskirt_slope``), where R_200m = (3 M / (4 pi 200 Omega_m rho_c0))^(1/3) [comoving Mpc/h] is
  the radius within which the mean density is 200 times the cosmic mean (about the FoF boundary
  for b = 0.2); a particle in several atmospheres, or in a halo and an atmosphere, takes the
  hottest temperature. With the gas elements below, this is what makes the rule non-local at map
  resolution: the pressure of a pixel of ordinary density beside a cluster is set by the cluster's
  mass. Atmosphere gas has the gas fraction f_gas(M) of the halo that heats it, so a halo's gas
  profile continues smoothly across the FoF boundary.
* Diffuse gas (particles in no halo and no atmosphere) follows a density-temperature relation
  T = T_0 (1 + delta)^(gamma - 1) (the power law of Hui & Gnedin 1997) with the CIC density
  contrast delta of the particles on the particle lattice, T_0 = 1e4 K and an effective
  gamma = 2 that includes the shock heating of the warm-hot gas in filaments (T ~ 1e5-1e6 K at
  delta ~ 10-100, as in Davé et al. 2001); it keeps the full Omega_b/Omega_m.
* Electrons per particle: N_e = f_gas Omega_b/Omega_m m_p / (mu_e m_H), mu_e = 1.14; thermal
  electron energy E_i = N_e kT_i [keV] (electron and gas temperatures equal).
* Gas elements: the gas is pressure-supported, so unlike the collisionless dark matter it is
  smooth inside haloes (no gas-rich subhaloes, a cored profile) and on the filtering scale
  outside them. Each particle's energy is deposited as a Gaussian gas element of sigma
  ``halo_smoothing`` R_200m of the halo whose gas it is (0.5 R_200m: the projected pressure
  of simulated and observed clusters is far more extended than their dark matter, e.g. only
  ~55% of the Compton-y within 5 R_500 lies inside R_500, Arnaud et al. 2010) and
  ``diffuse_smoothing`` (0.5 Mpc/h, about the filtering scale of the warm-hot gas) for
  diffuse gas. The dark-matter map stays plain CIC, so the pressure of a pixel depends on the
  halo masses around it, not on its own density alone.
* Scatter: E_i is multiplied by S(x_i) = exp(sigma G(x_i) - sigma^2/2), with G a Gaussian random
  field of unit variance (white noise smoothed with a Gaussian of ``scatter_scale`` Mpc/h,
  normalised exactly by its discrete variance, read at the particle's nearest mesh node), drawn
  independently per snapshot and independent of the dark matter. E[S] = 1 exactly, so the
  noise-free conditional mean given the dark matter is the same sum with S = 1.

Maps
----
* The dark matter of a slab is the CIC-projected particle number per pixel divided by the mean
  number per pixel of a slab of that thickness, 1 + delta_2D: the slabs of one axis have mean 1
  together, each slab about 1 (its own large-scale density contrast is kept).
* The pressure map is the line-of-sight integral of the electron pressure, sum_i E_i W_i / A_pix
  [eV cm^-3 Mpc], with W_i the 2D CIC weights convolved with particle i's Gaussian gas
  element (projected, the 3D Gaussian is the 2D one of the same sigma; a particle's element
  stays in its own slab) and A_pix the comoving pixel area; multiply by
  sigma_T / (m_e c^2) (:func:`compton_y`) for the thermal SZ Compton-y parameter.
* A particle belongs to a slab by its coordinate along the projection axis (half-open ranges), so
  the slabs of one axis conserve the particle number and the painted energy exactly.
* Geometry: each axis of the periodic box is cut into ``n_sheets`` sheets; *thin* slabs are 2
  sheets, *thick* slabs 3 sheets (the original's 100 and 150 Mpc/h from 50 Mpc/h sheets),
  projected along all three axes. A training sample is a thin-slab tile plus a thick-slab tile
  (:mod:`exagan_tf.baryons.data`). The test slabs come from an independent realisation (seed + 1),
  so training and test slabs share no matter at all. ``--train-universes N`` (default 1) adds
  training realisations (seeds seed + 2, seed + 3, ...; the test universe is unchanged): their
  slabs are appended to the training split, so pairs combine tiles across universes too.

Command line::

    python -m exagan_tf.baryons.simulate --out data/baryons --npart 64 --box 128 --npix 128
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.sparse
import scipy.sparse.csgraph
from scipy.spatial import cKDTree

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, open_h5, write_json_atomic

#: The original's 11 snapshot redshifts.
REDSHIFTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
#: Fiducial cosmology (Omega_m, sigma_8, n_s, H_0 [km/s/Mpc]), close to WMAP9 as in BAHAMAS.
FIDUCIAL = (0.2793, 0.821, 0.972, 70.0)
MAPS_FILE = "baryon_maps.h5"
STATS_FILE = "stats.json"
SPLITS = ("train", "test")
KINDS = ("thin", "thick")
SHEETS_PER_KIND = {"thin": 2, "thick": 3}

# Physical constants (CGS unless stated)
G_CGS = 6.674e-8  # cm^3 g^-1 s^-2
M_H = 1.6726e-24  # g (proton mass; m_H to 0.1%)
MSUN = 1.98847e33  # g
MPC = 3.0857e24  # cm
KEV = 1.602177e-9  # erg
K_B_KEV = 8.617333e-8  # keV / K
RHO_CRIT0_H2 = 2.775e11  # Msun/h per (Mpc/h)^3: critical density today, h^2 Msun / Mpc^3
SIGMA_T = 6.6524587e-25  # cm^2
ME_C2_KEV = 510.99895  # keV


@dataclasses.dataclass(frozen=True)
class GasModel:
    """Parameters of the gas painted on the particles (see the module docstring).

    Attributes:
        linking_length: FoF linking length in units of the mean interparticle spacing.
        min_particles: smallest FoF group counted as a halo.
        delta_vir: halo overdensity with respect to the critical density (200).
        mu: mean molecular weight of the ionised gas (0.59).
        mu_e: mean mass per electron in units of m_H (1.14).
        m_c: depletion mass scale M_c [Msun/h].
        beta: depletion slope.
        t0: diffuse-gas temperature at mean density [K].
        gamma: effective index of the diffuse-gas relation T ∝ (1 + delta)^(gamma - 1).
        scatter: sigma of ln S, the log-normal scatter.
        scatter_scale: Gaussian smoothing length of the scatter field [Mpc/h].
        shock_radius: radius of a halo's hot atmosphere (its accretion shock) in units of
            R_200m; 0 switches the atmospheres off (only FoF members are hot).
        outskirt_slope: p of the atmosphere's temperature T_vir (R_200m / r)^p beyond R_200m.
        halo_smoothing: size of the gas element of halo and atmosphere gas in units of the
            halo's R_200m (the sigma of its Gaussian); 0: point-like.
        diffuse_smoothing: size of the gas element of diffuse gas [Mpc/h]; 0: point-like.
    """

    linking_length: float = 0.2
    min_particles: int = 20
    delta_vir: float = 200.0
    mu: float = 0.59
    mu_e: float = 1.14
    m_c: float = 1.2e14
    beta: float = 0.6
    t0: float = 1.0e4
    gamma: float = 2.0
    scatter: float = 0.3
    scatter_scale: float = 2.0
    shock_radius: float = 2.0
    outskirt_slope: float = 1.0
    halo_smoothing: float = 0.5
    diffuse_smoothing: float = 0.5


# --------------------------------------------------------------------------------------------
# Gas physics
# --------------------------------------------------------------------------------------------


def hubble_e(z: float | np.ndarray, omega_m: float) -> np.ndarray:
    """E(z) = H(z) / H0 of flat LambdaCDM without radiation."""
    z = np.asarray(z, dtype=np.float64)
    return np.sqrt(omega_m * (1.0 + z) ** 3 + 1.0 - omega_m)


def virial_temperature(
    mass: float | np.ndarray, z: float, omega_m: float, h: float, model: GasModel | None = None
) -> np.ndarray:
    """kT_vir [keV] of haloes of mass ``mass`` [Msun/h] at redshift ``z``.

    kT = mu m_H G M / (2 R), R = (3 M / (4 pi Delta rho_c(z)))^(1/3), rho_c(z) = rho_c0 E(z)^2:
    kT ∝ M^(2/3) E(z)^(2/3). The h factors cancel in G M / R only up to h^(2/3), kept here.
    """
    model = model or GasModel()
    mass_g = np.asarray(mass, dtype=np.float64) * MSUN / h
    rho_c = RHO_CRIT0_H2 * h**2 * MSUN / MPC**3 * hubble_e(z, omega_m) ** 2  # g / cm^3
    radius = (3.0 * mass_g / (4.0 * np.pi * model.delta_vir * rho_c)) ** (1.0 / 3.0)
    return model.mu * M_H * G_CGS * mass_g / (2.0 * radius) / KEV


def bound_gas_fraction(mass: float | np.ndarray, model: GasModel | None = None) -> np.ndarray:
    """f_gas(M) = 1 / (1 + (M_c / M)^beta): the share of the cosmic baryons a halo keeps."""
    model = model or GasModel()
    mass = np.asarray(mass, dtype=np.float64)
    return 1.0 / (1.0 + (model.m_c / mass) ** model.beta)


def diffuse_temperature(delta: np.ndarray, model: GasModel | None = None) -> np.ndarray:
    """kT [keV] of diffuse gas: T_0 (1 + delta)^(gamma - 1), delta floored at -0.99."""
    model = model or GasModel()
    one_plus = np.maximum(np.asarray(delta, dtype=np.float64) + 1.0, 0.01)
    return K_B_KEV * model.t0 * one_plus ** (model.gamma - 1.0)


def particle_mass(omega_m: float, box_size: float, npart: int) -> float:
    """Mass of one N-body particle [Msun/h]: Omega_m rho_c0 L^3 / N."""
    return RHO_CRIT0_H2 * omega_m * (box_size / npart) ** 3


def compton_y(pressure_map: np.ndarray) -> np.ndarray:
    """Compton-y of a pressure map in eV cm^-3 Mpc: y = sigma_T / (m_e c^2) int P_e dl."""
    return np.asarray(pressure_map) * 1e-3 * SIGMA_T / ME_C2_KEV * MPC


# --------------------------------------------------------------------------------------------
# Haloes and fields
# --------------------------------------------------------------------------------------------


def particle_tree(pos: np.ndarray, box_size: float) -> cKDTree:
    """Periodic k-d tree of (3, n) positions [Mpc/h] (float64, wrapped into the box); its
    ``data`` are the points in particle order. Built once per snapshot for the FoF groups and
    the atmospheres."""
    points = np.mod(np.ascontiguousarray(np.asarray(pos, dtype=np.float64).T), box_size)
    return cKDTree(points, boxsize=box_size)


def min_image(d: np.ndarray, box_size: float) -> np.ndarray:
    """Periodic separations wrapped to [-box_size / 2, box_size / 2)."""
    return np.mod(d + 0.5 * box_size, box_size) - 0.5 * box_size


def fof_groups(pos: np.ndarray, box_size: float, linking: float,
               tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Friends-of-friends groups of particles in a periodic box.

    Args:
        pos: (3, n) positions [Mpc/h] in [0, box_size).
        box_size: box side [Mpc/h].
        linking: linking length [Mpc/h]: particles closer than this are friends.
        tree: :func:`particle_tree` of ``pos``, when the caller has built it already.

    Returns:
        ``(labels, sizes)``: the group index of every particle (n,) and the members per group.
    """
    tree = particle_tree(pos, box_size) if tree is None else tree
    pairs = tree.query_pairs(linking, output_type="ndarray")
    n = tree.n
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return labels, np.bincount(labels)


def radius_200m(mass: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Comoving R_200m [Mpc/h] of haloes of mass ``mass`` [Msun/h]: the mean density inside is
    200 times the cosmic mean matter density, (3 M / (4 pi 200 Omega_m rho_c0))^(1/3), the same
    at every redshift in comoving units."""
    mass = np.asarray(mass, dtype=np.float64)
    return (3.0 * mass / (4.0 * np.pi * 200.0 * omega_m * RHO_CRIT0_H2)) ** (1.0 / 3.0)


def halo_centres(pos: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                 box_size: float) -> np.ndarray:
    """Periodic centres of mass (n_groups, 3) [Mpc/h] of the FoF groups ``groups``.

    Each member is unwrapped to the periodic image nearest its group's first member before
    averaging, so a group straddling the box edge has its centre inside the group.
    """
    pos = np.asarray(pos, dtype=np.float64)
    slot = np.full(int(labels.max()) + 1, -1, np.int64)
    slot[groups] = np.arange(groups.size)
    member = np.flatnonzero(slot[labels] >= 0)
    g = slot[labels[member]]
    first = np.full(groups.size, -1, np.int64)
    order = np.argsort(g, kind="stable")
    uniq, start = np.unique(g[order], return_index=True)
    first[uniq] = member[order[start]]
    ref = pos[:, first[g]]
    d = min_image(pos[:, member] - ref, box_size)
    n = np.bincount(g, minlength=groups.size).astype(np.float64)
    centre = np.stack([np.bincount(g, weights=d[c], minlength=groups.size) / n
                       for c in range(3)], axis=1)
    return np.mod(pos[:, first].T + centre, box_size)


def atmosphere_temperature(
    pos: np.ndarray, centres: np.ndarray, masses: np.ndarray, z: float, omega_m: float,
    h: float, box_size: float, model: GasModel | None = None, tree: cKDTree | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The hottest halo atmosphere each particle lies in: ``(kT [keV], M [Msun/h])``, both 0
    outside every atmosphere.

    Atmosphere of a halo of mass M centred at ``centre``: kT_vir(M) for r <= R_200m,
    kT_vir(M) (R_200m / r)^p for R_200m < r <= ``shock_radius`` R_200m (periodic distances).
    ``tree``: :func:`particle_tree` of ``pos``, when the caller has built it already.
    """
    model = model or GasModel()
    n = np.shape(pos)[1]
    kt_out = np.zeros(n)
    mass_out = np.zeros(n)
    if len(masses) == 0 or model.shock_radius <= 0:
        return kt_out, mass_out
    tree = particle_tree(pos, box_size) if tree is None else tree
    points = tree.data
    r200 = radius_200m(masses, omega_m)
    kt_vir = virial_temperature(masses, z, omega_m, h, model)
    r_shock = np.minimum(model.shock_radius * r200, 0.5 * box_size)
    for c, rs, rv, kt, m in zip(centres, r_shock, r200, kt_vir, masses):
        idx = np.asarray(tree.query_ball_point(c, rs), dtype=np.int64)
        if idx.size == 0:
            continue
        d = min_image(points[idx] - c, box_size)
        r = np.sqrt(np.sum(d * d, axis=1))
        t = kt * (rv / np.maximum(r, rv)) ** model.outskirt_slope
        hotter = t > kt_out[idx]  # indices within one ball are distinct
        kt_out[idx[hotter]] = t[hotter]
        mass_out[idx[hotter]] = m
    return kt_out, mass_out


def scatter_field(n: int, box_size: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian random field of exactly unit variance, smoothed on ``scale`` Mpc/h; (n, n, n).

    White noise w ~ N(0, 1) per cell convolved with exp(-k^2 scale^2 / 2); the variance of the
    result is mean_k W(k)^2 for every cell, so dividing by its square root gives G ~ N(0, 1)
    pointwise (not just on average over the box).
    """
    white = rng.standard_normal((n,) * 3)
    kx, ky, kz = nbody._wavenumbers(n, box_size)
    k2 = kx.astype(np.float64) ** 2 + ky**2 + kz**2
    window = np.exp(-0.5 * k2 * scale**2)
    # rfft stores half the modes; the full mean of W^2 weights the inner planes twice.
    weight = np.full(window.shape[-1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    variance = float(np.sum(window**2 * weight)) / n**3
    field = scipy.fft.irfftn(scipy.fft.rfftn(white) * window, s=(n,) * 3)
    return field / np.sqrt(variance)


def ngp_lookup(field: np.ndarray, pos: np.ndarray, box_size: float) -> np.ndarray:
    """Value of a periodic (m, m, m) mesh field at the node nearest to each particle (n,)."""
    m = field.shape[0]
    cell = np.floor(np.asarray(pos, dtype=np.float64) * (m / box_size) + 0.5).astype(np.int64) % m
    return field[cell[0], cell[1], cell[2]]


@dataclasses.dataclass
class PaintedParticles:
    """Per-particle gas of one snapshot.

    Attributes:
        energy: thermal electron energy E_i = N_e kT_i S_i [keV] (with scatter).
        energy_mean: the same with S = 1: the noise-free conditional mean given the dark matter.
        temperature: kT_i [keV].
        halo_mass: M of the particle's halo [Msun/h], 0 for diffuse particles.
        n_haloes: FoF haloes with at least ``min_particles`` members.
        in_atmosphere: particles heated by a halo atmosphere beyond their own temperature.
        smoothing: sigma of each particle's Gaussian gas element [Mpc/h].
    """

    energy: np.ndarray
    energy_mean: np.ndarray
    temperature: np.ndarray
    halo_mass: np.ndarray
    n_haloes: int
    in_atmosphere: np.ndarray
    smoothing: np.ndarray


def paint_particles(
    pos: np.ndarray,
    z: float,
    phys: Sequence[float],
    box_size: float,
    npart: int,
    rng: np.random.Generator,
    model: GasModel | None = None,
) -> PaintedParticles:
    """Paint thermal electron energy on the particles of one snapshot (module docstring rules).

    Args:
        pos: (3, npart^3) positions [Mpc/h].
        z: snapshot redshift.
        phys: (Omega_m, sigma_8, n_s, H_0 [km/s/Mpc]).
        box_size: box side [Mpc/h].
        npart: particles per dimension.
        rng: draws the scatter field.
        model: gas-model parameters.
    """
    model = model or GasModel()
    omega_m, h = float(phys[0]), float(phys[3]) / 100.0
    m_p = particle_mass(omega_m, box_size, npart)
    tree = particle_tree(pos, box_size)
    labels, sizes = fof_groups(pos, box_size, model.linking_length * box_size / npart, tree)
    members = sizes[labels]
    in_halo = members >= model.min_particles
    halo_mass = np.where(in_halo, members * m_p, 0.0)
    # diffuse gas: CIC density contrast on the particle lattice, read back at the particles
    counts = nbody.cic_deposit(pos, npart, box_size)
    delta = counts.astype(np.float64) * (npart**3 / pos.shape[1]) - 1.0
    delta_p = nbody.cic_interpolate([delta.astype(np.float32)], pos, box_size)[0]
    kt = diffuse_temperature(delta_p, model)
    f_gas = np.ones(pos.shape[1])
    kt[in_halo] = virial_temperature(halo_mass[in_halo], z, omega_m, h, model)
    f_gas[in_halo] = bound_gas_fraction(halo_mass[in_halo], model)
    groups = np.flatnonzero(sizes >= model.min_particles)
    kt_atm, m_atm = atmosphere_temperature(pos, halo_centres(pos, labels, groups, box_size),
                                           sizes[groups] * m_p, z, omega_m, h, box_size, model,
                                           tree)
    in_atmosphere = kt_atm > kt
    kt[in_atmosphere] = kt_atm[in_atmosphere]
    f_gas[in_atmosphere] = bound_gas_fraction(m_atm[in_atmosphere], model)
    baryon_fraction = nbody.BARYON_FRACTION
    electrons = f_gas * baryon_fraction * m_p * MSUN / h / (model.mu_e * M_H)
    energy_mean = electrons * kt
    g = ngp_lookup(scatter_field(npart, box_size, model.scatter_scale, rng), pos, box_size)
    energy = energy_mean * np.exp(model.scatter * g - 0.5 * model.scatter**2)
    host = np.where(in_atmosphere, m_atm, halo_mass)  # the halo whose gas a particle is
    smoothing = np.where(host > 0, model.halo_smoothing * radius_200m(np.maximum(host, 1.0),
                                                                       omega_m),
                         model.diffuse_smoothing)
    return PaintedParticles(energy, energy_mean, kt, halo_mass, int(groups.size), in_atmosphere,
                            smoothing)


# --------------------------------------------------------------------------------------------
# N-body snapshots
# --------------------------------------------------------------------------------------------


def evolve_particles(
    phys: Sequence[float],
    npart: int,
    box_size: float,
    redshifts: Sequence[float] = REDSHIFTS,
    *,
    nsteps: int = nbody.DEFAULT_NSTEPS,
    seed: int | np.random.Generator = 0,
    mesh_factor: float = nbody.DEFAULT_MESH_FACTOR,
    z_init: float = nbody.DEFAULT_Z_INIT,
    method: str = "eh",
    threads: int = 1,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, z, positions)`` at each snapshot redshift, from high to low z.

    The same steps as :func:`exagan_tf.cosmo.nbody.run_simulation` (2LPT at ``z_init``, FastPM
    kick-drift-kick, uniform steps in ``a`` with every snapshot on a step edge), built from its
    internal functions because its public function returns only the final positions; with the
    same arguments the particles are identical (tested against its NGP counts). ``positions``
    is (3, npart^3) float32 [Mpc/h], a fresh copy per snapshot.
    """
    omega_m, sigma8, n_s, h0 = (float(v) for v in phys)
    z_snap = np.asarray(redshifts, dtype=np.float64)
    if np.any(z_snap >= z_init) or np.any(z_snap < 0):
        raise UserError(f"redshifts {list(redshifts)}: expected 0 <= z < z_init = {z_init:g}")
    a_snap = 1.0 / (1.0 + z_snap)
    a_init = 1.0 / (1.0 + z_init)
    a_steps = nbody.time_steps(a_init, a_snap, nsteps)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    nmesh = int(round(npart * mesh_factor))

    def power(k: np.ndarray) -> np.ndarray:
        return nbody.linear_power(k, omega_m, sigma8, n_s, h0, method=method)

    delta_lin = nbody.gaussian_field(npart, box_size, power, rng, threads)
    phi1_k, phi2_k = nbody._lpt_potentials(delta_lin, box_size, threads)
    del delta_lin
    d1 = float(nbody.growth_factor(a_init, omega_m))
    f1 = float(nbody.growth_rate(a_init, omega_m))
    om_a = float(nbody._omega_m_of_a(np.float64(a_init), omega_m))
    d2 = -3.0 / 7.0 * d1 * d1 * om_a ** (-1.0 / 143.0)
    f2 = 2.0 * om_a ** (6.0 / 11.0)
    a2e = a_init**2 * float(nbody._efunc(np.float64(a_init), omega_m))
    lattice = np.arange(npart, dtype=np.float32) * np.float32(box_size / npart)
    pos = np.empty((3, npart**3), dtype=np.float32)
    mom = np.empty((3, npart**3), dtype=np.float32)
    grid = np.meshgrid(lattice, lattice, lattice, indexing="ij", sparse=True)
    for c in range(3):
        psi1 = nbody._lpt_component(phi1_k, c, -1.0, box_size, threads)
        psi2 = nbody._lpt_component(phi2_k, c, 1.0, box_size, threads)
        pos[c] = np.broadcast_to(grid[c], (npart,) * 3).reshape(-1)
        pos[c] += np.float32(d1) * psi1 + np.float32(d2) * psi2
        mom[c] = np.float32(a2e * f1 * d1) * psi1 + np.float32(a2e * f2 * d2) * psi2
    del psi1, psi2, phi1_k, phi2_k
    np.mod(pos, np.float32(box_size), out=pos)
    pos[pos >= box_size] = 0.0

    a_half = 0.5 * (a_steps[1:] + a_steps[:-1])
    gp = functools.partial(nbody._momentum_growth, omega_m=omega_m)
    dg = functools.partial(nbody.growth_factor, omega_m=omega_m)
    force = nbody._pm_force(pos, nmesh, box_size, threads)
    mom += np.float32((gp(a_half[0]) - gp(a_steps[0])) / dg(a_steps[0])) * force
    for i in range(a_steps.size - 1):
        a0, a1 = a_steps[i], a_steps[i + 1]
        pos += np.float32((dg(a1) - dg(a0)) / gp(a_half[i])) * mom
        np.mod(pos, np.float32(box_size), out=pos)
        pos[pos >= box_size] = 0.0
        for iz in np.flatnonzero(np.isclose(a_snap, a1, rtol=1e-12, atol=0.0)):
            yield int(iz), float(z_snap[iz]), pos.copy()
        if i + 1 < a_half.size:
            force = nbody._pm_force(pos, nmesh, box_size, threads)
            mom += np.float32((gp(a_half[i + 1]) - gp(a_half[i])) / dg(a1)) * force


# --------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------


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


@dataclasses.dataclass
class UniverseMaps:
    """Slab maps of one universe: ``maps[kind][field]`` is (nz, n_slabs, npix, npix) float32
    for kind in thin/thick and field in dm/pressure/pressure_mean; ``slabs[kind]`` is
    (n_slabs, 3) int (axis, first sheet, sheets); ``n_haloes`` (nz,)."""

    maps: dict
    slabs: dict
    n_haloes: np.ndarray
    particles_per_slab: dict


def simulate_maps(
    phys: Sequence[float] = FIDUCIAL,
    *,
    npart: int = 64,
    box_size: float = 128.0,
    npix: int = 128,
    n_sheets: int = 6,
    redshifts: Sequence[float] = REDSHIFTS,
    nsteps: int = nbody.DEFAULT_NSTEPS,
    seed: int = 0,
    model: GasModel | None = None,
    method: str = "eh",
    progress=None,
) -> UniverseMaps:
    """Simulate one universe and return its dark-matter, pressure and mean-pressure slab maps.

    Args:
        phys: cosmology (Omega_m, sigma_8, n_s, H_0).
        npart: particles per dimension.
        box_size: box side [Mpc/h].
        npix: map pixels per side (pixel = box_size / npix Mpc/h).
        n_sheets: sheets per axis (thin slabs: 2 sheets, thick: 3).
        redshifts: snapshot redshifts (output order).
        nsteps: PM steps from z_init to the lowest redshift.
        seed: the universe's seed (initial field and scatter fields).
        model: gas model.
        method: linear power, "eh" (Eisenstein & Hu) or "camb".
        progress: called with a line of text after each snapshot (snapshots done, elapsed
            time and the time left for this universe).
    """
    model = model or GasModel()
    layout = slab_layout(n_sheets)
    sheet = box_size / n_sheets
    nz = len(redshifts)
    fields = ("dm", "pressure", "pressure_mean")
    maps = {
        kind: {f: np.zeros((nz, len(slabs), npix, npix), np.float32) for f in fields}
        for kind, slabs in layout.items()
    }
    per_slab = {kind: np.zeros((nz, len(slabs)), np.int64) for kind, slabs in layout.items()}
    n_haloes = np.zeros(nz, np.int64)
    seeds = np.random.SeedSequence([seed, 7]).spawn(nz + 1)
    pix_area_cm2 = (box_size / npix / (float(phys[3]) / 100.0) * MPC) ** 2
    to_map = 1e3 / pix_area_cm2 / MPC  # keV per pixel -> eV cm^-3 Mpc
    t0 = time.perf_counter()
    for done, (iz, z, pos) in enumerate(evolve_particles(
        phys, npart, box_size, redshifts, nsteps=nsteps, seed=np.random.default_rng(seeds[-1]),
        method=method,
    ), start=1):
        gas = paint_particles(pos, z, phys, box_size, npart, np.random.default_rng(seeds[iz]),
                              model)
        n_haloes[iz] = gas.n_haloes
        for kind, slabs in layout.items():
            for s, (axis, first, width) in enumerate(slabs):
                lo, hi = first * sheet, (first + width) * sheet
                count, energy, energy_mean = project_slab(
                    pos, [None, gas.energy, gas.energy_mean], axis, lo, hi, npix, box_size,
                    smoothing=gas.smoothing,
                )
                per_slab[kind][iz, s] = int(round(count.sum()))
                mean_count = npart**3 * width / n_sheets / npix**2
                maps[kind]["dm"][iz, s] = count / mean_count
                maps[kind]["pressure"][iz, s] = energy * to_map
                maps[kind]["pressure_mean"][iz, s] = energy_mean * to_map
        if progress is not None:  # snapshots cost about the same: time left by their count
            elapsed = time.perf_counter() - t0
            left = time.strftime("%H:%M:%S", time.gmtime(elapsed / done * (nz - done)))
            progress(f"z={z:.3f} ({done}/{nz}): {gas.n_haloes} haloes, {elapsed:.1f} s elapsed, "
                     f"left {left}")
    slabs = {kind: np.array(s, dtype=np.int64) for kind, s in layout.items()}
    return UniverseMaps(maps, slabs, n_haloes, per_slab)


# --------------------------------------------------------------------------------------------
# Statistics stored beside the data
# --------------------------------------------------------------------------------------------


def map_statistics(maps: dict, redshifts: Sequence[float]) -> dict:
    """Per-redshift means and standard deviations of the summed (thin + thick) training maps.

    Over all thin/thick combinations the pixel variance of the sum is exactly
    var(thin pixels) + var(thick pixels) and the mean is the sum of the means, so no pair needs
    forming. Returns plain lists (JSON): ``redshifts``, ``dm_mean``, ``dm_std``,
    ``pressure_mean``, ``pressure_std``, ``pressure_min``.
    """
    out: dict = {"redshifts": [float(z) for z in redshifts]}
    for name, key in (("dm", "dm"), ("pressure", "pressure")):
        thin = maps["thin"][key].astype(np.float64)
        thick = maps["thick"][key].astype(np.float64)
        axes = (1, 2, 3)
        out[f"{name}_mean"] = (thin.mean(axis=axes) + thick.mean(axis=axes)).tolist()
        out[f"{name}_std"] = np.sqrt(thin.var(axis=axes) + thick.var(axis=axes)).tolist()
    out["pressure_min"] = (
        maps["thin"]["pressure"].min(axis=(1, 2, 3)).astype(np.float64)
        + maps["thick"]["pressure"].min(axis=(1, 2, 3))
    ).tolist()
    return out


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def merge_universes(parts: Sequence[UniverseMaps]) -> UniverseMaps:
    """The slabs of several universes as one: maps, slab tables and per-slab particle counts
    concatenated along the slab axis (in the order given), halo counts summed per redshift."""
    if len(parts) == 1:
        return parts[0]
    maps = {kind: {f: np.concatenate([p.maps[kind][f] for p in parts], axis=1)
                   for f in parts[0].maps[kind]} for kind in parts[0].maps}
    slabs = {kind: np.concatenate([p.slabs[kind] for p in parts]) for kind in parts[0].slabs}
    per_slab = {kind: np.concatenate([p.particles_per_slab[kind] for p in parts], axis=1)
                for kind in parts[0].particles_per_slab}
    return UniverseMaps(maps, slabs, np.sum([p.n_haloes for p in parts], axis=0), per_slab)


def write_maps(out_dir: Path, universes: dict[str, UniverseMaps], attrs: dict,
               redshifts: Sequence[float]) -> None:
    """Write ``baryon_maps.h5`` (groups train/test -> thin/thick -> dm, pressure, pressure_mean,
    slabs) and ``stats.json`` (per-redshift statistics of the training maps) atomically."""
    import h5py

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / MAPS_FILE) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("redshifts", data=np.asarray(redshifts, dtype=np.float64))
        for split, uni in universes.items():
            for kind in KINDS:
                g = f.create_group(f"{split}/{kind}")
                for field, arr in uni.maps[kind].items():
                    g.create_dataset(field, data=arr, compression="gzip", compression_opts=1,
                                     shuffle=True, chunks=(1, 1, *arr.shape[2:]))
                g.create_dataset("slabs", data=uni.slabs[kind])
                g.create_dataset("particles", data=uni.particles_per_slab[kind])
            f[split].create_dataset("n_haloes", data=uni.n_haloes)
        for key, value in attrs.items():
            f.attrs[key] = value
    stats = map_statistics(universes["train"].maps, redshifts)
    stats["attrs"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in
                      attrs.items()}
    write_json_atomic(out_dir / STATS_FILE, stats)


def data_missing_message(datadir: str | Path) -> str:
    """The one-line error for a missing data folder, naming the command that makes it."""
    return (
        f"{Path(datadir) / MAPS_FILE}: no such file; make the baryon data first with "
        f"`python -m exagan_tf.baryons.simulate --out {datadir} --train-universes 8` (the "
        "demo data; `make data-baryons` makes data/baryons)"
    )


def read_maps(datadir: str | Path, split: str) -> dict:
    """Read one split: ``{'redshifts', 'thin': {...}, 'thick': {...}, 'attrs'}``.

    Raises:
        UserError: the file is missing (naming the simulate command), unreadable or lacks a
            dataset.
    """
    path = Path(datadir) / MAPS_FILE
    if not path.exists():
        raise UserError(data_missing_message(datadir))
    if split not in SPLITS:
        raise UserError(f"split {split!r}: expected one of {SPLITS}")
    out: dict = {}
    with open_h5(path) as f:
        try:
            out["redshifts"] = f["redshifts"][()]
            for kind in KINDS:
                g = f[f"{split}/{kind}"]
                # pressure_mean (the noise-free truth) exists for simulated maps only
                out[kind] = {k: g[k][()] for k in ("dm", "pressure", "pressure_mean", "slabs")
                             if k != "pressure_mean" or k in g}
        except KeyError as err:
            raise UserError(f"{path}: missing dataset ({err}); re-run the simulate command "
                            "into a new folder") from None
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in
                        f.attrs.items()}
    z = np.asarray(out["redshifts"])
    if z.ndim != 1 or z.size == 0 or z.dtype.kind not in "iuf" or not np.all(np.isfinite(z)):
        raise UserError(f"{path}: 'redshifts' is {z.dtype} of shape {z.shape} "
                        f"({z.ravel()[:4].tolist()}); expected a non-empty list of finite numbers")
    nz = len(z)
    for kind in KINDS:
        shape = out[kind]["dm"].shape
        if len(shape) != 4 or shape[0] != nz or shape[1] == 0 or shape[2] != shape[3]:
            raise UserError(f"{path}: {split}/{kind}/dm has shape {shape}; expected "
                            f"({nz}, n_slabs >= 1, npix, npix)")
        for field in ("dm", "pressure", "pressure_mean"):
            if field not in out[kind]:
                continue
            arr = out[kind][field]
            name = f"{split}/{kind}/{field}"
            if arr.shape != shape:
                raise UserError(f"{path}: {name} has shape {arr.shape}; expected {shape} "
                                f"like {split}/{kind}/dm")
            if arr.dtype.kind not in "iuf":
                raise UserError(f"{path}: {name} holds {arr.dtype}; expected numbers")
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                where = np.unravel_index(bad[0], shape)
                raise UserError(f"{path}: {name} has {bad.size} NaN, infinite or negative "
                                f"values (first {arr[where]} at {tuple(map(int, where))}); "
                                "densities and pressures are finite and >= 0")
    return out


def read_stats(datadir: str | Path) -> dict:
    """The per-redshift statistics written beside the maps (``stats.json``)."""
    path = Path(datadir) / STATS_FILE
    if not path.exists():
        raise UserError(data_missing_message(datadir))
    try:
        stats = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    keys = ("redshifts", "dm_std", "pressure_std")  # what the transforms are built from
    if not isinstance(stats, dict):
        raise UserError(f"{path}: a JSON {type(stats).__name__}; expected a mapping with "
                        f"{', '.join(keys)}")
    for key in keys:
        v = stats.get(key)
        if not (isinstance(v, list) and v and len(v) == len(stats.get("redshifts"))
                and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                        and np.isfinite(x) and (key == "redshifts" or x > 0) for x in v)):
            raise UserError(f"{path}: '{key}' is {str(v)[:60]}; expected one finite number per "
                            "redshift (standard deviations > 0)")
    return stats


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.baryons.simulate",
        description="N-body dark matter + painted electron pressure -> slab maps (HDF5) and "
        "per-redshift statistics (JSON) for the baryon-painting models.",
    )
    p.add_argument("--out", required=True, help="output folder (e.g. data/baryons)")
    p.add_argument("--npart", type=int, default=64, help="particles per dimension (64)")
    p.add_argument("--box", type=float, default=128.0, help="box side in Mpc/h (128)")
    p.add_argument("--npix", type=int, default=128, help="map pixels per side (128)")
    p.add_argument("--sheets", type=int, default=6, help="sheets per axis (6)")
    p.add_argument("--nsteps", type=int, default=nbody.DEFAULT_NSTEPS, help="PM steps (30)")
    p.add_argument("--seed", type=int, default=0, help="training universe seed; test: seed+1")
    p.add_argument("--train-universes", type=int, default=1,
                   help="training realisations (1); the extra ones use seeds seed+2, seed+3, ...")
    p.add_argument("--redshifts", type=float, nargs="+", default=list(REDSHIFTS),
                   help="snapshot redshifts (default: the original 11)")
    p.add_argument("--method", choices=("eh", "camb"), default="eh",
                   help="linear power spectrum (Eisenstein & Hu or CAMB)")
    p.add_argument("--scatter", type=float, default=GasModel.scatter,
                   help="sigma of the log-normal scatter (0.3)")
    p.add_argument("--shock-radius", type=float, default=GasModel.shock_radius,
                   help="hot-atmosphere radius in R_200m (2; 0: only FoF members are hot)")
    p.add_argument("--halo-smoothing", type=float, default=GasModel.halo_smoothing,
                   help="gas-element size of halo gas in R_200m (0.5; 0: on the particles)")
    p.add_argument("--diffuse-smoothing", type=float, default=GasModel.diffuse_smoothing,
                   help="gas-element size of diffuse gas in Mpc/h (0.5; 0: on the particles)")
    return p


def check_options(args: argparse.Namespace) -> None:
    """Raise UserError for inconsistent command-line options."""
    if args.npart < 8 or args.npix < 8:
        raise UserError(f"--npart={args.npart} --npix={args.npix}: both must be at least 8")
    if args.train_universes < 1:
        raise UserError(f"--train-universes={args.train_universes}: expected at least 1")
    if args.box <= 0:
        raise UserError(f"--box={args.box}: expected a positive box size in Mpc/h")
    if args.scatter < 0:
        raise UserError(f"--scatter={args.scatter}: expected sigma >= 0")
    if min(args.halo_smoothing, args.diffuse_smoothing) < 0:
        raise UserError(f"--halo-smoothing={args.halo_smoothing} --diffuse-smoothing="
                        f"{args.diffuse_smoothing}: expected sizes >= 0")
    if args.shock_radius < 0:
        raise UserError(f"--shock-radius={args.shock_radius}: expected >= 0 (in R_200m; 0 = "
                        "no atmospheres)")
    if sorted(set(args.redshifts)) != sorted(args.redshifts) or min(args.redshifts) < 0:
        raise UserError(f"--redshifts {args.redshifts}: expected distinct values >= 0")


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Simulate the training and the test universe and write their maps."""
    args = _parser().parse_args(argv)
    check_options(args)
    out = Path(args.out)
    if (out / MAPS_FILE).exists():
        raise UserError(f"{out / MAPS_FILE}: already exists; refusing to overwrite it "
                        "(choose another --out)")
    slab_layout(args.sheets)
    model = GasModel(scatter=args.scatter, shock_radius=args.shock_radius,
                     halo_smoothing=args.halo_smoothing,
                     diffuse_smoothing=args.diffuse_smoothing)
    redshifts = sorted(args.redshifts)
    # (split, seed): the first training universe and the test universe as always (seed, seed+1)
    plan = [("train", args.seed), ("test", args.seed + 1)] + [
        ("train", args.seed + 1 + i) for i in range(1, args.train_universes)]
    parts: dict[str, list] = {split: [] for split in SPLITS}
    t0 = time.perf_counter()
    for i, (split, seed) in enumerate(plan):
        print(f"{split} (universe {i + 1} of {len(plan)}, seed {seed}): simulating "
              f"{args.npart}^3 particles in {args.box:g} Mpc/h, {len(redshifts)} snapshots",
              flush=True)
        parts[split].append(simulate_maps(
            FIDUCIAL, npart=args.npart, box_size=args.box, npix=args.npix, n_sheets=args.sheets,
            redshifts=redshifts, nsteps=args.nsteps, seed=seed, model=model,
            method=args.method, progress=lambda line, s=split: print(f"  {s} {line}",
                                                                     flush=True),
        ))
    universes = {split: merge_universes(parts[split]) for split in SPLITS}
    attrs = {
        "box_size_mpc_h": float(args.box), "npart": args.npart, "npix": args.npix,
        "n_sheets": args.sheets, "nsteps": args.nsteps, "seed": args.seed,
        "method": args.method, "cosmology": np.asarray(FIDUCIAL, dtype=np.float64),
        "pixel_mpc_h": float(args.box) / args.npix,
        "dm_units": "projected particle number / the mean per pixel of such a slab (1 + delta)",
        "pressure_units": "eV cm^-3 Mpc (line-of-sight integral of electron pressure)",
        "gas_model": json.dumps(dataclasses.asdict(model)),
        "test_seed": args.seed + 1,
        "train_seeds": np.asarray([seed for split, seed in plan if split == "train"]),
    }
    write_maps(out, universes, attrs, redshifts)
    print(f"wrote {out / MAPS_FILE} and {out / STATS_FILE} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
