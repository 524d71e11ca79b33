"""Speed of the statistics in exagan_tf.core.stats against the original per-image method.

    python benchmarks/bench_stats.py [--n-images 1000] [--size 128] [--repeats 5]

Times, in one process on the same random images: the batched power spectrum
(:func:`power_spectrum_2d`) against the original ExaGAN algorithm applied image by image
(:func:`power_spectrum_original`: full FFT, sort by radius, cumulative-sum differences), after
checking that they agree; the validation and generated pixel histograms of the chi-square
against the original's two ``np.histogram`` calls (checked identical); and the whole
:func:`summary_statistics` of a validation/generated pair (what a training callback pays every
``checkpt_batch`` steps) with the share of it spent on peak counts. Each timing is the best of
``repeats`` runs after a warm-up, the compared methods taking turns.
Importable: :func:`run` returns the numbers as a dict.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

from exagan_tf.core import stats


def best_times(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best wall-clock seconds of each function over ``repeats`` rounds, after a warm-up call.

    The functions take turns within each round, so a change in machine load (other jobs on a
    shared machine) affects all of them alike and their ratio stays fair.
    """
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def run(n_images: int = 1000, size: int = 128, repeats: int = 5, seed: int = 0) -> dict:
    """Run the benchmark and return its results (times in seconds, rates per second)."""
    rng = np.random.default_rng(seed)
    # counts-like images: positive, heavy-tailed, mean about 1
    images = rng.lognormal(mean=-0.5, sigma=1.0, size=(n_images, size, size))
    gen = rng.lognormal(mean=-0.45, sigma=1.0, size=(n_images, size, size))
    mu = stats.ORIGINAL_GLOBAL_MEAN

    def original():
        return np.stack([stats.power_spectrum_original(im, mean=mu) for im in images])

    def batched():
        return stats.power_spectrum_2d(images, mean=mu)[1]

    ref, new = original(), batched()  # also the warm-up of both
    max_rel_diff = float(np.max(np.abs(new - ref) / np.abs(ref)))
    t_orig, t_batch = best_times([original, batched], repeats)

    def hist_original():
        # the original: validation histogram, then the generated set in its edges
        valhist, edges = np.histogram(images.flatten(), bins=25)
        return valhist, np.histogram(gen.flatten(), bins=edges)[0]

    def hist_new():
        edges, valhist = stats.pixel_histogram(images)
        return valhist, stats.pixel_histogram(gen, bins=edges)[1]

    for a, b in zip(hist_original(), hist_new(), strict=True):
        if not np.array_equal(a, b):
            raise AssertionError("pixel_histogram differs from the original's histograms")
    t_hist_orig, t_hist = best_times([hist_original, hist_new], repeats)
    (t_summary,) = best_times([lambda: stats.summary_statistics(images, gen)], repeats)
    (t_peaks,) = best_times([lambda: stats.peak_chisq_per_bin(images, gen)], repeats)
    pixels = images.size
    return {
        "n_images": n_images,
        "size": size,
        "repeats": repeats,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "pspec_max_rel_diff": max_rel_diff,
        "pspec_original_s": t_orig,
        "pspec_batched_s": t_batch,
        "pspec_original_img_per_s": n_images / t_orig,
        "pspec_batched_img_per_s": n_images / t_batch,
        "pspec_speedup": t_orig / t_batch,
        "hist_s": t_hist,
        "hist_original_s": t_hist_orig,
        "hist_mpix_per_s": 2 * pixels / t_hist / 1e6,
        "hist_speedup": t_hist_orig / t_hist,
        "summary_statistics_s": t_summary,
        "peak_chisq_s": t_peaks,
        "peak_share_of_summary": t_peaks / t_summary,
    }


def print_table(res: dict) -> None:
    n, size = res["n_images"], res["size"]
    print(
        f"exagan_tf.core.stats on {n} images of {size}x{size} ({res['machine']}), "
        f"best of {res['repeats']}"
    )
    print(f"{'what':40s} {'seconds':>9s} {'images/s':>10s}")
    rows = [
        ("power spectrum, original per image", res["pspec_original_s"]),
        ("power spectrum, batched", res["pspec_batched_s"]),
        ("val + gen histograms, original", res["hist_original_s"]),
        ("val + gen histograms, pixel_histogram", res["hist_s"]),
        ("summary_statistics (val + gen sets)", res["summary_statistics_s"]),
        ("  of which peak counts (val + gen)", res["peak_chisq_s"]),
    ]
    for name, secs in rows:
        print(f"{name:40s} {secs:9.3f} {n / secs:10.0f}")
    print(
        f"power spectrum speed-up: {res['pspec_speedup']:.1f}x "
        f"(max relative difference {res['pspec_max_rel_diff']:.1e})"
    )
    print(
        f"pixel histograms: {res['hist_mpix_per_s']:.0f} Mpixel/s, "
        f"{res['hist_speedup']:.2f}x the original's"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n_images < 1 or args.size < 4 or args.repeats < 1:
        parser.error("--n-images and --repeats must be >= 1 and --size >= 4")
    print_table(run(args.n_images, args.size, args.repeats, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
