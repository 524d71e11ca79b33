"""Command line of the N-body code: ``python -m exagan_tf.cosmo.nbody --out DIR --count N ...``.

Universe ``index`` of run ``seed`` is made from ``numpy.random.SeedSequence([seed, index])``
alone, so the files do not depend on the worker count or on which other universes were made;
existing files are skipped, so a run resumes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from exagan_tf.cosmo.nbody.cosmology import REDSHIFTS, draw_parameters
from exagan_tf.cosmo.nbody.io import universe_filename, write_universe
from exagan_tf.cosmo.nbody.pm import (
    DEFAULT_MESH_FACTOR,
    DEFAULT_NSTEPS,
    DEFAULT_Z_INIT,
    run_simulation,
)
from exagan_tf.errors import UserError, cli_errors


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
