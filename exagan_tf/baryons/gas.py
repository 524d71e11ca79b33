"""The gas painted on the N-body particles: non-local (halo mass sets the temperature) and
stochastic (a log-normal scatter field), with the noise-free conditional mean kept.

Part of the baryon stand-in of :mod:`exagan_tf.baryons.simulate`; the friends-of-friends groups
come from :mod:`exagan_tf.baryons.haloes`.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.fft
from scipy.spatial import cKDTree

from exagan_tf.baryons.haloes import fof_groups, halo_centres, min_image, particle_tree
from exagan_tf.cosmo import nbody

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


def radius_200m(mass: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Comoving R_200m [Mpc/h] of haloes of mass ``mass`` [Msun/h]: the mean density inside is
    200 times the cosmic mean matter density, (3 M / (4 pi 200 Omega_m rho_c0))^(1/3), the same
    at every redshift in comoving units."""
    mass = np.asarray(mass, dtype=np.float64)
    return (3.0 * mass / (4.0 * np.pi * 200.0 * omega_m * RHO_CRIT0_H2)) ** (1.0 / 3.0)


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
