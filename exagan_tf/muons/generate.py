"""Generate muons with the four trained generators into ROOT files, and target the dangerous
region with the VAE.

Generation (``python -m exagan_tf.muons.generate``), as the original ``Generate_from_GAN.py``:
for each of ``--n`` muons requested, the count of each category is drawn from a Poisson law
with mean n * f_c, where f_c is the category's share of the full sample **by summed weight**
(each GAN learned its category's weighted distribution, so every generated muon of every
category carries the same weight W_total / n; ``--proportions count`` uses the raw counts as
the original did). Noise -> generator (batch norm folded, NumPy float32) -> inverse transform
(cm, GeV/c; prompt muons at x = y = 0) -> ``pythia8-Geant4`` TTrees of ``--per-file`` muons.
Progress: a tqdm bar and the muons/s of the whole chain, ROOT output included.

Dangerous region (:func:`vae_dangerous`): muons with p > 100 GeV/c and p_T > 3 GeV/c can reach
the detector. The VAE encodes the real dangerous muons of its training category; new latents
are drawn near them, z = mu_i + s sigma_i eps with i a dangerous muon drawn by weight, decoded
and inverted. Reported: the enrichment factor (dangerous fraction of these muons over the
weighted dangerous fraction of the real sample) and their fidelity (p and p_T of the generated
dangerous muons against the real ones: means and two-sample KS statistics).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.preprocess import CATEGORIES, CategoryTransform, get_category

P_DANGER = 100.0  # GeV/c
PT_DANGER = 3.0  # GeV/c


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
) -> dict:
    """Generate about ``n`` muons (Poisson per category) into ROOT files in ``out_dir``.

    ``generators``: category -> callable noise (m, latent) -> training-space features (a
    :class:`~exagan_tf.muons.models.FoldedGenerator` or a Keras model). Returns counts, files,
    seconds and muons/s (end to end, ROOT output included).
    """
    from tqdm import tqdm

    from exagan_tf.muons import rootio

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

    for cat_name, count in counts.items():
        gen = generators[cat_name]
        latent = int(getattr(gen, "latent", None) or gen.inputs[0].shape[-1])
        tr = transforms[cat_name]
        for start in range(0, count, batch):
            m = min(batch, count - start)
            z = rng.standard_normal((m, latent), dtype=np.float32)
            out = gen(z)
            out = np.asarray(out if isinstance(out, np.ndarray) else out.numpy())
            raw = tr.inverse(np.clip(out, -1.0, 1.0))
            mu = features_to_muons(cat_name, raw)
            mu["w"] = np.full(m, w_each)
            branches = rootio.to_branches(mu)
            buffer.append(branches)
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
            f"generated {total} muons in {seconds:.2f} s: {rate:,.0f} muons/s "
            f"({len(files)} ROOT files in {out_dir})",
            flush=True,
        )
    return {
        "counts": counts,
        "files": files,
        "seconds": seconds,
        "muons_per_s": rate,
        "weight_per_muon": w_each,
    }


def vae_dangerous(
    vae,
    transform: CategoryTransform,
    x: np.ndarray,
    w: np.ndarray,
    n: int,
    scale: float = 1.0,
    seed: int = 0,
) -> dict:
    """Targeted generation near the dangerous muons in the VAE's latent space.

    ``x`` (training space, [-1, 1]) and ``w`` are the real muons of the VAE's category.
    Returns the enrichment factor, the dangerous fractions (real weighted, VAE prior sampling,
    targeted), and p / p_T means and KS statistics of generated vs real dangerous muons.
    """
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(seed)
    raw = transform.inverse(x)
    cat = transform.category
    mu = features_to_muons(cat, raw)
    mask = dangerous(mu["px"], mu["py"], mu["pz"])
    if mask.sum() < 2:
        raise UserError(
            f"category {cat}: {int(mask.sum())} dangerous muons (p > {P_DANGER} GeV, "
            f"pT > {PT_DANGER} GeV) in the sample; at least 2 are needed"
        )
    real_frac = float(w[mask].sum() / w.sum())
    mean, logvar = vae.encode((x[mask] + 1.0) / 2.0)
    mean, logvar = np.asarray(mean), np.asarray(logvar)
    p = w[mask] / w[mask].sum()
    pick = rng.choice(len(p), size=n, p=p)
    z = mean[pick] + scale * np.exp(0.5 * logvar[pick]) * rng.standard_normal(mean[pick].shape)
    targeted = 2.0 * np.asarray(vae.decode(z.astype(np.float32))) - 1.0
    prior = 2.0 * vae.sample(n=n, seed=seed + 1) - 1.0

    def summary(train_space):
        m = features_to_muons(cat, transform.inverse(np.clip(train_space, -1, 1)))
        d = dangerous(m["px"], m["py"], m["pz"])
        pt = np.hypot(m["px"], m["py"])
        return d, np.sqrt(pt**2 + m["pz"] ** 2), pt

    d_t, p_t, pt_t = summary(targeted)
    d_p, _, _ = summary(prior)
    real_p = np.sqrt(mu["px"] ** 2 + mu["py"] ** 2 + mu["pz"] ** 2)[mask]
    real_pt = np.hypot(mu["px"], mu["py"])[mask]
    frac_t = float(d_t.mean())
    out = {
        "n_real_dangerous": int(mask.sum()),
        "real_fraction_weighted": real_frac,
        "prior_fraction": float(d_p.mean()),
        "targeted_fraction": frac_t,
        "enrichment_vs_real": frac_t / real_frac,
        "enrichment_vs_prior": frac_t / d_p.mean() if d_p.any() else float("inf"),
        "real_mean_p": float(real_p.mean()),
        "real_mean_pt": float(real_pt.mean()),
    }
    if d_t.sum() >= 2:
        out.update(
            {
                "gen_mean_p": float(p_t[d_t].mean()),
                "gen_mean_pt": float(pt_t[d_t].mean()),
                "ks_p": float(ks_2samp(p_t[d_t], real_p).statistic),
                "ks_pt": float(ks_2samp(pt_t[d_t], real_pt).statistic),
            }
        )
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.generate",
        description="Generate muons with the four trained GANs into ROOT files.",
    )
    p.add_argument("--data", required=True, help="preprocessed folder (transform.json)")
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="CAT=RUNDIR",
        help="trained GAN run directory per category (4 needed)",
    )
    p.add_argument(
        "--which", default="best_rchi2", help="best_rchi2 | best_nonoverlap | best_auc_gap | final"
    )
    p.add_argument("--n", type=int, default=1_000_000, help="muons to generate (Poisson)")
    p.add_argument("--out", required=True, help="output folder of ROOT files")
    p.add_argument("--per-file", type=int, default=1_000_000)
    p.add_argument("--proportions", default="weight", choices=("weight", "count"))
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    from exagan_tf.muons.models import FoldedGenerator
    from exagan_tf.muons.preprocess import load_transforms
    from exagan_tf.muons.train import load_trained

    transforms = load_transforms(args.data)
    gens = {}
    for item in args.run:
        if "=" not in item:
            raise UserError(f"--run {item!r}: expected CATEGORY=RUN_DIR")
        cat, path = item.split("=", 1)
        kind, cfg, g = load_trained(path, args.which)
        if kind != "gan":
            raise UserError(f"{path}: a {kind} run; generation uses GAN runs")
        name = get_category(cat).name
        if cfg.category != name:
            raise UserError(f"{path}: trained on {cfg.category}, given for {name}")
        gens[name] = FoldedGenerator.from_keras(g)
    generate_to_root(
        gens,
        transforms,
        args.n,
        args.out,
        args.per_file,
        seed=args.seed,
        proportions=args.proportions,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
