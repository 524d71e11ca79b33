"""Muon benchmarks: generation throughput end to end (noise -> generator -> inverse transform ->
ROOT files) for the original-size 4-D and 6-D generators, and the FOM classifier speed.

    python benchmarks/bench_muons.py [--n 200000] [--fom-n 20000] [--only-chain] [--intra-op 1]

Rows (``main()`` returns them as dicts for ``benchmarks/run_all.py``):

* ``generate_{4d,6d}_flow_{previous,serial,threads,sampling}`` (:func:`bench_flow_chain`,
  ``--chain-n`` muons, ``--repeats`` interleaved): the spline flow into ROOT by the previous
  chain (kept here as :func:`_previous_chain`), by ``generate_to_root`` with one worker and
  with two, and the flow's sampling alone; median, range and CPU per muon, with the ratio to
  the previous chain and the load average. ``--intra-op 1`` runs the process on one
  TensorFlow thread per call, as ``generate`` does with two workers;

* ``generate_{4d,6d}_folded``: NumPy generator with batch norm folded (what ``generate`` uses),
  muons/s including ROOT output, and its ratio to the baseline run here in the same process:
* ``generate_{4d,6d}_keras``: the Keras generator called in inference mode in batches of 65536,
  same inverse transform and ROOT output;
* ``generate_{4d,6d}_flow``: the spline flow of ``flow_demo`` (8 coupling layers, 8 bins,
  conditioner 2 x 128; :class:`~exagan_tf.muons.flow.FlowGenerator`) through the same chain, with
  its ratio to the original-size GAN's Keras row of the same dimension run here first (every
  generator warmed up at the batch shape first: the flow's one XLA compile, about 3 s, is not
  counted);
* ``generate_{4d,6d}_gmm``: the 64-component Gaussian mixture
  (:class:`~exagan_tf.muons.gmm.GaussianMixtureSampler`), same chain and ratio;
* ``fom_gbc`` / ``fom_hist``: seconds to fit + apply the original GradientBoostingClassifier and
  the histogram BDT on n vs n, one thread each, and the speed ratio.

Generator weights are random (speed does not depend on training; the flow's spline layers get
random parameters, the mixture random means and covariances); the transform is a plain
[-1, 1] <-> physical-range map of the same cost as a trained one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _transforms():
    from exagan_tf.muons.preprocess import FEATURES_4, FEATURES_6, CategoryTransform

    mm6 = [
        [-46.56, 46.56],
        [-46.56, 46.56],
        [-7084.9, -6460.8],
        [-8.25, 8.25],
        [-8.25, 8.25],
        [10.3, 386.0],
    ]
    t6 = CategoryTransform(
        "mum_displaced",
        FEATURES_6,
        mm6,
        means=[0.0, 0.0],
        min_max_2=[[-1.0, 1.0], [-1.0, 1.0]],
        weight_sum=1.0,
        count=1,
    )
    t4 = CategoryTransform("mum_prompt", FEATURES_4, mm6[2:], weight_sum=1.0, count=1)
    return t4, t6


def bench_generation(n: int, seed: int = 0) -> list[dict]:
    """Muons/s of the 4-D (nG 2) and 6-D (nG 6) generators, folded NumPy vs Keras."""
    import keras

    from exagan_tf.muons import generate, models

    keras.utils.set_random_seed(seed)
    t4, t6 = _transforms()
    rows = []
    for label, dim, factor, tr in (("4d", 4, 2, t4), ("6d", 6, 6, t6)):
        g = models.build_generator(dim, factor, 2)
        folded = models.FoldedGenerator.from_keras(g)

        def keras_gen(z, g=g):
            return g(z, training=False).numpy()

        keras_gen.latent = 100
        rates = {}
        for kind, gen in (("keras", keras_gen), ("folded", folded)):
            gen(np.zeros((256, 100), np.float32))  # warm up (tracing, BLAS threads)
            with tempfile.TemporaryDirectory() as tmp:
                res = generate.generate_to_root(
                    {tr.category: gen},
                    {tr.category: tr},
                    n,
                    Path(tmp) / "out",
                    per_file=1_000_000,
                    seed=seed,
                    progress=False,
                )
            rates[kind] = res["muons_per_s"]
        for kind in ("keras", "folded"):
            rows.append(
                {
                    "name": f"generate_{label}_{kind}",
                    "muons_per_s": round(rates[kind]),
                    "mflop_per_muon": round(folded.flops / 1e6, 2),
                    "ratio_vs_keras": round(rates[kind] / rates["keras"], 2),
                    "n": n,
                }
            )
    return rows


def _random_flow(dim: int, seed: int):
    from exagan_tf.muons.flow import MuonFlowConfig, build_flow_model

    flow = build_flow_model(MuonFlowConfig("mum_displaced", "-"), dim)  # flow_demo's sizes
    rng = np.random.default_rng(seed)
    for c in flow.couplings:  # off the identity: every spline bin in use
        c.out_layer.kernel.assign(rng.normal(0, 0.1, c.out_layer.kernel.shape))
    return flow


def _random_mixture(dim: int, seed: int, k: int = 64):
    from exagan_tf.muons.gmm import GaussianMixtureSampler

    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.1, (k, dim, dim))
    covs = a @ a.transpose(0, 2, 1) + 1e-3 * np.eye(dim)
    return GaussianMixtureSampler(rng.dirichlet(np.ones(k)), rng.uniform(-0.5, 0.5, (k, dim)),
                                  covs)


def bench_new_kinds(n: int, seed: int = 0) -> list[dict]:
    """Muons/s of the spline flow and the Gaussian mixture against the original-size GAN
    generator (Keras, the ``generate`` default) of the same dimension, in this process."""
    import keras

    from exagan_tf.muons import generate, models
    from exagan_tf.muons.flow import FlowGenerator

    keras.utils.set_random_seed(seed)
    t4, t6 = _transforms()
    rows = []
    for label, dim, factor, tr in (("4d", 4, 2, t4), ("6d", 6, 6, t6)):
        g = models.build_generator(dim, factor, 2)

        def gan(z, g=g):
            return g(z, training=False).numpy()

        gan.latent = 100
        kinds = {"gan_keras": gan, "flow": FlowGenerator(_random_flow(dim, seed)),
                 "gmm": _random_mixture(dim, seed)}
        rates = {}
        for kind, gen in kinds.items():
            # warm up at generate_to_root's batch shape: the flow's inverse is XLA-compiled
            # once per shape (about 3 s, paid once per category by a long generation)
            gen(np.zeros((65536, gen.latent), np.float32))
            with tempfile.TemporaryDirectory() as tmp:
                res = generate.generate_to_root({tr.category: gen}, {tr.category: tr}, n,
                                                Path(tmp) / "out", seed=seed, progress=False)
            rates[kind] = res["muons_per_s"]
        for kind in ("flow", "gmm"):
            rows.append({
                "name": f"generate_{label}_{kind}",
                "muons_per_s": round(rates[kind]),
                "gan_keras_muons_per_s": round(rates["gan_keras"]),
                "ratio_vs_gan_keras": round(rates[kind] / rates["gan_keras"], 2),
                "n": n,
            })
    return rows


class _PreviousFlowGenerator:
    """The flow as the previous chain called it: batches of up to 65536 rows, a shorter batch
    (each category's last) padded to the next power of two, so compiled at a second shape."""

    def __init__(self, flow, batch: int = 65536):
        self.flow, self.latent, self.batch = flow, flow.dim, batch

    def __call__(self, z: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        z = np.asarray(z, np.float32)
        size = self.batch if len(z) >= self.batch else max(256, 1 << (len(z) - 1).bit_length())
        parts = []
        for i in range(0, len(z), self.batch):
            chunk = z[i : i + self.batch]
            padded = np.zeros((size, self.flow.dim), np.float32)
            padded[: len(chunk)] = chunk
            parts.append(self.flow._inverse_graph(tf.constant(padded)).numpy()[: len(chunk)])
        return np.concatenate(parts)


def _previous_chain(gen, tr, n: int, out_dir: Path, seed: int, batch: int = 65536) -> float:
    """Muons/s of the previous generation chain (one category): noise, generator, inverse
    transform and branches one batch after the other in this thread, then the ROOT file. Its
    files are those of :func:`~exagan_tf.muons.generate.generate_to_root` (tested)."""
    from exagan_tf.muons import generate, rootio

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mean = generate.category_means({tr.category: tr}, n, "weight")[tr.category]
    count = int(rng.poisson(mean))
    parts = []
    for start in range(0, count, batch):
        m = min(batch, count - start)
        out = gen(rng.standard_normal((m, gen.latent), dtype=np.float32))
        mu = generate.features_to_muons(tr.category, tr.inverse(np.clip(out, -1.0, 1.0)))
        mu["w"] = np.full(m, tr.weight_sum / n)
        parts.append(rootio.to_branches(mu))
    out_dir.mkdir(parents=True)
    rootio.write_branches(out_dir / "generated_0000.root",
                          {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    return count / (time.perf_counter() - t0)


def bench_flow_chain(n: int, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Muons/s of the spline flow's generation into ROOT (``flow_demo``'s sizes, one
    category): the previous chain (:func:`_previous_chain`), ``generate_to_root`` with one
    worker (the generator called in the writing thread) and with ``WORKERS`` threads, and
    the flow's sampling alone (no inverse transform, no ROOT), ``repeats`` times interleaved.
    Each model is warmed up at its batch shape first (one trace and XLA compile, not counted);
    the previous chain gets a new model each repeat, so its second shape is counted, as it
    ran. Rows: the
    median, min and max muons/s, the median of the per-repeat ratios to the previous chain, the
    process CPU time per muon (all threads; the rate two free cores would allow is about
    2 / that) and the 1-minute load average before each repeat."""
    import os

    import keras

    from exagan_tf.muons import generate
    from exagan_tf.muons.flow import FlowGenerator

    keras.utils.set_random_seed(seed)
    t4, t6 = _transforms()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generate.generate_to_root({t4.category: _random_mixture(4, seed)}, {t4.category: t4},
                                  1000, Path(tmp) / "imports", progress=False)  # uproot, tqdm
        for label, dim, tr in (("4d", 4, t4), ("6d", 6, t6)):
            rates: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}  # process CPU seconds (all threads) per muon
            loads = []
            gen_now = FlowGenerator(_random_flow(dim, seed))
            gen_now(np.zeros((256, dim), np.float32))
            for rep in range(repeats):
                loads.append(round(os.getloadavg()[0], 2))
                for variant in ("previous", "serial", "threads", "sampling"):
                    gen = gen_now
                    if variant == "previous":  # a new model: its second shape compiles again
                        gen = _PreviousFlowGenerator(_random_flow(dim, seed))
                        gen(np.zeros((65536, dim), np.float32))
                    out = Path(tmp) / f"{label}_{variant}_{rep}"
                    cpu0 = time.process_time()
                    if variant == "previous":
                        rate = _previous_chain(gen, tr, n, out, seed)
                    elif variant == "sampling":
                        z = np.random.default_rng(seed).standard_normal((n, dim), np.float32)
                        t0 = time.perf_counter()
                        gen(z)
                        rate = n / (time.perf_counter() - t0)
                    else:
                        workers = 1 if variant == "serial" else generate.WORKERS
                        rate = generate.generate_to_root(
                            {tr.category: gen}, {tr.category: tr}, n, out, seed=seed,
                            progress=False, workers=workers)["muons_per_s"]
                    rates.setdefault(variant, []).append(rate)
                    cpu.setdefault(variant, []).append((time.process_time() - cpu0) / n * 1e6)
            for variant, r in rates.items():
                ratios = [a / b for a, b in zip(r, rates["previous"])]
                rows.append({
                    "name": f"generate_{label}_flow_{variant}",
                    "muons_per_s": round(float(np.median(r))),
                    "min": round(min(r)), "max": round(max(r)),
                    "ratio_vs_previous": round(float(np.median(ratios)), 2),
                    "cpu_us_per_muon": round(float(np.median(cpu[variant])), 2),
                    "load_1min": loads, "n": n, "repeats": repeats,
                })
    return rows


def bench_fom(n: int, seed: int = 0) -> list[dict]:
    """Seconds for the original GBC and the histogram BDT on n real vs n generated (6-D)."""
    from exagan_tf.muons import fom

    rng = np.random.default_rng(seed)
    real = np.tanh(rng.normal(size=(2 * n, 6)))
    fake = np.tanh(rng.normal(size=(2 * n, 6)) * 1.05 + 0.02)
    secs = {}
    for kind in ("hist", "gbc"):
        t0 = time.perf_counter()
        r = fom.bdt_fom(real, fake, n, n, kind, seed)
        secs[kind] = (time.perf_counter() - t0, r["auc"])
    return [
        {
            "name": f"fom_{kind}",
            "seconds": round(secs[kind][0], 2),
            "auc": round(secs[kind][1], 4),
            "n_per_side": n,
            "speedup_vs_gbc": round(secs["gbc"][0] / secs[kind][0], 1),
        }
        for kind in ("gbc", "hist")
    ]


def main(argv=None) -> list[dict]:
    """Run the benchmarks and print one line per row."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200_000, help="muons generated per generator")
    p.add_argument("--chain-n", type=int, default=400_000,
                   help="muons per variant of the flow-chain rows")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the flow-chain rows")
    p.add_argument("--fom-n", type=int, default=20_000, help="muons per side for the FOM")
    p.add_argument("--skip-fom", action="store_true")
    p.add_argument("--only-chain", action="store_true", help="only the flow-chain rows")
    p.add_argument("--intra-op", type=int, default=0,
                   help="TF intra-op threads for the whole process (0: TF's default; "
                   "`generate` sets 1 when it runs several workers)")
    args = p.parse_args(argv)
    if args.intra_op:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    rows = bench_flow_chain(args.chain_n, args.repeats)
    if not args.only_chain:
        rows += bench_generation(args.n) + bench_new_kinds(args.n)
        if not args.skip_fom:
            rows += bench_fom(args.fom_n)
    for row in rows:
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


if __name__ == "__main__":
    main()
