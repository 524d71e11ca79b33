"""Stand-in GR / Newtonian potential pairs for the RACOON and PENGUIN classifiers.

The original data are gevolution runs (box 5120 Mpc/h, 256^3 grid, z_init 100, the same seed and
initial conditions for ``gravity theory = GR`` and ``= Newton``), saved as the scalar potential
phi at z = 20, 15, 10, 5, 1, 0. They cannot be downloaded, so this module makes pairs of the same
kind from one seed each: one particle-mesh run (:func:`exagan_tf.cosmo.nbody.run_simulation`,
2LPT initial conditions, FastPM steps, CIC density contrast on the output grid) gives the matter
density contrast ``delta(x, z)`` at the requested redshifts, and both members of the pair, the
Newtonian potential and the weak-field GR one, are solved from it.

Modules: :mod:`~exagan_tf.gr.potentials` (cosmology, background and the two field equations:
what the GR and Newtonian potentials are, and the gauge of the shared density),
:mod:`~exagan_tf.gr.pairs` (one pair per seed, growth normalisation and the HDF5 file); this
module is the command line. Their public names are importable from here.

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

Command line::

    python -m exagan_tf.gr.simulate --out data/gr/demo_z6.h5 --seeds 96 --ngrid 32 --input redshifts
    python -m exagan_tf.gr.simulate --out data/gr/diff.h5 --seeds 96 --ngrid 32 --input difference
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.gr.pairs import (  # noqa: F401
    THEORIES,
    PairOptions,
    cube_name,
    growth_normalised_difference,
    simulate_pair,
    write_dataset,
)
from exagan_tf.gr.potentials import (  # noqa: F401
    A_S_FIDUCIAL,
    BOX_SIZE,
    DIFFERENCE_REDSHIFTS,
    HUBBLE_DISTANCE,
    NGRID,
    REDSHIFTS,
    SIGMA8_FIDUCIAL,
    Z_INIT,
    Cosmology,
    conformal_hubble,
    gradient_squared,
    growth_factor_phi,
    newtonian_potential,
    poisson_source,
    relativistic_potential,
)

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
