"""The figure-of-merit tables of trained muon runs, and the measurement of the yardstick.

    python -m exagan_tf.muons.report [--expts expts] [--run 0] [--gan gan_demo] [--vae vae_demo]
        [--flow flow_demo] [--mixture gmm_demo]

reads ``EXPTS/muon_TAG/runRUN_CATEGORY/`` (``fom_floor.json``, ``fom_untrained.json`` and
``models/final.json``, the FOM at the last step: the best-model records are chosen on the same
held-out muons, so they would flatter) and prints two Markdown tables. The FOM: per category,
the floor (copies of the training muons scored like a generator: what a perfect generator
scores, with the AUC range of its draws), the untrained networks and the trained GAN and VAE,
and where their runs exist the Gaussian mixture (the classical baseline,
:mod:`exagan_tf.muons.gmm`) and the spline flow (:mod:`exagan_tf.muons.flow`), each as reduced
chi^2 / overlap / ROC AUC. Memorisation: nn_ratio / nn_close of the trained
networks (:func:`exagan_tf.muons.fom.memorisation`). A missing run is a dash.

    python -m exagan_tf.muons.report --run 0 --run 1 --run 2

with several runs (the same tags trained with ``--seed 0``, ``1``, ``2``) prints one table
instead: per category and model, the median and range over the runs of the AUC and of the
reduced chi^2, and the largest ``nn_close`` (training is chaotic for the GAN and VAE: the same
seed gives other numbers on another CPU, so a single run says little). The floor's column is the
median and range of the runs' floors (each run draws its own).

    python -m exagan_tf.muons.report --yardstick DATA [--size 10000] [--draws 5] [--gmm 64]

measures the yardstick itself on preprocessed data (the numbers quoted in ``fom.py``): per
category the AUC (mean ± sd over draws) of copies of the training
muons against the old real sample (both BDT halves drawn from all held-out rows) and the new
one (disjoint halves), the same with a ``sample_weight`` BDT on the held-out rows instead of
resampling, a blurred copy under both, and with ``--gmm K`` a K-component full-covariance
Gaussian mixture fitted to weighted draws of the training muons.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.preprocess import CATEGORIES

LABELS = {
    "mup_prompt": "μ⁺ prompt (4-D)",
    "mum_prompt": "μ⁻ prompt (4-D)",
    "mup_displaced": "μ⁺ displaced (6-D)",
    "mum_displaced": "μ⁻ displaced (6-D)",
}
BLUR = 0.03  # the yardstick's blurred copy: training muons + N(0, BLUR) in the [-1, 1] space


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise UserError(f"{path}: not valid JSON") from None


def fom_cell(d: dict | None) -> str:
    """'rchi2 / overlap / AUC' of a FOM record (a dash when missing; reduced chi^2 1e8, the
    original's value when no bin has more than 9 entries in both histograms, is a dash too);
    a floor record's AUC range over its draws follows in brackets."""
    if d is None:
        return "–"
    x = d["rchi2"]
    rchi2 = "–" if x >= 1e8 else f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.3g}"
    cell = f"{rchi2} / {d['overlap']:.2f} / {d['auc']:.3f}"
    if "auc_min" in d and "auc_max" in d:
        cell += f" ({d['auc_min']:.3f}–{d['auc_max']:.3f})"
    return cell


def memo_cell(d: dict | None) -> str:
    """'nn_ratio / nn_close' of a FOM record, marked when memorised (a dash when missing)."""
    from exagan_tf.muons.fom import MEMORISED_ABOVE

    if d is None or "nn_ratio" not in d:
        return "–"
    flag = " memorised" if d["nn_close"] > MEMORISED_ABOVE else ""
    return f"{d['nn_ratio']:.2f} / {d['nn_close']:.3f}{flag}"


def collect(expts: str | Path, run: str, tags: dict[str, str]) -> dict[str, dict]:
    """{category: {floor, <kind>_untrained, <kind>, <kind>_step}} from the runs that exist."""
    expts = Path(expts)
    out = {}
    for cat in CATEGORIES:
        row: dict = {}
        for kind, tag in tags.items():
            rd = expts / f"muon_{tag}" / f"run{run}_{cat}"
            if row.get("floor") is None:
                row["floor"] = _read(rd / "fom_floor.json")
            row[f"{kind}_untrained"] = _read(rd / "fom_untrained.json")
            final = _read(rd / "models" / "final.json")
            row[kind] = final
            row[f"{kind}_step"] = int(final["step"]) if final else None
        out[cat] = row
    return out


def _steps(rows: dict[str, dict], kinds) -> dict:
    return {
        k: next((r[f"{k}_step"] for r in rows.values() if r.get(f"{k}_step")), None) for k in kinds
    }


def markdown_table(rows: dict[str, dict], kinds=("gan", "vae")) -> str:
    """The FOM table (cells: reduced chi^2 / overlap / AUC)."""
    steps = _steps(rows, kinds)
    head = ["category", "floor (copies of training muons)"]
    for k in kinds:
        if k == "gmm":  # a fit, not a network: no untrained state, EM iterations
            head += [f"Gaussian mixture ({steps[k] or '?'} EM iterations)"]
            continue
        head += [f"{k.upper()} untrained", f"{k.upper()} ({steps[k] or '?'} steps)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cat, r in rows.items():
        cells = [LABELS[cat], fom_cell(r.get("floor"))]
        for k in kinds:
            if k != "gmm":
                cells.append(fom_cell(r.get(f"{k}_untrained")))
            cells.append(fom_cell(r.get(k)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memorisation_table(rows: dict[str, dict], kinds=("gan", "vae")) -> str:
    """The memorisation table of the trained networks (cells: nn_ratio / nn_close)."""
    steps = _steps(rows, kinds)
    head = ["category"] + [f"Gaussian mixture ({steps[k] or '?'} EM iterations)" if k == "gmm"
                           else f"{k.upper()} ({steps[k] or '?'} steps)" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cat, r in rows.items():
        lines.append("| " + " | ".join([LABELS[cat]] + [memo_cell(r.get(k)) for k in kinds]) + " |")
    return "\n".join(lines)


def _spread(values: list[float], fmt: str) -> str:
    """'median (min–max)' of the values, or the value alone when there is one."""
    if len(values) == 1:
        return format(values[0], fmt)
    lo, med, hi = np.min(values), np.median(values), np.max(values)
    return f"{format(med, fmt)} ({format(lo, fmt)}–{format(hi, fmt)})"


def seeds_table(runs: list[dict[str, dict]], kinds=("gan", "vae")) -> str:
    """One table over several runs of each model (the rows of :func:`collect` per run): cells
    'AUC median (range); χ² median (range); nn_close max', ``n`` runs found of each; a dash
    where no run of the model exists. Reduced chi^2 of 1e8 (no populated bin) is left out."""
    head = ["category", "floor (copies of training muons)"]
    for k in kinds:
        if k != "gmm":
            head.append(f"{k.upper()} untrained")
        head.append("Gaussian mixture" if k == "gmm" else k.upper())
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(records: list[dict | None], memo: bool) -> str:
        recs = [r for r in records if r is not None]
        if not recs:
            return "–"
        out = _spread([r["auc"] for r in recs], ".3f")
        chi = [r["rchi2"] for r in recs if r["rchi2"] < 1e8]
        if chi:
            out += "; χ² " + _spread(chi, ".3g")
        if memo and all("nn_close" in r for r in recs):
            out += f"; nn_close ≤ {max(r['nn_close'] for r in recs):.3f}"
        return out + (f" [{len(recs)}]" if len(records) > 1 else "")

    for cat in runs[0]:
        rows = [r[cat] for r in runs]
        cells = [LABELS[cat], cell([r.get("floor") for r in rows], False)]
        for k in kinds:
            if k != "gmm":
                cells.append(cell([r.get(f"{k}_untrained") for r in rows], False))
            cells.append(cell([r.get(k) for r in rows], True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _weighted_auc(x_val, w_val, fake, n: int, classifier: str, seed: int) -> float:
    """AUC of a BDT trained with ``sample_weight`` on one half of the held-out rows (weights
    scaled to ``n``) against ``fake[:n]``, tested on the other half against ``fake[n:2n]``."""
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from exagan_tf.muons.fom import make_classifier

    perm = np.random.default_rng([seed, 17]).permutation(len(x_val))
    a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    sw_a, sw_b = w_val[a] * n / w_val[a].sum(), w_val[b] * n / w_val[b].sum()
    clf = make_classifier(classifier, seed)
    with threadpool_limits(1):
        clf.fit(np.r_[x_val[a], fake[:n]], np.r_[np.ones(len(a)), np.zeros(n)],
                sample_weight=np.r_[sw_a, np.ones(n)])
        score = np.r_[clf.predict_proba(x_val[b])[:, 1], clf.predict_proba(fake[n : 2 * n])[:, 1]]
    return float(roc_auc_score(np.r_[np.ones(len(b)), np.zeros(n)], score,
                               sample_weight=np.r_[sw_b, np.ones(n)]))


def yardstick(data: str | Path, n: int, draws: int, classifier: str = "hist", gmm: int = 0,
              val_fraction: float = 0.2, categories=None, log=print) -> dict[str, dict]:
    """{category: {measure: [AUC per draw]}} of the yardstick measurement (module docstring);
    also ``nn_close`` of the blurred copy and the mixture, and the held-out effective size."""
    from exagan_tf.muons import fom
    from exagan_tf.muons import preprocess as pp

    out = {}
    for cat in [pp.get_category(c).name for c in categories or CATEGORIES]:
        x, w = pp.load_category(data, cat)
        (x_tr, w_tr), (x_val, w_val) = pp.split_train_val(x, w, val_fraction)
        res: dict = {"ess_heldout": float(w_val.sum() ** 2 / (w_val**2).sum()),
                     "n_heldout": len(x_val)}
        mix = None
        if gmm:
            from sklearn.mixture import GaussianMixture

            t0 = time.perf_counter()
            mix = GaussianMixture(gmm, covariance_type="full", random_state=0)
            mix.fit(fom.copies_sample(x_tr, w_tr, len(x_tr) // 2, len(x_tr) // 2, 0))
            res["gmm_fit_seconds"] = time.perf_counter() - t0
        for k in range(draws):
            old = pp.WeightedSampler(w_val, k + 1).sample(x_val, 2 * n)  # the suite's former
            new = fom.heldout_real_sample(x_val, w_val, n, n, k)
            copies = fom.copies_sample(x_tr, w_tr, n, n, 100 + k)
            blur = copies + np.random.default_rng([k, 5]).normal(0, BLUR, copies.shape)
            samples = {"copies": copies, "blurred": blur}
            if mix is not None:
                samples["gmm"] = mix.sample(2 * n)[0][np.random.default_rng(k).permutation(2 * n)]
            for name, fake in samples.items():
                res.setdefault(f"{name}_old", []).append(
                    fom.bdt_fom(old, fake, n, n, classifier, k)["auc"])
                res.setdefault(f"{name}_new", []).append(
                    fom.bdt_fom(new, fake, n, n, classifier, k)["auc"])
                res.setdefault(f"{name}_weighted", []).append(
                    _weighted_auc(x_val, w_val, fake, n, classifier, k))
                if name != "copies":
                    res.setdefault(f"{name}_nn_close", []).append(
                        fom.memorisation(x_tr, new, fake)["nn_close"])
        out[cat] = res
        log(f"{cat}: " + " ".join(
            f"{key}={np.mean(v):.4f}±{np.std(v, ddof=1) if len(v) > 1 else 0:.4f}"
            for key, v in res.items() if isinstance(v, list)))
    return out


def yardstick_table(res: dict[str, dict]) -> str:
    """Markdown table of :func:`yardstick`: mean ± sd of each measure over the draws."""
    keys = [k for k in next(iter(res.values())) if isinstance(next(iter(res.values()))[k], list)]
    lines = ["| category | held-out ESS | " + " | ".join(keys) + " |",
             "|" + "---|" * (len(keys) + 2)]
    for cat, r in res.items():
        cells = [f"{np.mean(r[k]):.3f} ± {np.std(r[k], ddof=1) if len(r[k]) > 1 else 0:.3f}"
                 for k in keys]
        lines.append(f"| {LABELS[cat]} | {r['ess_heldout']:.0f} of {r['n_heldout']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.muons.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--expts", default="expts", help="root of the run directories")
    p.add_argument("--run", action="append", default=None,
                   help="run number or name (repeat for the table over several seeds)")
    p.add_argument("--gan", default="gan_demo", help="GAN config tag")
    p.add_argument("--vae", default="vae_demo", help="VAE config tag")
    p.add_argument("--flow", default="flow_demo", help="spline-flow config tag")
    p.add_argument("--mixture", default="gmm_demo", help="Gaussian-mixture config tag")
    p.add_argument("--yardstick", metavar="DATA", default=None,
                   help="measure the yardstick on this preprocessed data folder instead")
    p.add_argument("--size", type=int, default=10_000, help="yardstick: muons per BDT half")
    p.add_argument("--draws", type=int, default=5, help="yardstick: draws per measure")
    p.add_argument("--classifier", default="hist", help="yardstick: hist | gbc")
    p.add_argument("--gmm", type=int, default=0, help="yardstick: mixture components (0: none)")
    p.add_argument("--category", action="append", default=None, help="yardstick: category")
    args = p.parse_args(argv)
    if args.yardstick is not None:
        if args.size < 1 or args.draws < 1 or args.gmm < 0:
            raise UserError(f"--size {args.size} --draws {args.draws} --gmm {args.gmm}: "
                            "expected positive sizes and draws, components >= 0")
        res = yardstick(args.yardstick, args.size, args.draws, args.classifier, args.gmm,
                        categories=args.category)
        print(yardstick_table(res))
        return 0
    tags = {"gan": args.gan, "vae": args.vae, "gmm": args.mixture, "flow": args.flow}
    runs = args.run or ["0"]
    per_run = [collect(args.expts, run, tags) for run in runs]
    for run, rows in zip(runs, per_run):
        if not any(v for r in rows.values() for v in r.values()):
            raise UserError(f"{args.expts}: no muon runs run{run}_* of {', '.join(tags.values())}")
    # GAN and VAE columns always; the mixture's and the flow's where a run exists
    kinds = tuple(k for k in tags if k in ("gan", "vae")
                  or any(r.get(k) for rows in per_run for r in rows.values()))
    if len(runs) > 1:
        print(seeds_table(per_run, kinds))
        return 0
    rows = per_run[0]
    print(markdown_table(rows, kinds))
    print()
    print(memorisation_table(rows, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
