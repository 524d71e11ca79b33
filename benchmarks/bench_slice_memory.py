"""Slicer memory and checksum cost on full-size cubes: peak RSS per worker, seconds, SHA-256 rate.

Writes, in a temporary folder (``--tmp``, default the system's):

- ``cosmoflow``: CosmoFlow-layout universes (``full`` (512, 512, 512, 4) int16 contiguous,
  ``redshifts``, ``namePar``, ``physPar``, ``unitPar`` datasets, 1 GiB each), written slab by slab
  with Poisson counts of mean ~1;
- ``huge``: a universe declaring ``full`` of 4096^3 x 4 int16 in chunks of 64^3 x 4 with only 8
  chunks stored (a few MB on disk).

Each case runs ``python -m exagan_tf.cosmo.slice_universes`` in a child process (``--workers 1``:
the slicing runs in that process) and reads the child's peak RSS from ``getrusage(CHILDREN)``;
the baseline is a child that only imports the slicer (Python, NumPy, h5py). ``--code`` points at
another checkout to measure the same cases with its slicer (e.g. the code before streaming).

    python benchmarks/bench_slice_memory.py [--universes 2] [--code PATH] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_cosmoflow(path: Path, seed: int, grid: int = 512) -> None:
    """A universe in CosmoFlow's layout, written one 8-plane slab at a time."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        full = f.create_dataset("full", (grid, grid, grid, 4), dtype=np.int16)
        for i in range(0, grid, 8):
            lam = rng.lognormal(-0.5, 1.0, (8, grid, grid, 4))
            full[i : i + 8] = np.minimum(rng.poisson(lam), 4000).astype(np.int16)
        f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])
        f["namePar"] = np.array([b"Omega_m", b"sigma_8", b"N_spec", b"H_0"])
        f["unitPar"] = rng.uniform(-1, 1, 4)
        f["physPar"] = np.array([0.3, 0.8, 0.96, 70.0]) * (1 + 0.1 * f["unitPar"][()])


def write_huge(path: Path, grid: int = 4096, chunk: int = 64) -> None:
    """A universe declaring grid^3 x 4 int16, chunked, with 8 chunks stored."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        full = f.create_dataset(
            "full", (grid,) * 3 + (4,), dtype=np.int16, chunks=(chunk,) * 3 + (4,)
        )
        rng = np.random.default_rng(0)
        for k in range(8):
            full[k * chunk : (k + 1) * chunk, :chunk, :chunk] = rng.poisson(
                1.0, (chunk,) * 3 + (4,)
            ).astype(np.int16)
        f["redshifts"] = np.array([0.0, 0.5, 1.5, 3.0])


def child(args: list[str], code: Path, timeout: float = 3600) -> dict:
    """Run ``python args`` with ``code`` first on the path; its seconds, peak RSS and output."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rc": out.returncode,
        "seconds": seconds,
        # ru_maxrss of CHILDREN is the largest child so far: valid when it grows
        "peak_rss_mib": peak / 1024 if peak > before else None,
        "stdout": out.stdout.strip().splitlines()[-1:] or [""],
        "stderr": [x for x in out.stderr.strip().splitlines() if "error" in x or "warn" in x],
    }


def slice_case(inp: Path, out: Path, code: Path, *flags: str) -> dict:
    args = ["-m", "exagan_tf.cosmo.slice_universes", "--input", str(inp), "--output", str(out)]
    return child([*args, "--workers", "1", "--no-progress", *flags], code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--universes", type=int, default=2, help="CosmoFlow cubes (2)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to measure (this one)")
    parser.add_argument("--tmp", type=Path, default=None, help="scratch folder")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        # the smallest child first, so CHILDREN's running maximum grows case by case
        base = child(["-c", "import exagan_tf.cosmo.slice_universes, h5py, numpy"], args.code)
        results["baseline import"] = base
        (tmp / "huge").mkdir()
        write_huge(tmp / "huge" / "huge.h5")
        results["4096^3 declared, img_dim 16, step 1024"] = slice_case(
            tmp / "huge", tmp / "out_huge16", args.code, "--img-dim", "16", "--step", "1024"
        )
        results["4096^3 declared, img_dim 128, step 512"] = slice_case(
            tmp / "huge", tmp / "out_huge128", args.code, "--step", "512"
        )
        (tmp / "cf").mkdir()
        t0 = time.perf_counter()
        for i in range(args.universes):
            write_cosmoflow(tmp / "cf" / f"univ_{i}.h5", seed=i)
        print(f"wrote {args.universes} CosmoFlow cubes in {time.perf_counter() - t0:.0f} s")
        results["CosmoFlow 512^3 x 4, defaults"] = slice_case(
            tmp / "cf", tmp / "out_cf", args.code, "--val-fraction", "0"
        )
        results["CosmoFlow 512^3 x 4, defaults, gzip"] = slice_case(
            tmp / "cf", tmp / "out_cfz", args.code, "--val-fraction", "0", "--compression",
            "gzip",
        )
        shards = sorted((tmp / "out_cf" / "train").glob("*.h5"))
        if shards and (args.code / "exagan_tf" / "cosmo" / "data.py").read_text().count(
            "verify_shards"
        ):
            check = (
                "import time, sys; from exagan_tf.cosmo import data; t = time.perf_counter(); "
                f"n = data.verify_shards({[str(s) for s in shards]!r}); "
                "print(n, time.perf_counter() - t)"
            )
            n_bytes = sum(s.stat().st_size for s in shards)
            out = subprocess.run(
                [sys.executable, "-c", check], env={**os.environ, "PYTHONPATH": str(args.code)},
                capture_output=True, text=True, check=True,
            ).stdout.split()
            results["verify shards at training start"] = {
                "shards": int(out[0]),
                "MiB": n_bytes / 2**20,
                "seconds": float(out[1]),
                "MiB_per_s": n_bytes / 2**20 / float(out[1]),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
