"""Evaluate a painting run on held-out slabs: ``python -m exagan_tf.baryons.evaluate TAG RUN``.

Per redshift, on fixed independent test pairs (each test tile used once), for the network (the
CVAE twice: ``cvae`` decodes a latent draw from the learned prior, a realisation as the original
paints, and ``cvae_mean`` the prior mean; the CFM twice: ``cfm`` one draw of the flow,
``cfm_mean`` the pixel mean of its ``--draws`` draws), the **floor** (the noise-free conditional
mean of the simulator, known exactly) and a **local baseline** (pressure = A(z) rho^alpha(z),
fitted per redshift on training pairs):

* pressure auto power spectrum and dark-matter x pressure cross spectrum (stack means, log bins)
  and their fractional errors against the truth, averaged (and the worst bin) up to half the
  Nyquist wavenumber;
* the dm x pressure cross-correlation coefficient r(k) and the prediction-truth r(k);
* the log-binned pixel PDF and the two-sample KS statistic;
* peak counts (local maxima above 1, 3 and 10 times the truth's pixel standard deviation);
* the mean pressure;
* the **scatter** of the predictor's draws against the truth's (:func:`draw_spread`,
  :func:`truth_scatter`), and its painting speed (maps/s, ``speed``).

Scatter. The stand-in's pressure is its noise-free mean times a smooth log-normal field
(:mod:`exagan_tf.baryons.gas`: E_i S(x_i), ln S ~ N(-s^2/2, s^2), s = 0.3, projected), so the
truth's scatter about the mean is known from one map: the standard deviation over the
redshift's test pixels of ``ln p - ln p_mean`` (centred, which removes the -s^2/2 offset of a
log-normal; for a constant s it is s exactly). A painter's spread is measured the same way
across its own draws for the same dark-matter tiles: ``--draws`` paintings with seeds
``seed, seed + 1, ...``, the pixel-wise variance of ``ln p`` across them, averaged over pixels,
square-rooted. Logarithms because the scatter is multiplicative (a pixel's log-std is the same
in a cluster and in a void, where absolute differences are 10^4 times smaller); both sides clip
p at the truth's 0.1th percentile (a painter may paint exact zeros). A sampler of the
conditional distribution given the 2-D dark matter should spread at least as much as the
truth's scatter about its mean given the 3-D particles (conditioning on less cannot reduce the
variance); a regression (the CGAN, a collapsed CVAE posterior) spreads 0, and so do the floor
and the local baseline by construction. Each predictor's first draw is the one compared above.

Writes ``metrics.json`` and PNG plots into ``expts/TAG/runRUN/analysis/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from exagan_tf.core import stats
from exagan_tf.errors import UserError, cli_errors

PEAK_THRESHOLDS = (1.0, 3.0, 10.0)
#: paintings per dark-matter tile for the scatter report (``--draws``)
DRAWS = 4


def k_nyquist(pixel: float) -> float:
    """Nyquist wavenumber pi / pixel [h/Mpc for a pixel in Mpc/h]."""
    return np.pi / pixel


def spectra(dm: np.ndarray, pressure: np.ndarray, pixel: float, nbins: int = 12) -> dict:
    """Stack-mean auto (pressure) and cross (dm x pressure) spectra of (n, T, T) tiles.

    Returns ``k`` [h/Mpc], ``auto``, ``cross``, ``r_dm_p`` (from the mean spectra) and the
    per-tile auto spectra ``auto_tiles``.
    """
    box = pixel * dm.shape[-1]
    k, auto = stats.cross_power_spectrum_2d(pressure, box_size=box, nbins=nbins, log_bins=True)
    _, cross = stats.cross_power_spectrum_2d(dm, pressure, box_size=box, nbins=nbins,
                                             log_bins=True)
    _, dm_auto = stats.cross_power_spectrum_2d(dm, box_size=box, nbins=nbins, log_bins=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross.mean(0) / np.sqrt(auto.mean(0) * dm_auto.mean(0))
    return {"k": k, "auto": auto.mean(0), "cross": cross.mean(0), "r_dm_p": r,
            "auto_tiles": auto}


def peak_counts(maps: np.ndarray, thresholds) -> np.ndarray:
    """Number of strict local maxima (3x3 neighbourhood, periodic) above each threshold."""
    maps = np.asarray(maps, dtype=np.float64)
    is_peak = np.ones(maps.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                is_peak &= maps > np.roll(maps, (dy, dx), axis=(-2, -1))
    return np.array([int(np.sum(is_peak & (maps > t))) for t in thresholds])


def log_pdf(maps: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Pixel PDF in log10 bins (density per dex; pixels below the first edge are left out)."""
    x = np.asarray(maps, dtype=np.float64).ravel()
    x = np.log10(x[x > 0])
    counts, _ = np.histogram(x, bins=edges)
    return counts / max(x.size, 1) / np.diff(edges)


def compare(dm: np.ndarray, truth: np.ndarray, pred: np.ndarray, pixel: float,
            truth_spec: dict | None = None, nbins: int = 12) -> dict:
    """All the statistics of one prediction against the truth (see the module docstring)."""
    ts = truth_spec or spectra(dm, truth, pixel, nbins)
    ps = spectra(dm, pred, pixel, nbins)
    k = ts["k"]
    use = k <= 0.5 * k_nyquist(pixel)
    auto_err = ps["auto"] / ts["auto"] - 1.0
    cross_err = ps["cross"] / ts["cross"] - 1.0
    _, r_pt = stats.cross_correlation_coefficient(pred, truth, box_size=pixel * dm.shape[-1],
                                                  nbins=nbins, log_bins=True, average=True)
    sigma = float(truth.std())
    peaks_t = peak_counts(truth, [t * sigma for t in PEAK_THRESHOLDS])
    peaks_p = peak_counts(pred, [t * sigma for t in PEAK_THRESHOLDS])
    lo = np.log10(max(np.percentile(truth[truth > 0], 0.1), 1e-12))
    edges = np.linspace(lo, np.log10(truth.max()) + 0.5, 31)
    return {
        "k": k.tolist(),
        "auto_frac_err": auto_err.tolist(),
        "cross_frac_err": cross_err.tolist(),
        "auto_err_mean": float(np.mean(np.abs(auto_err[use]))),
        "auto_err_max": float(np.max(np.abs(auto_err[use]))),
        "cross_err_mean": float(np.mean(np.abs(cross_err[use]))),
        "cross_err_max": float(np.max(np.abs(cross_err[use]))),
        "r_dm_p": ps["r_dm_p"].tolist(),
        "r_pred_truth": r_pt.tolist(),
        "r_pred_truth_mean": float(np.mean(r_pt[use])),
        "ks": stats.pixel_ks(truth, pred),
        "pdf_edges_log10": edges.tolist(),
        "pdf": log_pdf(pred, edges).tolist(),
        "peaks": peaks_p.tolist(),
        "peaks_truth": peaks_t.tolist(),
        "mean_pressure": float(pred.mean()),
        "mean_pressure_truth": float(truth.mean()),
    }


# -------------------------------------------------------------------------------- scatter


def log_floor(truth: np.ndarray) -> float:
    """The clip of the scatter statistics: the truth's 0.1th percentile of positive pixels."""
    pos = np.asarray(truth)[np.asarray(truth) > 0]
    return max(float(np.percentile(pos, 0.1)), 1e-12) if pos.size else 1e-12


def draw_spread(draws: np.ndarray, floor: float) -> float:
    """sqrt(mean over pixels of the variance across draws of ln max(p, floor)) of ``draws``
    (d, n, H, W), d >= 2 paintings of the same n tiles (unbiased variance, ddof 1)."""
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim < 2 or draws.shape[0] < 2:
        raise ValueError(f"draws of shape {draws.shape}: expected at least two draws")
    logs = np.log(np.maximum(draws, floor))
    return float(np.sqrt(np.mean(np.var(logs, axis=0, ddof=1))))


def truth_scatter(truth: np.ndarray, mean: np.ndarray, floor: float) -> float:
    """Standard deviation over pixels of ln max(truth, floor) - ln max(mean, floor): the
    truth's log scatter about its noise-free mean ``mean`` (see the module docstring)."""
    r = (np.log(np.maximum(np.asarray(truth, np.float64), floor))
         - np.log(np.maximum(np.asarray(mean, np.float64), floor)))
    return float(np.std(r))


# ------------------------------------------------------------------------- local baseline


def fit_local_baseline(dm: np.ndarray, pressure: np.ndarray) -> tuple[float, float]:
    """Fit pressure = A rho^alpha to paired maps; returns (A, alpha).

    alpha and ln A by least squares of ln p on ln rho over pixels where both are positive;
    then A is rescaled so the mean pressure of the fit equals the data's (a log-space fit alone
    would under-predict the mean of a heavy-tailed field).
    """
    rho = np.asarray(dm, dtype=np.float64).ravel()
    p = np.asarray(pressure, dtype=np.float64).ravel()
    ok = (rho > 0) & (p > 0)
    if ok.sum() < 2:
        raise UserError("local baseline: fewer than two pixels with positive dm and pressure")
    alpha, ln_a = np.polyfit(np.log(rho[ok]), np.log(p[ok]), 1)
    model = np.exp(ln_a) * np.where(rho > 0, rho, 0.0) ** alpha
    a = np.exp(ln_a) * p.mean() / model.mean()
    return float(a), float(alpha)


def baseline_predict(dm: np.ndarray, a: float, alpha: float) -> np.ndarray:
    """A rho^alpha (0 where rho = 0)."""
    rho = np.asarray(dm, dtype=np.float64)
    return a * np.where(rho > 0, rho, 0.0) ** alpha


# ---------------------------------------------------------------------------------- plots


def plot_redshift(path: Path, z: float, results: dict, pixel: float) -> None:
    """Auto and cross spectra (ratios to truth), r(k) and pixel PDFs of every predictor."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(17, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 4)
    kn2 = 0.5 * k_nyquist(pixel)
    for name, m in results.items():
        k = np.asarray(m["k"])
        ax[0].semilogx(k, m["auto_frac_err"], label=name)
        ax[1].semilogx(k, m["cross_frac_err"], label=name)
        ax[2].semilogx(k, m["r_pred_truth"], label=name)
        e = np.asarray(m["pdf_edges_log10"])
        ax[3].plot(0.5 * (e[1:] + e[:-1]), m["pdf"], label=name)
    for a, title in zip(ax[:3], ("auto P(k)/P_true - 1", "cross P(k)/P_true - 1",
                                 "r(k) prediction x truth")):
        a.axvline(kn2, color="0.6", ls=":")
        a.set_xlabel("k [h/Mpc]")
        a.set_title(f"{title}, z={z:g}")
    ax[0].set_ylim(-1, 1)
    ax[1].set_ylim(-1, 1)
    ax[3].set_yscale("log")
    ax[3].set_xlabel("log10 pressure [eV cm^-3 Mpc]")
    ax[3].set_title("pixel PDF")
    ax[0].legend(fontsize=8)
    from exagan_tf.core.plots import save_figure

    save_figure(fig, path, overwrite=True)


# ---------------------------------------------------------------------------------- driver


def evaluate(run_dir: Path, redshifts=None, weights: str = "final", n_pairs: int | None = None,
             seed: int = 0, draws: int = DRAWS, untrained: bool = True) -> dict:
    """Metrics of a trained run (and of the floor, the local baseline and, with ``untrained``,
    the same networks at their initialisation) per redshift, with the scatter of ``draws``
    paintings per tile (see the module docstring)."""
    import time

    from exagan_tf.baryons import data as bdata
    from exagan_tf.baryons.paint import Painter, load_painter
    from exagan_tf.baryons.simulate import read_maps

    if draws < 1:
        raise UserError(f"--draws {draws}: expected at least 1 (2 or more for the scatter)")
    painter = load_painter(run_dir, weights)
    painters = {painter.kind: painter}
    if painter.kind == "cvae":
        painters["cvae_mean"] = Painter(painter.kind, painter.nets, painter.transform,
                                        painter.tile, painter.data_format, latent="mean")
    if untrained:  # the same networks before training: what the training added
        painters["untrained"] = load_painter(run_dir, "untrained")
    import yaml

    cfg_values = yaml.safe_load((run_dir / "config.yaml").read_text())
    datadir, tile = cfg_values["datadir"], int(cfg_values["tile_size"])
    test = bdata.load_tiles(datadir, "test", tile)
    train = bdata.load_tiles(datadir, "train", tile)
    pixel = float(read_maps(datadir, "test")["attrs"]["pixel_mpc_h"])
    zs = test.redshifts if redshifts is None else np.asarray(redshifts, dtype=float)
    pairs = bdata.independent_pairs(test.thin["dm"].shape[1], test.thick["dm"].shape[1], seed)
    if n_pairs:
        pairs = pairs[:n_pairs]
    train_pairs = bdata.independent_pairs(train.thin["dm"].shape[1],
                                          train.thick["dm"].shape[1], seed + 1)
    out: dict = {"pixel_mpc_h": pixel, "tile": tile, "n_pairs": int(len(pairs)),
                 "k_half_nyquist": 0.5 * k_nyquist(pixel), "draws": int(draws),
                 "redshifts": {}}
    clock = {name: [0.0, 0] for name in painters}
    for z in zs:
        iz = test.redshift_index(float(z))
        f = bdata.pair_fields(test, iz, pairs)
        ft = bdata.pair_fields(train, train.redshift_index(float(z)), train_pairs)
        a, alpha = fit_local_baseline(ft["dm"], ft["pressure"])
        paintings = {}
        for name, p in painters.items():
            t0 = time.perf_counter()
            paintings[name] = np.stack([p.tiles(f["dm"], float(z), seed + j)
                                        for j in range(draws)])
            clock[name][0] += time.perf_counter() - t0
            clock[name][1] += paintings[name].shape[0] * paintings[name].shape[1]
        if "pressure_mean" in f:  # the noise-free truth: simulated maps only
            paintings["floor"] = np.stack([f["pressure_mean"]] * draws)
        paintings["local_baseline"] = np.stack([baseline_predict(f["dm"], a, alpha)] * draws)
        preds = {name: d[0] for name, d in paintings.items()}
        if painter.kind == "cfm" and draws > 1:
            preds = {"cfm": preds["cfm"], "cfm_mean": paintings["cfm"].mean(0),
                     **{k: v for k, v in preds.items() if k != "cfm"}}
        ts = spectra(f["dm"], f["pressure"], pixel)
        res = {k: compare(f["dm"], f["pressure"], v, pixel, ts) for k, v in preds.items()}
        floor = log_floor(f["pressure"])
        if draws > 1:
            for name, d in paintings.items():
                res[name]["scatter"] = draw_spread(d, floor)
        res["truth"] = {"r_dm_p": ts["r_dm_p"].tolist(), "k": ts["k"].tolist()}
        if "pressure_mean" in f:
            res["truth"]["scatter"] = truth_scatter(f["pressure"], f["pressure_mean"], floor)
        res["local_baseline"]["fit"] = {"A": a, "alpha": alpha}
        out["redshifts"][f"{float(z):g}"] = res
        plot_redshift(run_dir / "analysis" / f"spectra_z{float(z):g}.png", float(z),
                      {k: res[k] for k in preds}, pixel)
    out["speed"] = {name: {"maps_per_s": n / max(t, 1e-9), "maps": n, "seconds": t}
                    for name, (t, n) in clock.items()}
    return out


def summary_table(metrics: dict) -> str:
    """Markdown table: per redshift and predictor, auto/cross errors, r(pred, truth), KS and
    the spread of the draws beside the truth's scatter (ln p; '-' where not measured)."""
    lines = ["| z | predictor | auto err mean (max) | cross err mean (max) | r(pred,truth) | KS "
             "| spread of draws | truth scatter |",
             "|---|---|---|---|---|---|---|---|"]
    for z, res in metrics["redshifts"].items():
        truth = res.get("truth", {}).get("scatter")
        for name in (k for k in res if k != "truth"):
            m = res[name]
            spread = f"{m['scatter']:.3f}" if "scatter" in m else "-"
            lines.append(
                f"| {z} | {name} | {m['auto_err_mean']:.3f} ({m['auto_err_max']:.3f}) | "
                f"{m['cross_err_mean']:.3f} ({m['cross_err_max']:.3f}) | "
                f"{m['r_pred_truth_mean']:.3f} | {m['ks']:.3f} | {spread} | "
                f"{'-' if truth is None else f'{truth:.3f}'} |"
            )
    speed = metrics.get("speed", {})
    if speed:
        lines.append("")
        lines.append("painting speed: " + ", ".join(
            f"{k} {v['maps_per_s']:.1f} maps/s" for k, v in speed.items()))
    return "\n".join(lines)


@cli_errors
def main(argv=None) -> int:
    """Evaluate a trained run: metrics.json, summary.md and plots in its analysis folder."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.baryons.evaluate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="config tag (e.g. cgan_demo)")
    p.add_argument("run", help="run number")
    p.add_argument("--expts", default="expts", help="root of run directories (expts)")
    p.add_argument("--redshifts", type=float, nargs="+", default=None,
                   help="redshifts to evaluate (default: all in the test data)")
    p.add_argument("--weights", default="final", help="final or a best-model key")
    p.add_argument("--pairs", type=int, default=None, help="use at most this many test pairs")
    p.add_argument("--no-untrained", action="store_true",
                   help="leave out the untrained networks' row")
    p.add_argument("--draws", type=int, default=DRAWS,
                   help=f"paintings per tile for the scatter report ({DRAWS}; 1: no scatter)")
    args = p.parse_args(argv)
    from exagan_tf.fileio import write_json_atomic, write_text_atomic
    from exagan_tf.runs import run_path

    run_dir = run_path(args.config, args.run, args.expts)
    if not (run_dir / "config.yaml").exists():
        raise UserError(f"{run_dir}: no such run; train it first with "
                        f"`python -m exagan_tf.train {args.config} {args.run}`")
    (run_dir / "analysis").mkdir(exist_ok=True)
    metrics = evaluate(run_dir, args.redshifts, args.weights, args.pairs, draws=args.draws,
                       untrained=not args.no_untrained)
    write_json_atomic(run_dir / "analysis" / "metrics.json", metrics, overwrite=True)
    table = summary_table(metrics)
    write_text_atomic(run_dir / "analysis" / "summary.md", table + "\n", overwrite=True)
    print(table)
    print(f"wrote {run_dir / 'analysis'}/metrics.json, summary.md and spectra_z*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
