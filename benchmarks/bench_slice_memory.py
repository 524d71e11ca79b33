"""Slicer memory and checksum cost on full-size cubes: peak RSS per worker, seconds, SHA-256 rate.

Writes, in a temporary folder (``--tmp``, default the system's):

- ``cosmoflow``: CosmoFlow-layout universes (``full`` (512, 512, 512, 4) int16 contiguous,
  ``redshifts``, ``namePar``, ``physPar``, ``unitPar`` datasets, 1 GiB each), written slab by slab
  (one slab of Poisson counts of mean 1, shifted per slab: the content does not matter here);
- ``huge``: a universe declaring ``full`` of 4096^3 x 4 int16 in chunks of 64^3 x 4 with only 8
  chunks stored (a few MB on disk).

Each case runs the slicer's ``main`` in a child process (``--workers 1``: the slicing runs in that
process) that reports its peak RSS (VmHWM, reset after the imports) and how much it grew over the
RSS with Python, NumPy, h5py and the slicer imported. ``--code`` measures the same cases with
another checkout's slicer (e.g. the code before streaming). The inputs stay in ``--data``.

    python benchmarks/bench_slice_memory.py --data DIR [--universes 2] [--code PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exagan_tf.cosmo.slice_universes.memory import measure_slicing  # noqa: E402


def write_cosmoflow(path: Path, seed: int, grid: int = 512) -> None:
    """A universe in CosmoFlow's layout, written one 8-plane slab at a time."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    slab = rng.poisson(1.0, (8, grid, grid, 4)).astype(np.int16)
    with h5py.File(path, "w") as f:
        full = f.create_dataset("full", (grid, grid, grid, 4), dtype=np.int16)
        for i in range(0, grid, 8):
            full[i : i + 8] = slab + (i // 8) % 5
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


def slice_case(inp: Path, out: Path, code: Path, *flags: str) -> dict:
    """Slice ``inp`` into ``out`` in a child with ``code``'s slicer; seconds and RSS."""
    shutil.rmtree(out, ignore_errors=True)
    args = ["--input", str(inp), "--output", str(out), "--no-progress", *flags]
    if "--workers" not in flags:
        args += ["--workers", "1"]
    # cwd: not the repository, since ``-c`` puts the working folder first on sys.path
    measured = measure_slicing(args, pythonpath=code, cwd=inp, check=False)
    res = measured.result
    lines = res.stdout.strip().splitlines()
    record = {
        "rc": res.returncode,
        "summary": next((x for x in lines if "input files" in x), ""),
        "stderr": [x for x in res.stderr.splitlines() if "error" in x or "warning" in x],
    }
    if measured.peak_mib is not None:
        record.update(seconds=measured.seconds, rss_before_mib=measured.before_mib,
                      peak_rss_mib=measured.peak_mib, slicing_adds_mib=measured.grew_mib)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder for the inputs (kept)")
    parser.add_argument("--universes", type=int, default=2, help="CosmoFlow cubes (2)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to measure (this one)")
    args = parser.parse_args()
    data = args.data
    (data / "huge").mkdir(parents=True, exist_ok=True)
    (data / "cf").mkdir(parents=True, exist_ok=True)
    if not (data / "huge" / "huge.h5").exists():
        write_huge(data / "huge" / "huge.h5")
    t0 = time.perf_counter()
    for i in range(args.universes):
        if not (data / "cf" / f"univ_{i}.h5").exists():
            write_cosmoflow(data / "cf" / f"univ_{i}.h5", seed=i)
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    results = {}
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        tmp = Path(tmp)
        cases = {
            "4096^3 declared, img_dim 16, step 1024": ("huge", "--img-dim", "16", "--step", "1024"),
            "4096^3 declared, img_dim 128, step 512": ("huge", "--step", "512"),
            "CosmoFlow 512^3 x 4, defaults": ("cf", "--val-fraction", "0"),
            "CosmoFlow 512^3 x 4, img_dim 16": ("cf", "--val-fraction", "0", "--img-dim", "16"),
            "CosmoFlow 512^3 x 4, gzip": ("cf", "--val-fraction", "0", "--compression", "gzip"),
        }
        for name, (folder, *flags) in cases.items():
            results[name] = slice_case(data / folder, tmp / name.split(",")[0][:4], args.code,
                                       *flags)
            print(name, json.dumps(results[name]), file=sys.stderr)
        results["CosmoFlow 512^3 x 4, 2 workers"] = slice_case(
            data / "cf", tmp / "cf2", args.code, "--val-fraction", "0", "--workers", "2"
        )
        shards = sorted((tmp / "cf2" / "train").glob("*.h5"))
        verify = args.code / "exagan_tf" / "cosmo" / "data.py"
        if shards and "verify_shards" in verify.read_text():
            check = (
                "import time, sys; from exagan_tf.cosmo import data; t = time.perf_counter(); "
                f"n = data.verify_shards({[str(s) for s in shards]!r}); "
                "print(n, time.perf_counter() - t)"
            )
            n_bytes = sum(s.stat().st_size for s in shards)
            out = subprocess.run(
                [sys.executable, "-c", check], env={**os.environ, "PYTHONPATH": str(args.code)},
                cwd=data, capture_output=True, text=True, check=True,
            ).stdout.split()
            results["verify shards at training start"] = {
                "shards": int(out[-2]),
                "MiB": n_bytes / 2**20,
                "seconds": float(out[-1]),
                "MiB_per_s": n_bytes / 2**20 / float(out[-1]),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
