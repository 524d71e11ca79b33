"""GR/Newton pairs from one seed each, and the HDF5 file that holds them.

One particle-mesh run per seed (:func:`exagan_tf.cosmo.nbody.run_simulation`) gives the density
contrast at the requested redshifts; both potentials of :mod:`exagan_tf.gr.potentials` are
solved from it, stored per redshift or as the growth-normalised difference.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path
from exagan_tf.gr.potentials import (
    A_S_FIDUCIAL,
    BOX_SIZE,
    DIFFERENCE_REDSHIFTS,
    NGRID,
    Z_INIT,
    Cosmology,
    growth_factor_phi,
    newtonian_potential,
    relativistic_potential,
)

THEORIES = ("gr", "newton")


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

