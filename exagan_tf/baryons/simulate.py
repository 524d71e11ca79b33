"""Dark-matter and electron-pressure slabs with a known truth, the stand-in for BAHAMAS.

The original pairs (Tröster et al. 2019) are projected dark matter and electron pressure from the
BAHAMAS hydrodynamical simulation, which cannot be had here. This module makes pairs of the same
kind from real N-body dark matter (:mod:`exagan_tf.cosmo.nbody`: 2LPT initial conditions and
FastPM kick-drift-kick particle-mesh steps) and a gas model painted on the particles that is
**non-local** (a particle's temperature is set by the mass of the halo it belongs to, found with
friends-of-friends) and **stochastic** (a smooth log-normal scatter field), while the noise-free
conditional mean stays computable, so the irreducible error of any painter is known.

Modules: :mod:`~exagan_tf.baryons.gas` (the gas model: haloes' temperatures, atmospheres, gas
fractions, scatter, gas elements), :mod:`~exagan_tf.baryons.haloes` (friends-of-friends groups
and their centres), :mod:`~exagan_tf.baryons.snapshots` (the N-body particles at each snapshot),
:mod:`~exagan_tf.baryons.projection` (slab geometry and maps), :mod:`~exagan_tf.baryons.mapfiles`
(``baryon_maps.h5`` and ``stats.json``); this module runs them per universe
(:func:`simulate_maps`) and is the command line. Their public names are importable from here.

Command line::

    python -m exagan_tf.baryons.simulate --out data/baryons --npart 64 --box 128 --npix 128
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.baryons.gas import (  # noqa: F401
    G_CGS,
    K_B_KEV,
    KEV,
    M_H,
    ME_C2_KEV,
    MPC,
    MSUN,
    RHO_CRIT0_H2,
    SIGMA_T,
    GasModel,
    PaintedParticles,
    atmosphere_temperature,
    bound_gas_fraction,
    compton_y,
    diffuse_temperature,
    hubble_e,
    ngp_lookup,
    paint_particles,
    particle_mass,
    radius_200m,
    scatter_field,
    virial_temperature,
)
from exagan_tf.baryons.haloes import (  # noqa: F401
    fof_groups,
    halo_centres,
    min_image,
    particle_tree,
)
from exagan_tf.baryons.mapfiles import (  # noqa: F401
    MAPS_FILE,
    SPLITS,
    STATS_FILE,
    UniverseMaps,
    data_missing_message,
    map_statistics,
    merge_universes,
    read_maps,
    read_stats,
    write_maps,
)
from exagan_tf.baryons.projection import (  # noqa: F401
    KINDS,
    SHEETS_PER_KIND,
    deposit_2d,
    project_slab,
    slab_layout,
    smoothed_deposit_2d,
)
from exagan_tf.baryons.snapshots import REDSHIFTS, evolve_particles  # noqa: F401
from exagan_tf.cosmo import nbody
from exagan_tf.errors import UserError, cli_errors

#: Fiducial cosmology (Omega_m, sigma_8, n_s, H_0 [km/s/Mpc]), close to WMAP9 as in BAHAMAS.
FIDUCIAL = (0.2793, 0.821, 0.972, 70.0)


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
