"""``make bench``: every system's speed in one run, printed as ONE table.

Rows, each a ratio against a baseline measured in the same run:

- the training step of every system (ExaGAN DCGAN base and nomcr, baryon CVAE and CGAN, GR
  RACOON and PENGUIN, CMB pix2pix and UResNet, muon GAN and VAE) at its demo shapes: samples/s of
  the project's ``fit`` step against the original codes' classic ``train_on_batch`` pattern on the
  same model and batch (:mod:`bench_systems`); for the DCGAN also against an equivalent PyTorch
  model (:mod:`bench_torch`, when PyTorch is installed: the ``bench`` extra);
- analytic FLOPs per sample per step (:mod:`flops`) and the share of this CPU's peak FLOP/s,
  measured here with a large float32 matrix product (NumPy and ``tf.linalg.matmul``, best of 3);
- oneDNN on/off (``TF_ENABLE_ONEDNN_OPTS`` is read when TensorFlow loads: child processes
  alternating on, off, on, off, best of each) and XLA on/off (``jit_compile``, same process) for
  the DCGAN and one model of every other system;
- every training data pipeline's samples/s against its model's consumption (goal >= 10x);
- generation throughput (DCGAN images/s, CMB maps/s, muons/s to ROOT files).

Results go to ``benchmarks/results/latest.json`` and ``latest.md`` (written atomically).

    python benchmarks/run_all.py [--quick] [--steps 8] [--repeats 2] [--no-onednn] [--no-xla]
                                 [--full-size]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import exagan_tf  # noqa: E402,F401  (runtime defaults: oneDNN on unless the user set it)

ONEDNN_XLA_KEYS = ("dcgan_base", "cvae", "racoon", "uresnet", "muon_gan")
QUICK_KEYS = ("muon_gan", "muon_vae")
GOAL_PEAK = 0.60
GOAL_PIPELINE = 10.0


def peak_flops(n: int, repeats: int = 3) -> dict:
    """Best float32 GFLOP/s of an n x n x n matrix product with NumPy and with TensorFlow."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    flop = 2.0 * n**3
    best = {"numpy": 0.0, "tensorflow": 0.0}
    a @ b
    tf.linalg.matmul(ta, tb).numpy()
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best["numpy"] = max(best["numpy"], flop / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        tf.linalg.matmul(ta, tb).numpy()
        best["tensorflow"] = max(best["tensorflow"], flop / (time.perf_counter() - t0))
    return {"n": n, "numpy_gflop_s": best["numpy"] / 1e9, "tf_gflop_s": best["tensorflow"] / 1e9,
            "peak_gflop_s": max(best.values()) / 1e9}


def onednn_rates(keys: list[str], steps: int, rounds: int = 2) -> dict:
    """Project-step samples/s with oneDNN on and off: child processes alternating on, off, ...,
    best of each setting. Returns {key: {"on": rate, "off": rate}}."""
    out: dict = {k: {"on": 0.0, "off": 0.0} for k in keys}
    for flag in ("1", "0") * rounds:
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag, "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, str(HERE / "bench_systems.py"), "--child", "--only",
               ",".join(keys), "--steps", str(steps), "--repeats", "1"]
        proc = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"oneDNN={flag} child failed: {tail[0]}")
        rates = json.loads(proc.stdout.split("RESULT ")[-1])
        for k, v in rates.items():
            side = "on" if flag == "1" else "off"
            out[k][side] = max(out[k][side], v)
    return out


def _fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def build_table(res: dict) -> list[list[str]]:
    """The rows of the one table (header first)."""
    peak = res["peak"]["peak_gflop_s"] * 1e9
    rows = [["system", "benchmark", "rate", "ratio (baseline in the same run)", "% of peak",
             "oneDNN on/off", "XLA on/off"]]
    for r in res["training"]:
        rate = r["rates"]["project"]
        ratios = []
        if "classic" in r["rates"]:
            ratios.append(f"{rate / r['rates']['classic']:.2f}x classic train_on_batch")
        if r.get("torch") is not None:
            ratios.append(r["torch"] if isinstance(r["torch"], str)
                          else f"{rate / r['torch']:.2f}x PyTorch ({_fmt_rate(r['torch'])})")
        share = rate * r["flops_per_sample"] / peak
        dnn = r.get("onednn")
        xla = r["rates"].get("xla")
        rows.append([
            r["system"],
            f"train step, {r['shapes']} ({r['flops_per_sample'] / 1e9:.3g} GFLOP/{r['unit']})",
            f"{_fmt_rate(rate)} {r['unit']}/s",
            "; ".join(ratios) or "-",
            f"{100 * share:.0f}%" + ("" if r["conv"] else " (dense)"),
            f"{dnn['on'] / dnn['off']:.2f}x" if dnn and dnn["off"] else "-",
            f"{xla / rate:.2f}x" if xla else "-",
        ])
    for p in res["pipelines"]:
        if p["samples_s"] is None:
            rows.append([p["system"], f"data pipeline: {p['what']}", "-",
                         f"skipped: {p.get('note', '')}", "-", "-", "-"])
            continue
        ratio = p.get("ratio_to_training")
        rows.append([p["system"], f"data pipeline: {p['what']}",
                     f"{_fmt_rate(p['samples_s'])} samples/s",
                     f"{ratio:.1f}x training consumption ({p['consumer']})" if ratio else "-",
                     "-", "-", "-"])
    for g in res["generation"]:
        rows.append(["generation", g["what"], f"{_fmt_rate(g['rate'])} {g['unit']}", "-", "-",
                     "-", "-"])
    return rows


def markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def defaults_supported(res: dict) -> dict:
    """Which oneDNN / XLA default the measured ratios support (geometric mean over rows)."""
    import math

    def gmean(xs):
        return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None

    dnn = [r["onednn"]["on"] / r["onednn"]["off"] for r in res["training"]
           if r.get("onednn") and r["onednn"]["off"]]
    xla = [r["rates"]["xla"] / r["rates"]["project"] for r in res["training"]
           if "xla" in r["rates"]]
    g_dnn, g_xla = gmean(dnn), gmean(xla)
    return {
        "onednn_gmean_on_over_off": g_dnn,
        "onednn_default": None if g_dnn is None else ("on" if g_dnn > 1.0 else "off"),
        "xla_gmean_on_over_off": g_xla,
        "xla_default": None if g_xla is None else ("on" if g_xla > 1.05 else "off"),
    }


def main(argv=None) -> dict:
    """Run every benchmark, print the table, write latest.json and latest.md."""
    import bench_systems as bs
    import bench_torch

    from exagan_tf.fileio import write_json_atomic, write_text_atomic

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run (< 60 s): muon rows only, small peak matrix, no oneDNN/XLA/"
                        "PyTorch comparisons")
    p.add_argument("--steps", type=int, default=None, help="steps per timing window (8)")
    p.add_argument("--repeats", type=int, default=None, help="alternating rounds (2)")
    p.add_argument("--no-onednn", action="store_true", help="skip the oneDNN child processes")
    p.add_argument("--no-xla", action="store_true", help="skip the XLA variants")
    p.add_argument("--full-size", action="store_true",
                   help="add the DCGAN base step at its own size (128^2, batch 64; about 5 s a "
                        "step on 2 cores) beside PyTorch, 3 steps a window")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for latest.json/.md")
    a = p.parse_args(argv)
    t_start = time.perf_counter()
    steps = a.steps or (2 if a.quick else 8)
    repeats = a.repeats or (1 if a.quick else 2)
    load = os.getloadavg()

    def say(msg):
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", flush=True)

    res: dict = {
        "machine": {"processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_start": load},
        "quick": a.quick, "steps": steps, "repeats": repeats,
        "onednn_in_this_process": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }
    res["peak"] = peak_flops(1024 if a.quick else 4096)
    say(f"peak: NumPy {res['peak']['numpy_gflop_s']:.0f}, TF {res['peak']['tf_gflop_s']:.0f} "
        "GFLOP/s")
    import keras
    import tensorflow as tf

    res["machine"].update(tensorflow=tf.__version__, keras=keras.__version__,
                          intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                          inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads())
    torch_version = None if a.quick else bench_torch.available()
    res["machine"]["torch"] = torch_version
    cases = bs.all_cases()
    torch_cfgs = {"dcgan_base": bs.dcgan_case(True)[1]}  # the rows with a PyTorch peer
    window = {}  # steps per timing window where not --steps
    if a.full_size and not a.quick:
        full, torch_cfgs["dcgan_base_full"] = bs.dcgan_case(True, full_size=True)
        cases.insert(1, full)
        window[full.key] = 3  # about 5 s a step on 2 cores
    keep = {}
    res["training"] = []
    for case in cases:
        if a.quick and case.key not in QUICK_KEYS:
            continue
        xla = not (a.quick or a.no_xla) and case.key in ONEDNN_XLA_KEYS
        want_torch = case.key in torch_cfgs and not a.quick
        r = bs.measure_case(case, window.get(case.key, steps), repeats, xla=xla,
                            torch_cfg=torch_cfgs[case.key] if want_torch and torch_version
                            else None)
        keep[case.key] = r
        if want_torch:
            r["torch"] = r["rates"].get("torch", "PyTorch not installed (bench extra)")
        say(f"{case.key}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["rates"].items()))
        res["training"].append({k: v for k, v in r.items() if k != "bench"})
    if not (a.quick or a.no_onednn):
        keys = [k for k in ONEDNN_XLA_KEYS if k in keep]
        say(f"oneDNN on/off child processes for {', '.join(keys)}")
        dnn = onednn_rates(keys, steps)
        for r in res["training"]:
            r["onednn"] = dnn.get(r["key"])
    res["defaults"] = defaults_supported(res)

    # pipelines, against the fastest-consuming model they feed
    say("data pipelines")
    pipes = bs.pipeline_rows(20 if a.quick else 100)
    if a.quick:
        pipes = [q for q in pipes if q["system"] in ("muons", "ExaGAN")]
    for q in pipes:
        mine = [r for r in res["training"] if r["key"] in q["consumers"]]
        if mine and q["samples_s"]:
            top = max(mine, key=lambda r: r["rates"]["project"])
            q["consumer"] = f"{top['key']} {_fmt_rate(top['rates']['project'])}/s"
            q["ratio_to_training"] = q["samples_s"] / top["rates"]["project"]
    res["pipelines"] = pipes
    say("generation")
    res["generation"] = bs.generation_rows(keep, 256 if a.quick else 2048,
                                           20_000 if a.quick else 200_000)
    res["seconds"] = time.perf_counter() - t_start
    res["machine"]["load_average_end"] = os.getloadavg()

    rows = build_table(res)
    table = markdown(rows)
    d = res["defaults"]
    notes = [
        f"Peak: {res['peak']['n']}^3 float32 matmul, NumPy {res['peak']['numpy_gflop_s']:.0f} "
        f"GFLOP/s, tf.linalg.matmul {res['peak']['tf_gflop_s']:.0f} GFLOP/s (the higher is the "
        f"peak). Load average {load[0]:.2f} at start, {res['machine']['load_average_end'][0]:.2f}"
        f" at end ({os.cpu_count()} CPUs); {res['seconds']:.0f} s in all.",
        "oneDNN default supported by the measurement: "
        f"{d['onednn_default'] or 'not measured'}"
        + (f" (geometric mean on/off {d['onednn_gmean_on_over_off']:.2f}x)"
           if d["onednn_gmean_on_over_off"] else "")
        + "; XLA default: " + (d["xla_default"] or "not measured")
        + (f" (geometric mean on/off {d['xla_gmean_on_over_off']:.2f}x)"
           if d["xla_gmean_on_over_off"] else "") + ".",
    ]
    print("\n" + table + "\n\n" + "\n".join(notes))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "latest.json", res, overwrite=True)
    write_text_atomic(out / "latest.md", "# make bench\n\n" + table + "\n\n" + "\n\n".join(notes)
                      + "\n", overwrite=True)
    return res


if __name__ == "__main__":
    main()
