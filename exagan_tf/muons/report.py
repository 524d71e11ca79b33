"""The figure-of-merit table of trained muon runs: per category, the real-vs-real floor, the
untrained networks and the trained GAN and VAE, and where they exist the Gaussian mixture (the
classical baseline, :mod:`exagan_tf.muons.gmm`) and the spline flow
(:mod:`exagan_tf.muons.flow`), each as reduced chi^2 / overlap / ROC AUC.

    python -m exagan_tf.muons.report [--expts expts] [--run 0] [--gan gan_demo] [--vae vae_demo]
        [--flow flow_demo] [--gmm gmm_demo]

reads ``EXPTS/muon_TAG/runRUN_CATEGORY/`` (``fom_floor.json``, ``fom_untrained.json`` and
``models/final.json``, the FOM at the last step: the best-model records are chosen on the same
held-out muons, so they would flatter) and prints a Markdown table. A missing run is a dash.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.preprocess import CATEGORIES

LABELS = {
    "mup_prompt": "μ⁺ prompt (4-D)",
    "mum_prompt": "μ⁻ prompt (4-D)",
    "mup_displaced": "μ⁺ displaced (6-D)",
    "mum_displaced": "μ⁻ displaced (6-D)",
}


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise UserError(f"{path}: not valid JSON") from None


def fom_cell(d: dict | None) -> str:
    """'rchi2 / overlap / AUC' of a FOM record (a dash when missing; reduced chi^2 1e8, the
    original's value when no bin has more than 9 entries in both histograms, is a dash too)."""
    if d is None:
        return "–"
    x = d["rchi2"]
    rchi2 = "–" if x >= 1e8 else f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.3g}"
    return f"{rchi2} / {d['overlap']:.2f} / {d['auc']:.3f}"


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


def markdown_table(rows: dict[str, dict], kinds=("gan", "vae")) -> str:
    """The table (cells: reduced chi^2 / overlap / AUC)."""
    steps = {
        k: next((r[f"{k}_step"] for r in rows.values() if r.get(f"{k}_step")), None) for k in kinds
    }
    head = ["category", "floor (real vs real)"]
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


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.muons.report", description=__doc__)
    p.add_argument("--expts", default="expts", help="root of the run directories")
    p.add_argument("--run", default="0", help="run number or name")
    p.add_argument("--gan", default="gan_demo", help="GAN config tag")
    p.add_argument("--vae", default="vae_demo", help="VAE config tag")
    p.add_argument("--flow", default="flow_demo", help="spline-flow config tag")
    p.add_argument("--gmm", default="gmm_demo", help="Gaussian-mixture config tag")
    args = p.parse_args(argv)
    tags = {"gan": args.gan, "vae": args.vae, "gmm": args.gmm, "flow": args.flow}
    rows = collect(args.expts, args.run, tags)
    if not any(v for r in rows.values() for v in r.values()):
        raise UserError(f"{args.expts}: no muon runs run{args.run}_* of {', '.join(tags.values())}")
    # GAN and VAE columns always; the mixture's and the flow's where a run exists
    kinds = [k for k in tags if k in ("gan", "vae") or any(r.get(k) for r in rows.values())]
    print(markdown_table(rows, tuple(kinds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
