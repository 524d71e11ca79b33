"""N-body snapshots for the baryon maps: particle positions at each snapshot redshift.

The particle-mesh run of :mod:`exagan_tf.cosmo.nbody` (2LPT initial conditions, FastPM
kick-drift-kick steps), stepped here so that every snapshot's positions are yielded on the way
instead of only the final ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError

#: The original's 11 snapshot redshifts.
REDSHIFTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


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

