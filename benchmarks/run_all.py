"""``make bench``: every ExaGAN speed benchmark in one run, printed as one table.

Each row is a ratio against a baseline measured in the same process: the custom train_step
against the original three-train_on_batch pattern, the batched power spectrum against the
original per-image method, and the shard pipeline against a plain bulk h5py read. Results are
also written to ``benchmarks/results/latest.json``.

    python benchmarks/run_all.py [--config demo] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_pipeline  # noqa: E402
import bench_stats  # noqa: E402
import bench_train_step  # noqa: E402


def onednn_ratio(config: str, steps: int) -> dict:
    """Train-step speed with oneDNN on against off (the flag is read when TensorFlow loads, so
    each setting runs in its own process, alternating on, off, on, off)."""
    code = (f"import bench_train_step as b; r = b.run({config!r}, steps={steps}, repeats=1); "
            "print('RESULT', r['custom_train_step_img_s'])")
    rates = {"1": [], "0": []}
    for flag in ("1", "0", "1", "0"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag}
        out = subprocess.run([sys.executable, "-c", code], cwd=HERE, env=env, check=True,
                             capture_output=True, text=True).stdout
        rates[flag].append(float(out.split("RESULT")[-1]))
    on, off = max(rates["1"]), max(rates["0"])
    return {"onednn_on_img_s": on, "onednn_off_img_s": off, "ratio": on / off}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="demo", help="DCGAN config for the train-step row")
    p.add_argument("--quick", action="store_true", help="fewer steps and images (a smoke run)")
    a = p.parse_args(argv)
    steps, n_img = (3, 200) if a.quick else (10, 1000)
    train = bench_train_step.run(a.config, steps=steps, repeats=2)
    spec = bench_stats.run(n_images=n_img, repeats=3)
    pipe = bench_pipeline.run(n_images=2048 if a.quick else 8192)
    onednn = onednn_ratio(a.config, steps)
    rows = [
        (f"DCGAN '{train['config']}' step ({train['img_dim']}², batch {train['batch']}, "
         f"{train['data_format']})", f"{train['custom_train_step_img_s']:.1f} img/s",
         f"{train['classic_train_on_batch_img_s']:.1f} img/s (3x train_on_batch)",
         train["ratio"]),
        (f"power spectrum, {spec['n_images']} x {spec['size']}²",
         f"{spec['pspec_batched_img_per_s']:.0f} img/s",
         f"{spec['pspec_original_img_per_s']:.0f} img/s (per-image original)",
         spec["pspec_speedup"]),
        ("pixel histogram (25 bins)", f"{spec['hist_mpix_per_s']:.0f} Mpix/s",
         "np.histogram (original)", spec["hist_speedup"]),
        (f"tf.data shard pipeline ({pipe['img_dim']}²)", f"{pipe['pipeline_img_s']:.0f} img/s",
         f"{pipe['h5py_bulk_read_img_s']:.0f} img/s (bulk h5py read)",
         pipe["ratio_to_bulk_read"]),
        (f"DCGAN '{a.config}' step, oneDNN on vs off", f"{onednn['onednn_on_img_s']:.1f} img/s",
         f"{onednn['onednn_off_img_s']:.1f} img/s (TF_ENABLE_ONEDNN_OPTS=0)", onednn["ratio"]),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{w}}  {'this project':>14}  {'baseline':<42} {'ratio':>7}")
    for name, ours, base, ratio in rows:
        print(f"{name:<{w}}  {ours:>14}  {base:<42} {ratio:>6.2f}x")
    results = {"machine": platform.processor() or platform.machine(), "train_step": train,
               "stats": spec, "pipeline": pipe, "onednn": onednn}
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float))
    tmp.replace(out)
    return results


if __name__ == "__main__":
    main()
