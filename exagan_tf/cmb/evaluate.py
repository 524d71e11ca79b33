"""Evaluation of a CMB decomposition model: spectra, r_ell and residual ratios against baselines.

For each output channel on the validation maps, in physical units (uK; kappa dimensionless):
band powers of prediction and truth, the cross-correlation coefficient
``r_ell = C^{X^X} / sqrt(C^{X^X^} C^{XX})`` and the residual ratio ``C^{(X^-X)} / C^{XX}`` (the
DeepCMB figure of merit; 0 is perfect), from spectra averaged over the validation set (see
:mod:`exagan_tf.cmb.spectra`). Maps that are not apodised are windowed by the apodisation
window for the spectra; apodised maps are used as they are, spectra divided by ``mean(w^2)``.

Baselines measured the same way: for ``e`` and ``b`` the analytic E, B of the lensed, noisy,
apodised q, u (:func:`exagan_tf.cmb.simulate.qu_to_eb`, the original's "E, B approximation");
for ``k`` the zero map (residual ratio 1, r 0).

What limits the analytic E baseline (:func:`baseline_budget`, ``python -m
exagan_tf.cmb.evaluate --budget DATA_DIR``): the simulator remakes the validation maps, so its
residual splits into E/B leakage from the window (the analytic E of the *unlensed* windowed q, u)
and lensing (the E of the lensed q, u on the periodic box, windowed after the decomposition),
and shows the part of lensing no delensing on the patch can undo: the shift of the unlensed E by
the patch-mean deflection (a translated Gaussian field looks like any other, so the mean
deflection over the patch cannot be told from the patch).

Untrained (:func:`untrained_metrics`): the generator a model folder's run started from, built
by :func:`exagan_tf.cmb.models.build_models` from the folder's ``config.yaml`` (the flags its
``command`` spells out) under its seed, evaluated on the same validation maps in the same way
(``predict_in_batches``: inference mode; pix2pix's always-on dropout stays on, as for the
trained network). With ``--analytic-skip`` its e output is the analytic E exactly (the output
convolution starts at zero), so its row equals the baseline's; without it, it says what the
training added.

``python -m exagan_tf.cmb.evaluate MODEL_DIR`` re-evaluates a trained model folder and writes
``metrics.json``, ``spectra.png`` and TensorBoard figures. ``--table OUTPUT_DIR`` tabulates
every folder: per channel and noise level the floor (for e: the mean-deflection floor of
:func:`baseline_budget` on the folders' validation maps), the baseline, the networks and their
untrained generators (``--untrained-seeds N``: the run's seed and the N - 1 after it, a range
per cell).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from exagan_tf.cmb import spectra as sp
from exagan_tf.errors import UserError, cli_errors

#: multipole edges of the table bands (clipped to the maps' fundamental and Nyquist)
TABLE_EDGES = (0, 500, 1000, 1500, 2000, 3000, 4000)
#: a band whose truth power is below this fraction of the channel's strongest band holds no
#: signal of that channel (the primordial B of CAMB's tensor spectrum ends near ell 1400, so
#: B's high bands hold round-off); tables and the training monitor leave such bands out
SIGNAL_FLOOR = 1e-4


def signal_bands(cl_truth) -> np.ndarray:
    """Which bands of a channel hold signal: truth power >= :data:`SIGNAL_FLOOR` x the
    strongest band's."""
    cl = np.asarray(cl_truth, dtype=np.float64)
    return cl >= SIGNAL_FLOOR * np.max(cl)
CHANNEL_NAMES = {"e": "E", "k": "kappa", "b": "B", "q": "Q", "u": "U", "E": "E (analytic)",
                 "B": "B (analytic)"}


def band_edges(npix: int, pixel_rad: float) -> np.ndarray:
    """The table bands: :data:`TABLE_EDGES` from the fundamental to the Nyquist multipole."""
    lo, hi = 2 * np.pi / (npix * pixel_rad), np.pi / pixel_rad
    inner = [e for e in TABLE_EDGES if lo + 50 < e < hi - 50]
    return np.array([lo, *inner, hi])


def _spectra_setup(data) -> tuple[np.ndarray | None, float]:
    """(window to apply, spectra divisor) for the data's apodisation state."""
    if np.all(data.window == 1.0):
        from exagan_tf.cmb.data import apodization_window

        return apodization_window(data.window.shape[0]), 1.0
    return None, float(np.mean(data.window**2))


def monitor_statistics(pred: np.ndarray, truth: np.ndarray, channels: str, pixel_rad: float,
                       edges, window, norm: float) -> dict:
    """Scalars for the training monitor: per channel the residual ratio and r averaged over the
    bands that hold signal (:func:`signal_bands`), and ``residual_ratio``, their mean over
    channels (lower is better; used to keep the best G)."""
    out = {}
    for i, c in enumerate(channels):
        m = sp.prediction_metrics(pred[..., i], truth[..., i], pixel_rad, edges, window, norm)
        keep = signal_bands(m["cl_truth"])
        out[f"{c}_residual_ratio"] = float(np.mean(m["residual_ratio"][keep]))
        out[f"{c}_r"] = float(np.mean(m["r"][keep]))
    out["residual_ratio"] = float(np.mean([out[f"{c}_residual_ratio"] for c in channels]))
    return out


def baseline(data, channel: str) -> tuple[str, np.ndarray] | None:
    """(name, physical-unit maps) of the baseline for ``channel``, or None."""
    phys = data.val_physical
    if channel == "e":
        return "analytic E from lensed q, u", phys["E"]
    if channel == "b":
        return "analytic B from lensed q, u", phys["B"]
    if channel == "k":
        return "zero", np.zeros_like(phys["k"])
    return None


def _as_lists(d: dict) -> dict:
    return {k: np.asarray(v).tolist() for k, v in d.items()}


def evaluate_arrays(data, pred_physical: np.ndarray, edges=None) -> dict:
    """Metrics of physical-unit predictions ``(n, N, N, C_out)`` for each channel and baseline.

    Returns ``{channel: {"ell_edges", "ell", "model": {...}, "baseline": {...} | None,
    "baseline_name"}}`` with the arrays of :func:`exagan_tf.cmb.spectra.prediction_metrics`.
    """
    npix = pred_physical.shape[1]
    if edges is None:
        edges = band_edges(npix, data.pixel_rad)
    window, norm = _spectra_setup(data)
    centres, modes = sp.band_info(npix, data.pixel_rad, edges)
    out = {}
    for i, c in enumerate(data.outputs):
        truth = data.val_physical[c] if c in data.val_physical else None
        if truth is None:
            raise UserError(f"channel {c!r}: no validation truth to evaluate against")
        entry = {
            "ell_edges": np.asarray(edges).tolist(),
            "ell": centres.tolist(),
            "modes": modes.tolist(),
            "model": _as_lists(sp.prediction_metrics(pred_physical[..., i], truth,
                                                     data.pixel_rad, edges, window, norm)),
            "baseline": None,
            "signal": None,
            "baseline_name": None,
        }
        entry["signal"] = signal_bands(entry["model"]["cl_truth"]).tolist()
        base = baseline(data, c)
        if base is not None:
            entry["baseline_name"] = base[0]
            entry["baseline"] = _as_lists(
                sp.prediction_metrics(base[1], truth, data.pixel_rad, edges, window, norm))
        out[c] = entry
    return out


def baseline_budget(data_dir: str | Path, noise: float = 0.0, validation_split: float = 0.2,
                    seed: int = 483, max_maps: int | None = None, edges=None,
                    only: Sequence[str] | None = None) -> dict:
    """Residual ratios against the windowed unlensed E of the validation maps (see the module
    docstring), per multipole band: ``{"ell_edges", "rows": {name: (nb,) list}, "r": {name:
    (nb,) list}}`` (``r``: the cross-correlation with the truth).

    Rows: ``analytic E`` (the baseline, noisy when ``noise`` > 0), ``window leakage`` (analytic E
    of the unlensed, noise-free windowed q, u), ``lensing`` (windowed E of the lensed q, u on
    the periodic box: no leakage, no noise), ``noise`` (the analytic E of the windowed noise
    alone, when ``noise`` > 0) and ``mean-deflection floor`` (the unlensed E moved
    by the window-weighted mean deflection over the patch). Validation maps, noise and window
    are those of :func:`exagan_tf.cmb.data.load_data` with the same arguments. ``only``: the
    names of the rows wanted (default all; the unlensed maps are remade only for the leakage).
    """
    from exagan_tf.cmb import data as cmb_data
    from exagan_tf.cmb import simulate as sim

    data = cmb_data.load_data(data_dir, "qu", "e", noise=noise, validation_split=validation_split,
                              seed=seed, max_maps=max_maps)
    attrs = sim.read_attrs(data.path)
    params = sim.params_from_attrs(attrs)
    spectra = sim.camb_spectra(params.lmax, params.r, params.cosmology)
    npix, pix, w = params.npix, params.pixel_rad, data.window
    big = params.pad * npix
    lo = (big - npix) // 2
    crop = (slice(lo, lo + npix), slice(lo, lo + npix))
    weight = np.zeros((big, big))
    weight[crop] = w
    lx, ly, _, _, _ = sim.fourier_grid(big, pix)
    leak, lensing, shifted = [], [], []
    for n, i in enumerate(data.val_index):
        box = sim.simulate_map(sim.map_rng(attrs["seed"], int(i)), params, spectra, full=True)
        if noise == 0 and not np.allclose(box["q"][crop] * w, data.val_physical["q"][n],
                                          atol=1e-3 * float(np.abs(box["q"]).max())):
            raise UserError(f"{data.path}: map {i} is not what this simulator makes from the "
                            "file's attributes (another code version?)")
        if only is None or "window leakage" in only:
            plain = sim.simulate_map(sim.map_rng(attrs["seed"], int(i)), params, spectra,
                                     lens=False)
            leak.append(sim.qu_to_eb(plain["q"] * w, plain["u"] * w, pix)[0])
        lensing.append(sim.qu_to_eb(box["q"], box["u"], pix)[0][crop] * w)
        dy, dx = sim.kappa_to_deflection(box["k"], pix)
        my, mx = (float((weight * d).sum() / weight.sum()) for d in (dy, dx))
        moved = np.fft.irfft2(np.fft.rfft2(box["e"]) * np.exp(1j * (lx * mx + ly * my)),
                              s=(big, big))
        shifted.append(moved[crop] * w)
    if edges is None:
        edges = band_edges(npix, pix)
    truth = data.val_physical["e"]
    norm = float(np.mean(w**2))
    rows, rs = {}, {}
    parts = [("analytic E", data.val_physical["E"]), ("window leakage", leak),
             ("lensing", lensing), ("mean-deflection floor", shifted)]
    if noise > 0 and (only is None or "noise" in only):
        clean = cmb_data.load_data(data_dir, "qu", "e", validation_split=validation_split,
                                   seed=seed, max_maps=max_maps).val_physical["E"]
        parts.insert(3, ("noise", truth + data.val_physical["E"] - clean))
    for name, maps in parts:
        if only is not None and name not in only:
            continue
        m = sp.prediction_metrics(np.asarray(maps), truth, pix, edges, None, norm)
        rows[name], rs[name] = m["residual_ratio"].tolist(), m["r"].tolist()
    return {"ell_edges": np.asarray(edges).tolist(), "noise": float(noise), "rows": rows,
            "r": rs}


def format_budget(budget: dict) -> str:
    """Plain-text table of :func:`baseline_budget`."""
    edges = budget["ell_edges"]
    bands = [f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(len(edges) - 1)]
    lines = [f"residual ratio against the unlensed E, noise {budget['noise']:g} uK-arcmin",
             f"  {'':24s}" + "".join(f"{b:>11s}" for b in bands)]
    for name, values in budget["rows"].items():
        lines.append(f"  {name:24s}" + "".join(f"{v:11.4f}" for v in values))
    return "\n".join(lines)


def spectra_figure(metrics: dict, channels: str) -> Figure:
    """Per channel: C_ell of truth, prediction and baseline; r_ell; residual ratio."""
    fig = Figure(figsize=(4.2 * len(channels), 9.0))
    axes = fig.subplots(3, len(channels), squeeze=False, sharex="col")
    for j, c in enumerate(channels):
        m = metrics[c]
        ell = np.asarray(m["ell"])
        ax = axes[0, j]
        ax.plot(ell, np.asarray(m["model"]["cl_truth"]) * ell**2, "k-", label="truth")
        ax.plot(ell, np.asarray(m["model"]["cl_pred"]) * ell**2, "C0--", label="network")
        if m["baseline"] is not None and c != "k":
            ax.plot(ell, np.asarray(m["baseline"]["cl_pred"]) * ell**2, "C1:",
                    label=m["baseline_name"])
        ax.set_yscale("log")
        ax.set_title(CHANNEL_NAMES.get(c, c))
        ax.set_ylabel(r"$\ell^2 C_\ell$")
        ax.legend(fontsize=7)
        for row, key, label in ((1, "r", r"$r_\ell$"), (2, "residual_ratio",
                                                       r"$C_\ell^{\Delta}/C_\ell^{XX}$")):
            ax = axes[row, j]
            ax.plot(ell, m["model"][key], "C0o-", label="network")
            if m["baseline"] is not None:
                ax.plot(ell, m["baseline"][key], "C1s:", label=m["baseline_name"])
            ax.set_ylabel(label)
            ax.axhline(1.0 if key == "r" else 0.0, color="0.6", lw=0.8)
        axes[2, j].set_xlabel(r"$\ell$")
    fig.tight_layout()
    return fig


def format_table(metrics: dict) -> str:
    """Plain-text table: per channel and band, r and residual ratio of model and baseline."""
    lines = []
    for c, m in metrics.get("channels", metrics).items():
        edges = m["ell_edges"]
        lines.append(f"channel {c} ({CHANNEL_NAMES.get(c, c)}): "
                     f"network vs {m['baseline_name'] or 'no baseline'}")
        lines.append("  ell band       r(net)  r(base)  resid(net)  resid(base)")
        signal = signal_bands(m["model"]["cl_truth"])
        for b in range(len(edges) - 1):
            base = m["baseline"]
            if not signal[b]:
                lines.append(f"  {edges[b]:5.0f}-{edges[b + 1]:5.0f}  no signal of this channel")
                continue
            lines.append(
                f"  {edges[b]:5.0f}-{edges[b + 1]:5.0f}  {m['model']['r'][b]:7.3f}  "
                f"{base['r'][b] if base else float('nan'):7.3f}  "
                f"{m['model']['residual_ratio'][b]:10.3f}  "
                f"{base['residual_ratio'][b] if base else float('nan'):11.3f}"
            )
    return "\n".join(lines)


def write_evaluation(model_dir: Path, data, pred: np.ndarray, args, writer=None,
                     step: int = 0) -> dict:
    """Evaluate normalised predictions ``pred`` and write ``metrics.json`` and ``spectra.png``
    into ``model_dir`` (replacing an earlier evaluation), and a TensorBoard figure."""
    from exagan_tf.core.plots import figure_to_array, save_figure
    from exagan_tf.fileio import write_json_atomic

    per_channel = evaluate_arrays(data, data.physical(pred, data.outputs))
    metrics = {
        "architecture": args.architecture,
        "inputs": data.inputs,
        "outputs": data.outputs,
        "noise": args.noise,
        "noise_channels": args.noise_channels,
        "n_val": int(len(pred)),
        "step": int(step),
        "channels": per_channel,
    }
    model_dir = Path(model_dir)
    write_json_atomic(model_dir / "metrics.json", metrics, overwrite=True)
    fine = sp.default_edges(pred.shape[1], data.pixel_rad, nbins=12)
    fig = spectra_figure(evaluate_arrays(data, data.physical(pred, data.outputs), fine),
                         data.outputs)
    save_figure(fig, model_dir / "spectra.png", overwrite=True)
    if writer is not None:
        import tensorflow as tf

        with writer.as_default(step=step):
            tf.summary.image("final_spectra", figure_to_array(fig)[None])
            for c, m in per_channel.items():
                tf.summary.scalar(f"final/{c}_residual_ratio",
                                  float(np.mean(m["model"]["residual_ratio"])))
        writer.flush()
    return metrics


def model_dir_config(model_dir: str | Path):
    """The :class:`~exagan_tf.cmb.config.CMBConfig` of a model folder, from its
    ``config.yaml`` (the flags of its ``command`` file)."""
    import yaml

    from exagan_tf.cmb.config import from_record

    model_dir = Path(model_dir)
    record = model_dir / "config.yaml"
    if not record.is_file():
        raise UserError(f"{model_dir}: no config.yaml; not a model folder of exagan_tf.cmb")
    try:
        stored = yaml.safe_load(record.read_text())
    except yaml.YAMLError:
        raise UserError(f"{record}: unreadable run config") from None
    if not isinstance(stored, dict):
        raise UserError(f"{record}: expected a mapping of flags")
    return from_record(stored, str(record))


def run_data(args):
    """The maps a run trained and was evaluated on (:func:`exagan_tf.cmb.data.load_data` with
    its flags)."""
    from exagan_tf.cmb import data as cmb_data

    return cmb_data.load_data(
        args.data_dir, args.inputs, args.outputs, noise=args.noise,
        noise_channels=args.noise_channels, normalize=not args.no_normalize_maps,
        apodize=not args.no_apodize_maps, validation_split=args.validation_split,
        seed=args.seed, ndeg=args.ndeg, max_maps=args.max_maps,
    )


def evaluate_model(model_dir: str | Path) -> dict:
    """Re-evaluate a trained model folder from its config (``config.yaml``) and final
    generator."""
    import keras

    model_dir = Path(model_dir)
    args = model_dir_config(model_dir)
    model_file = model_dir / "models" / "generator_final.keras"
    if not model_file.is_file():
        raise UserError(f"{model_file}: no trained generator (has training finished?)")
    from exagan_tf.fileio import load_model_safe

    gen = load_model_safe(model_file)
    data = run_data(args)
    pred = np.concatenate([keras.ops.convert_to_numpy(gen(data.x_val[i:i + 32], training=False))
                           for i in range(0, len(data.x_val), 32)])
    return write_evaluation(model_dir, data, pred, args)


def untrained_metrics(args, seeds: Sequence[int] | None = None, data=None,
                      edges=None) -> dict[int, dict]:
    """Per seed (default the run's), the metrics of :func:`evaluate_arrays` for the generator
    the run's flags build at initialisation (``args``: a config or a model folder; ``data``:
    :func:`run_data`'s maps, if at hand).

    The validation maps are the run's (split by the run's seed); only the weights change with
    the seed.
    """
    import dataclasses

    import keras

    from exagan_tf.cmb.models import seeded_generator

    if not hasattr(args, "inputs"):
        args = model_dir_config(args)
    data = data if data is not None else run_data(args)
    out = {}
    for seed in [args.seed] if seeds is None else seeds:
        gen = seeded_generator(dataclasses.replace(args, seed=int(seed)), data.x_train.shape[1],
                               data.scales)
        # as ConditionalGAN.predict_in_batches after training: inference mode, batches of 64
        pred = np.concatenate([keras.ops.convert_to_numpy(gen(data.x_val[i:i + 64],
                                                              training=False))
                               for i in range(0, len(data.x_val), 64)])
        out[int(seed)] = evaluate_arrays(data, data.physical(pred, data.outputs), edges)
    return out


def _cell(values: list, i: int) -> str:
    """A table cell: residual ratio (r), or their ranges over several evaluations."""
    def span(key):
        lo, hi = (f"{f(v[key][i] for v in values):.3f}".replace("-0.000", "0.000")
                  for f in (min, max))
        return lo if lo == hi else f"{lo}{' to ' if '-' in lo + hi else '–'}{hi}"

    return f"{span('residual_ratio')} ({span('r')})"


def _floor(args, edges) -> dict:
    """The mean-deflection floor of the e channel on a run's validation maps, as a metrics
    entry (``residual_ratio``, ``r``)."""
    b = baseline_budget(args.data_dir, 0.0, args.validation_split, args.seed, args.max_maps,
                        edges, only=("mean-deflection floor",))
    return {"residual_ratio": b["rows"]["mean-deflection floor"],
            "r": b["r"]["mean-deflection floor"]}


def collect_table(output_dir: str | Path, untrained_seeds: int = 1, floor: bool = True) -> str:
    """Markdown table of every ``metrics.json`` under ``output_dir``: per channel and noise level,
    the floor (e: the mean-deflection floor of :func:`baseline_budget`), the baseline, each
    network, and each network's generator untrained (:func:`untrained_metrics`, the run's seed
    and the ``untrained_seeds`` - 1 after it; 0 leaves them out): the residual ratio and r per
    multipole band (bands that hold signal of the channel), then each network's change of
    residual ratio against the baseline in percent (negative: the network does better)."""
    files = sorted(Path(output_dir).glob("*/metrics.json"))
    if not files:
        raise UserError(f"{output_dir}: no model folders with metrics.json")
    rows: dict = {}
    floors: dict = {}
    for f in files:
        m = json.loads(f.read_text())
        args = model_dir_config(f.parent) if untrained_seeds > 0 or floor else None
        untrained = {}
        if untrained_seeds > 0:
            seeds = range(args.seed, args.seed + untrained_seeds)
            edges = next(iter(m["channels"].values()))["ell_edges"]
            untrained = untrained_metrics(args, seeds, edges=edges)
        for c, entry in m["channels"].items():
            key = (c, float(m["noise"]))
            group = rows.setdefault(key, {"edges": entry["ell_edges"], "lines": {},
                                          "signal": signal_bands(entry["model"]["cl_truth"]),
                                          "baseline": None, "untrained": {}, "floor": None})
            name = f"{m['architecture']} ({m['inputs']}, {f.parent.name})"
            group["lines"][name] = entry["model"]
            if entry["baseline"] is not None:
                group["baseline"] = (f"baseline: {entry['baseline_name']}", entry["baseline"])
            if untrained:
                seeds = list(untrained)
                label = f"seed {seeds[0]}" if len(seeds) == 1 else \
                    f"seeds {seeds[0]}–{seeds[-1]}"
                group["untrained"][f"untrained {name[:-1]}, {label})"] = [
                    u[c]["model"] for u in untrained.values()]
            if floor and c == "e" and group["floor"] is None:
                where = (args.data_dir, args.validation_split, args.seed, args.max_maps)
                if where not in floors:
                    floors[where] = _floor(args, entry["ell_edges"])
                group["floor"] = floors[where]
    out = []
    for (c, noise), group in sorted(rows.items()):
        edges, keep = group["edges"], np.flatnonzero(group["signal"])
        out.append(f"\n### {CHANNEL_NAMES.get(c, c)} ({c}), noise {noise:g} uK-arcmin: "
                   "residual ratio (r)\n")
        out.append("| model | " + " | ".join(f"ell {edges[i]:.0f}-{edges[i + 1]:.0f}"
                                             for i in keep) + " |")
        out.append("|---" * (1 + len(keep)) + "|")
        lines = {}
        if group["floor"] is not None:
            lines["floor: the unlensed E shifted by the patch-mean deflection"] = [group["floor"]]
        if group["baseline"] is not None:
            lines[group["baseline"][0]] = [group["baseline"][1]]
        lines.update({name: [v] for name, v in group["lines"].items()})
        lines.update(group["untrained"])
        for name, values in lines.items():
            out.append(f"| {name} | " + " | ".join(_cell(values, i) for i in keep) + " |")
        if group["baseline"] is not None:
            base = np.asarray(group["baseline"][1]["residual_ratio"])
            for name, v in group["lines"].items():
                change = 100.0 * (np.asarray(v["residual_ratio"]) / base - 1.0)
                out.append(f"| change vs baseline: {name.split(', ')[-1].rstrip(')')} | "
                           + " | ".join(f"{change[i]:+.0f}%" for i in keep) + " |")
    return "\n".join(out)


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exagan_tf.cmb.evaluate MODEL_DIR [--json]`` or ``--table OUTPUT_DIR``."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.cmb.evaluate",
                                description="re-evaluate a trained CMB model folder, or "
                                            "tabulate the metrics of every folder in OUTPUT_DIR")
    p.add_argument("model_dir", nargs="?", help="model folder written by exagan_tf.cmb.main")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of a table")
    p.add_argument("--table", metavar="OUTPUT_DIR", help="markdown table of all model folders")
    p.add_argument("--budget", metavar="DATA_DIR",
                   help="what limits the analytic E baseline on DATA_DIR's validation maps")
    p.add_argument("--noise", type=float, default=0.0, help="noise level for --budget (0)")
    p.add_argument("--max-maps", type=int, default=None, help="first N maps for --budget")
    p.add_argument("--untrained-seeds", type=int, default=1, metavar="N",
                   help="--table: each folder's generator untrained with the run's seed and the "
                        "N - 1 after it (a range per cell; 0: no untrained rows)")
    p.add_argument("--no-floor", action="store_true",
                   help="--table: leave out the mean-deflection floor of the e channel")
    args = p.parse_args(argv)
    if args.untrained_seeds < 0:
        raise UserError(f"--untrained-seeds {args.untrained_seeds}: expected 0 or more")
    if args.budget:
        print(format_budget(baseline_budget(args.budget, args.noise, max_maps=args.max_maps)))
        return 0
    if args.table:
        print(collect_table(args.table, args.untrained_seeds, not args.no_floor))
        return 0
    if not args.model_dir:
        raise UserError("give a MODEL_DIR to evaluate or --table OUTPUT_DIR")
    metrics = evaluate_model(args.model_dir)
    print(json.dumps(metrics, indent=1) if args.json else format_table(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
