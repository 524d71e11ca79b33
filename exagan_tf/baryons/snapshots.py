"""N-body snapshots for the baryon maps: particle positions at each snapshot redshift.

The particle-mesh run of :mod:`exagan_tf.cosmo.nbody` (2LPT initial conditions, FastPM
kick-drift-kick steps), stepped here so that every snapshot's positions are yielded on the way
instead of only the final ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from exagan_tf.cosmo import nbody
from exagan_tf.cosmo.nbody import pm
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
    kick-drift-kick, uniform steps in ``a`` with every snapshot on a step edge), through the
    same :func:`~exagan_tf.cosmo.nbody.pm.lpt_particles` and
    :func:`~exagan_tf.cosmo.nbody.pm.kick_drift_kick`, since its public function returns only
    the final positions; with the same arguments the particles are identical (tested against
    its NGP counts). ``positions``
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
    pos, mom = pm.lpt_particles(phi1_k, phi2_k, npart, box_size, a_init, omega_m, 2, threads)
    del phi1_k, phi2_k
    for a in pm.kick_drift_kick(pos, mom, a_steps, nmesh, box_size, omega_m, threads):
        for iz in np.flatnonzero(np.isclose(a_snap, a, rtol=1e-12, atol=0.0)):
            yield int(iz), float(z_snap[iz]), pos.copy()

