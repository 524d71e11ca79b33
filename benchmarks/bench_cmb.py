"""CMB decomposition speed: the simulator's lensing cost and the training-step switches.

Every row is a ratio against a baseline measured in the same process:

* simulation with lensing (quintic-spline remap on the periodic box) against without;
* a generator step with the discriminator every 20 steps (the original default) against every
  step, and with the spectral loss (``--spectra-weight``) against without.

    python benchmarks/bench_cmb.py [--npix 64] [--steps 10] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def simulation_rows(npix: int, count: int, repeats: int) -> list[dict]:
    """Maps per second with and without the lensing remap."""
    from exagan_tf.cmb import simulate as sim

    params = sim.SimParams(npix=npix, ndeg=5.0 * npix / 128 * 2)
    spectra = sim.camb_spectra(params.lmax, params.r)

    def make(lens):
        def go():
            for i in range(count):
                sim.simulate_map(sim.map_rng(0, i), params, spectra, lens=lens)
        return go

    lensed = count / _best_time(make(True), repeats)
    plain = count / _best_time(make(False), repeats)
    return [{"name": f"simulate {npix}^2 maps (pad 2), lensed vs unlensed",
             "value": f"{lensed:.1f} maps/s", "baseline": f"{plain:.1f} maps/s",
             "ratio": lensed / plain}]


def step_rate(flags: list[str], npix: int, steps: int, repeats: int) -> float:
    """Training maps per second of ``exagan_tf.cmb.main`` models with ``flags``."""
    import numpy as np
    import tensorflow as tf

    from exagan_tf.cmb.flags import parse_args
    from exagan_tf.cmb.models import build_models

    args = parse_args(["-i", "qu", "-o", "e", "--filters", "8", *flags])
    _, _, gan = build_models(args, npix)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, npix, npix, 2)).astype("float32")
    y = rng.standard_normal((64, npix, npix, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)
    gan.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)  # trace
    t = _best_time(lambda: gan.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0), repeats)
    return steps * 8 / t


def training_rows(npix: int, steps: int, repeats: int) -> list[dict]:
    """Discriminator interval and spectral-loss rows."""
    rows = []
    for arch in ("astroencoder", "pix2pix"):
        base = ["-a", arch]
        every = step_rate([*base, "--discriminator-interval", "1"], npix, steps, repeats)
        twenty = step_rate([*base, "--discriminator-interval", "20"], npix, steps, repeats)
        spectral = step_rate([*base, "--discriminator-interval", "20", "--spectra-weight", "1"],
                             npix, steps, repeats)
        rows.append({"name": f"{arch} {npix}^2 step, D every 20 vs every step",
                     "value": f"{twenty:.1f} maps/s", "baseline": f"{every:.1f} maps/s",
                     "ratio": twenty / every})
        rows.append({"name": f"{arch} {npix}^2 step, with spectral loss vs without",
                     "value": f"{spectral:.1f} maps/s", "baseline": f"{twenty:.1f} maps/s",
                     "ratio": spectral / twenty})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print a table and return its rows."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--npix", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    a = p.parse_args(argv)
    npix, steps, count = (16, 2, 4) if a.quick else (a.npix, a.steps, 20)
    rows = simulation_rows(npix, count, a.repeats) + training_rows(npix, steps, a.repeats)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['value']:>14}  vs {r['baseline']:>14}  "
              f"ratio {r['ratio']:.2f}")
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
