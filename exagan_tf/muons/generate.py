"""Generate muons with the four trained generators into ROOT files.

Generation (``python -m exagan_tf.muons.generate``), as the original ``Generate_from_GAN.py``:
for each of ``--n`` muons requested, the count of each category is drawn from a Poisson law
with mean n * f_c, where f_c is the category's share of the full sample **by summed weight**
(each GAN learned its category's weighted distribution, so every generated muon of every
category carries the same weight W_total / n; ``--proportions count`` uses the raw counts as
the original did). Noise -> generator (the Keras model in inference mode; ``--engine numpy``:
its NumPy copy with batch norm folded) -> inverse transform
(cm, GeV/c; prompt muons at x = y = 0) -> ``pythia8-Geant4`` trees of ``--per-file`` muons.
Progress: a tqdm bar and the muons/s of the whole chain, ROOT output included.

**Throughput** (:func:`generate_to_root`). The noise of every batch is drawn in this thread,
in order; ``--workers`` threads (default 2) call the generator on the next batches while this
thread turns finished ones, in order, into branches and files, so the files do not depend on
the number of workers (tested bit for bit against the serial chain). TensorFlow and NumPy
release the GIL inside their kernels. Measured on the spline flow of ``flow_demo`` (per muon
of process CPU, benchmarks/bench_muons.py): the flow's inverse 7-10 us (its conditioner
matmuls, about 400 kFLOP per muon, run near the core's peak), the noise 0.1, the inverse
transform (float64, kept: exact and 0.07-0.19 us) and the float32 branches 0.1, the LZ4 ROOT
output 0.03-0.04; so the chain is the generator's, and it needs both cores. The CLI runs each
call on one TensorFlow thread when it has several workers, so the parallelism is the
workers' and no call waits on a descheduled thread of TensorFlow's pool: with other processes
on the cores (load 10), the 6-D flow alone took 7.9 against 9.0 us of CPU per muon and half
the wall-clock; in the benchmark's chain rows the difference is within their spread.

The files are what FairShip's ``MuonBackGenerator`` reads (:mod:`exagan_tf.muons.rootio`):
``Float_t`` leaves, metres and GeV/c, 11 leaves ``id:px:py:pz:x:y:z:pythiaid:parentid:w:ecut``
by default, ``--leaves 17`` adds ``opx opy opz ox oy oz`` (origin = start, which is what
MuonBackGenerator binds at >= 17 leaves; the scoring-plane columns repeat it). The generators do
not model a muon's parent, so ``pythiaid`` = ``id`` (MuonBackGenerator's first, untracked
track is then a copy of the muon with a valid PDG code, as in FairShip's own charm ntuple) and
``parentid`` = 0 (that track's weight); ``ecut`` is the largest ``ecut`` of the training
production (``transform.json``; 0 when it had none, e.g. ``cbmsim`` input).

A run of each category may be a GAN, a spline flow (:class:`~exagan_tf.muons.flow.
FlowGenerator`, base noise -> the inverse flow) or a Gaussian mixture
(:class:`~exagan_tf.muons.gmm.GaussianMixtureSampler`).

The dangerous region (p > 100 GeV/c and p_T > 3 GeV/c, :func:`dangerous`) is targeted with the
VAE's latent space or the flow's base space in :mod:`exagan_tf.muons.dangerous`.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.preprocess import CATEGORIES, CategoryTransform, get_category

P_DANGER = 100.0  # GeV/c
PT_DANGER = 3.0  # GeV/c
WORKERS = 2  # generator calls in flight (module notes)


def dangerous(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Mask of muons with p > 100 GeV/c and p_T > 3 GeV/c."""
    pt = np.hypot(px, py)
    return (np.sqrt(pt**2 + pz**2) > P_DANGER) & (pt > PT_DANGER)


def features_to_muons(cat_name: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Raw features (cm, GeV/c) of a category -> muon arrays (x y z px py pz id)."""
    cat = CATEGORIES[cat_name]
    cols = dict(zip(cat.features, raw.T))
    n = len(raw)
    return {
        "x": cols.get("StartX", np.zeros(n)),
        "y": cols.get("StartY", np.zeros(n)),
        "z": cols["StartZ"],
        "px": cols["Px"],
        "py": cols["Py"],
        "pz": cols["Pz"],
        "id": np.full(n, float(cat.pdg)),
    }


def category_means(transforms: dict[str, CategoryTransform], n: int, by: str) -> dict[str, float]:
    """Expected muon counts per category for ``n`` muons, by summed weight or by count."""
    if by not in ("weight", "count"):
        raise UserError(f"--proportions {by!r}: expected weight or count")
    share = {k: (t.weight_sum if by == "weight" else t.count) for k, t in transforms.items()}
    total = sum(share.values())
    return {k: n * v / total for k, v in share.items()}


def _noise_batches(generators: dict, counts: dict[str, int], rng: np.random.Generator,
                   batch: int) -> Iterator[tuple[str, Callable, np.ndarray]]:
    """(category, generator, noise (m, latent) float32) of every batch, category by category,
    in the order the noise is drawn from ``rng``."""
    for cat_name, count in counts.items():
        gen = generators[cat_name]
        latent = int(getattr(gen, "latent", None) or gen.inputs[0].shape[-1])
        for start in range(0, count, batch):
            m = min(batch, count - start)
            yield cat_name, gen, rng.standard_normal((m, latent), dtype=np.float32)


def _features(gen: Callable, z: np.ndarray) -> np.ndarray:
    """Training-space features of noise ``z`` (a NumPy array whatever the generator returns)."""
    out = gen(z)
    return np.asarray(out if isinstance(out, np.ndarray) else out.numpy())


def _in_order(batches: Iterable[tuple[str, Callable, np.ndarray]], workers: int
              ) -> Iterator[tuple[str, np.ndarray]]:
    """(category, features) of every batch, in order, with up to ``workers`` generator calls
    running in threads ahead of the caller (module notes); ``workers`` <= 1: in this thread."""
    if workers <= 1:
        for cat_name, gen, z in batches:
            yield cat_name, _features(gen, z)
        return
    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="generate")
    try:
        for cat_name, gen, z in batches:
            pending.append((cat_name, pool.submit(_features, gen, z)))
            if len(pending) > workers:
                name, future = pending.popleft()
                yield name, future.result()
        while pending:
            name, future = pending.popleft()
            yield name, future.result()
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def generate_to_root(
    generators: dict,
    transforms: dict[str, CategoryTransform],
    n: int,
    out_dir: str | Path,
    per_file: int = 1_000_000,
    batch: int = 65536,
    seed: int = 0,
    proportions: str = "weight",
    progress: bool = True,
    leaves: int = 11,
    ecut: float = 0.0,
    workers: int = WORKERS,
) -> dict:
    """Generate about ``n`` muons (Poisson per category) into ROOT files in ``out_dir``.

    ``generators``: category -> callable noise (m, latent) -> training-space features (a
    :class:`~exagan_tf.muons.models.FoldedGenerator`, a Keras model, a flow or a mixture; called
    from ``workers`` threads at once, on different batches). The files are the same for every
    ``workers``. Returns counts, files, seconds and muons/s (end to end, ROOT output included).
    """
    from tqdm import tqdm

    from exagan_tf.muons import rootio

    if leaves not in (11, 17):
        raise UserError(f"--leaves {leaves}: FairShip's pythia8-Geant4 layouts have 11 or 17")
    missing = [c for c in transforms if c not in generators]
    if missing:
        raise UserError(f"no generator for categories {missing}")
    rng = np.random.default_rng(seed)
    means = category_means(transforms, n, proportions)
    counts = {c: int(rng.poisson(m)) for c, m in means.items()}
    total = sum(counts.values())
    w_each = sum(t.weight_sum for t in transforms.values()) / max(n, 1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    t0 = time.perf_counter()
    bar = tqdm(total=total, unit="mu", disable=not progress, smoothing=0.1)
    file_index = 0
    buffer: list[dict] = []
    buffered = 0

    def flush(final: bool) -> None:
        nonlocal buffer, buffered, file_index
        while buffered >= per_file or (final and buffered):
            merged = {k: np.concatenate([b[k] for b in buffer]) for k in buffer[0]}
            take = min(per_file, buffered)
            part = {k: v[:take] for k, v in merged.items()}
            rest = {k: v[take:] for k, v in merged.items()}
            path = out_dir / f"generated_{file_index:04d}.root"
            rootio.write_branches(path, part)
            files.append(str(path))
            file_index += 1
            buffer, buffered = ([rest], buffered - take) if buffered - take else ([], 0)

    for cat_name, out in _in_order(_noise_batches(generators, counts, rng, batch), workers):
        m = len(out)
        raw = transforms[cat_name].inverse(np.clip(out, -1.0, 1.0))
        mu = features_to_muons(cat_name, raw)
        mu["w"] = np.full(m, w_each)
        buffer.append(rootio.to_branches(mu, leaves, ecut))
        buffered += m
        flush(False)
        bar.update(m)
    if buffered:
        flush(True)
    bar.close()
    seconds = time.perf_counter() - t0
    rate = total / seconds if seconds > 0 else float("inf")
    if progress:
        print(
            f"generated {total} muons ({', '.join(f'{c} {k}' for c, k in counts.items())}) "
            f"in {seconds:.2f} s: {rate:,.0f} muons/s ({len(files)} ROOT files in {out_dir})",
            flush=True,
        )
    return {
        "counts": counts,
        "files": files,
        "seconds": seconds,
        "muons_per_s": rate,
        "weight_per_muon": w_each,
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.generate",
        description="Generate muons with four trained generators (GAN, flow or mixture runs) "
        "into ROOT files.",
    )
    p.add_argument("--data", required=True, help="preprocessed folder (transform.json)")
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="CAT=RUNDIR",
        help="trained GAN, flow (flow_*) or Gaussian-mixture (gmm_*) run per category (4 needed)",
    )
    p.add_argument(
        "--which", default="best_rchi2", help="best_rchi2 | best_nonoverlap | best_auc_gap | final"
    )
    p.add_argument("--n", type=int, default=1_000_000, help="muons to generate (Poisson)")
    p.add_argument("--out", required=True, help="output folder of ROOT files")
    p.add_argument("--per-file", type=int, default=1_000_000)
    p.add_argument("--proportions", default="weight", choices=("weight", "count"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--leaves", type=int, default=11, choices=(11, 17),
                   help="11: id:px:py:pz:x:y:z:pythiaid:parentid:w:ecut (default); 17: adds "
                   "opx opy opz ox oy oz (origin = start), the newer FairShip layout")
    p.add_argument(
        "--engine",
        default="keras",
        choices=("keras", "numpy"),
        help="keras: the trained model in inference mode; numpy: its copy with batch norm "
        "folded into the dense layers (FoldedGenerator); the same muons to float32 round-off. "
        "keras measured faster here (4-D 1.7x, 6-D 1.08x, benchmarks/bench_muons.py)",
    )
    p.add_argument("--workers", type=int, default=WORKERS,
                   help="generator calls in flight, each in its own thread on one TensorFlow "
                   "thread (module notes); 1: one call at a time on TensorFlow's thread pool")
    return p.parse_args(argv)


def one_thread_per_call() -> bool:
    """Set TensorFlow's intra-op pool to one thread, if its runtime has not started yet (an
    in-process caller may have started it: then nothing changes). True when set."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # "cannot be modified after initialization"
        return False
    return True


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected 1 or more")
    if args.workers > 1:
        one_thread_per_call()
    from exagan_tf.muons.models import FoldedGenerator
    from exagan_tf.muons.preprocess import load_transforms
    from exagan_tf.muons.train import load_trained

    transforms = load_transforms(args.data)
    ecut = json.loads((Path(args.data) / "transform.json").read_text()).get("ecut") or 0.0
    gens = {}
    for item in args.run:
        if "=" not in item:
            raise UserError(f"--run {item!r}: expected CATEGORY=RUN_DIR")
        cat, path = item.split("=", 1)
        kind, cfg, g = load_trained(path, args.which)
        if kind == "vae":
            raise UserError(f"{path}: a vae run; generation uses GAN, flow or gmm runs")
        name = get_category(cat).name
        if cfg.category != name:
            raise UserError(f"{path}: trained on {cfg.category}, given for {name}")
        if kind == "flow":
            from exagan_tf.muons.flow import FlowGenerator

            gens[name] = FlowGenerator(g)
        elif kind == "gmm":
            gens[name] = g  # GaussianMixtureSampler: noise (m, d + 1) -> features
        else:
            gens[name] = FoldedGenerator.from_keras(g) if args.engine == "numpy" else g
    generate_to_root(
        gens,
        transforms,
        args.n,
        args.out,
        args.per_file,
        seed=args.seed,
        proportions=args.proportions,
        leaves=args.leaves,
        ecut=float(ecut),
        workers=args.workers,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
