"""Generate muons in the dangerous region on purpose with the muon VAE, and judge them.

Dangerous muons (p > 100 GeV/c and p_T > 3 GeV/c, :func:`~exagan_tf.muons.generate.dangerous`)
can reach the SHiP detector; they are about 1e-4 of the prompt muons (none of the displaced ones
in this muon source), so plain generation spends almost all its time elsewhere.

Method (:func:`targeted_generation`). The real dangerous muons of the VAE's category are split at
random into two halves: *seeds* and *held-out*. The encoder maps each seed i to q(z | x_i) =
N(mu_i, sigma_i^2); latents are drawn near them, z = mu_i + s sigma_i eps (i drawn with
probability pi_i = w_i / sum w over the seeds, eps ~ N(0, I), ``scale`` s), decoded and inverted
to cm and GeV/c. Seeds outside the training range are clipped to [-1, 1] first.

A spline-flow run (``flow_*``) is targeted the same way in the flow's base space
(:class:`~exagan_tf.muons.flow.FlowLatents`): the seeds' exact base points f(x_i) take the place
of the encoder's means, and a fixed width (0.1 base-space sigmas, times ``scale``) that of the
posterior's.

Weights. A share a (``prior_mix``, 0.1) of the latents is drawn from the prior itself, so the
latents come from the mixture q(z) = a N(z; 0, I) + (1 - a) sum_i pi_i N(z; mu_i, s^2 sigma_i^2)
instead of the prior N(0, I) that plain VAE generation uses, and each targeted muon carries the
importance weight r(z) = N(z; 0, I) / q(z) <= 1 / a: the targeted muons weighted by r / n are an
unbiased sample of what the VAE generates from its prior (plain generation, weight W_total / n
per muon), concentrated where it matters. The prior share is the defensive part: without it the
weights are unbounded where the seeds' neighbourhoods do not reach, and a weighted estimate
there is as good as biased. Effective sample size (sum r)^2 / sum r^2.

Reported (all fractions are of the VAE's category):

* ``real_fraction``: weighted dangerous fraction of the real muons (the reference sample);
* ``prior_fraction``: fraction of ``n`` prior samples in the region (plain VAE generation);
* ``targeted_fraction`` and the **enrichment factor** ``enrichment`` = targeted / real, the
  question asked; ``enrichment_vs_prior`` = targeted / prior, the gain over plain generation
  with the same VAE;
* ``model_fraction_is``: the VAE's own dangerous fraction estimated from the targeted muons with
  their weights r (with its standard error), to be compared with ``prior_fraction`` (a check of
  the weights) and ``real_fraction`` (the VAE's fidelity in rate);
* fidelity in the region: two-sample Kolmogorov-Smirnov distances (:func:`weighted_ks`) of each
  feature and of p and p_T, generated dangerous muons against the held-out real dangerous muons
  (real weights w), and the mean p and p_T (GeV/c, ``_weighted``: with the weights r):
  ``ks_gen`` with the weights r (the VAE's distribution in the region),
  ``ks_gen_unweighted`` as generated, and ``ks_floor`` = seeds against held-out (two real
  samples of these sizes: what a perfect generator would reach). The weighted numbers mean
  something only when the seeds' neighbourhoods cover where the VAE itself puts its dangerous
  muons: ``is_ess_dangerous``, the effective number of weighted dangerous muons, says so.
  ``ks_gen_unweighted`` judges the muons as generated: latents near real dangerous muons
  decoded, i.e. how faithfully the VAE reproduces that neighbourhood.

The real reference (:func:`simulate_reference`) is an independent production of the same muon
source (:func:`~exagan_tf.muons.simulate.simulate_muons`, a seed no training file uses), large
enough to hold a few hundred dangerous muons; only those and the category totals are kept.

    python -m exagan_tf.muons.dangerous simulate --muons 20000000 --out REF.npz
    python -m exagan_tf.muons.dangerous evaluate RUN_DIR --reference REF.npz [--n 200000]
        [--scale 1] [--which final] [--out RUN_DIR/dangerous.json]
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.generate import P_DANGER, PT_DANGER, dangerous, features_to_muons
from exagan_tf.muons.preprocess import CATEGORIES, CategoryTransform, get_category

REFERENCE_SEED = 20180806  # no training production uses it (those are seeded by file index)
MIN_REAL = 4
MIN_ESS = 30  # effective dangerous muons below which weighted numbers are noise


def weighted_ks(a: np.ndarray, b: np.ndarray, wa=None, wb=None) -> float:
    """Two-sample Kolmogorov-Smirnov distance sup_t |F_a(t) - F_b(t)| of weighted empirical
    distribution functions (weights None: 1 each; then equal to scipy's ``ks_2samp``)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    wa = np.ones(len(a)) if wa is None else np.asarray(wa, np.float64)
    wb = np.ones(len(b)) if wb is None else np.asarray(wb, np.float64)
    if not (len(a) and len(b)) or not (wa.sum() > 0 and wb.sum() > 0):
        raise UserError("weighted_ks: both samples need entries with positive weight")
    ia, ib = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    a, b = a[ia], b[ib]
    ca = np.r_[0.0, np.cumsum(wa[ia]) / wa.sum()]
    cb = np.r_[0.0, np.cumsum(wb[ib]) / wb.sum()]
    t = np.concatenate([a, b])
    fa = ca[np.searchsorted(a, t, side="right")]
    fb = cb[np.searchsorted(b, t, side="right")]
    return float(np.max(np.abs(fa - fb)))


def _log_normal(z: np.ndarray, mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log N(z; mean, exp(logvar)) summed over the last axis (broadcasting)."""
    return -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar), axis=-1)


def importance_weights(
    z: np.ndarray,
    mean: np.ndarray,
    logvar: np.ndarray,
    pi: np.ndarray,
    prior_mix: float = 0.0,
    chunk: int = 4096,
) -> np.ndarray:
    """r(z) = N(z; 0, I) / q(z) for each row of ``z`` (n, k), with the proposal
    q(z) = a N(z; 0, I) + (1 - a) sum_i pi_i N(z; mean_i, exp(logvar_i)), a = ``prior_mix``;
    ``mean``, ``logvar`` (m, k) with the proposal's scale already included. r <= 1 / a."""
    from scipy.special import logsumexp

    if not 0.0 <= prior_mix < 1.0:
        raise UserError(f"prior_mix={prior_mix}: expected a fraction in [0, 1)")
    z = np.asarray(z, np.float64)
    log_pi = np.log(np.asarray(pi, np.float64)) + np.log1p(-prior_mix)
    out = np.empty(len(z))
    for s in range(0, len(z), chunk):
        zc = z[s : s + chunk, None, :]
        log_seeds = logsumexp(_log_normal(zc, mean[None], logvar[None]) + log_pi, axis=1)
        log_p = _log_normal(z[s : s + chunk], 0.0, 0.0)
        log_q = np.logaddexp(log_seeds, np.log(prior_mix) + log_p) if prior_mix else log_seeds
        out[s : s + chunk] = np.exp(log_p - log_q)
    return out


def kinematics(cat_name: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Features by name plus p and p_T (GeV/c) of raw muons (cm, GeV/c) of a category."""
    cols = dict(zip(CATEGORIES[cat_name].features, np.asarray(raw, np.float64).T))
    cols["pT"] = np.hypot(cols["Px"], cols["Py"])
    cols["p"] = np.hypot(cols["pT"], cols["Pz"])
    return cols


def is_dangerous(cat_name: str, raw: np.ndarray) -> np.ndarray:
    """Dangerous mask of raw muons (cm, GeV/c) of a category."""
    m = features_to_muons(cat_name, np.asarray(raw, np.float64))
    return dangerous(m["px"], m["py"], m["pz"])


def targeted_generation(
    vae,
    transform: CategoryTransform,
    real_x: np.ndarray,
    real_w: np.ndarray,
    real_fraction: float,
    n: int = 200_000,
    scale: float = 1.0,
    seed: int = 0,
    prior_mix: float = 0.1,
) -> dict:
    """Targeted generation near real dangerous muons, enrichment and fidelity (module notes).

    Args:
        vae: the trained VAE (``encode`` / ``decode`` on data in [0, 1]).
        transform: the category's preprocessing transform.
        real_x: raw features (cm, GeV/c) of real dangerous muons of the category, (m, d).
        real_w: their weights (m,).
        real_fraction: weighted dangerous fraction of the category's real muons.
        n: muons generated from the prior and by targeting, each.
        scale: s, the latent spread around each seed in units of its posterior sigma.
        seed: seed of the split, the draws and the prior sampling.
        prior_mix: share of the targeted latents drawn from the prior itself (defensive
            mixture: bounds the importance weights by 1 / prior_mix, so the weighted muons
            stay an unbiased sample of the VAE's distribution where the seeds do not reach).
    """
    cat = transform.category
    real_x = np.asarray(real_x, np.float64)
    real_w = np.asarray(real_w, np.float64)
    if real_x.ndim != 2 or real_x.shape[1] != len(transform.features) or len(real_w) != len(real_x):
        raise UserError(
            f"dangerous muons of {cat}: features {real_x.shape} and weights {real_w.shape}; "
            f"expected (m, {len(transform.features)}) and (m,)"
        )
    keep = is_dangerous(cat, real_x) & (real_w > 0)
    real_x, real_w = real_x[keep], real_w[keep]
    if len(real_x) < MIN_REAL:
        raise UserError(
            f"category {cat}: {len(real_x)} real dangerous muons (p > {P_DANGER} GeV/c, "
            f"pT > {PT_DANGER} GeV/c); at least {MIN_REAL} are needed (half seeds, half held out)"
        )
    if not 0 < real_fraction <= 1:
        raise UserError(f"real_fraction={real_fraction}: expected a fraction in (0, 1]")
    if scale <= 0 or n < 1:
        raise UserError(f"scale={scale}, n={n}: both must be positive")
    if not 0.0 <= prior_mix < 1.0:
        raise UserError(f"prior_mix={prior_mix}: expected a fraction in [0, 1)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real_x))
    half = len(order) // 2
    seeds, held = order[:half], order[half:]

    t_seed = transform.forward(real_x[seeds])
    clipped = int(np.sum(np.any(np.abs(t_seed) > 1.0, axis=1)))
    mean, logvar = vae.encode(((np.clip(t_seed, -1.0, 1.0) + 1.0) / 2.0).astype(np.float32))
    mean = np.asarray(mean, np.float64)
    logvar = np.asarray(logvar, np.float64)
    pi = real_w[seeds] / real_w[seeds].sum()
    n_mix = int(round(prior_mix * n))  # exact mixture shares: still unbiased with r below
    pick = rng.choice(len(pi), size=n - n_mix, p=pi)
    z = mean[pick] + scale * np.exp(0.5 * logvar[pick]) * rng.standard_normal(mean[pick].shape)
    z = np.concatenate([z, rng.standard_normal((n_mix, mean.shape[1]))])
    r = importance_weights(z, mean, logvar + 2.0 * np.log(scale), pi, prior_mix)

    def decode_raw(latents: np.ndarray, batch: int = 65536) -> np.ndarray:
        latents = latents.astype(np.float32)
        u01 = np.concatenate(
            [np.asarray(vae.decode(latents[i : i + batch])) for i in range(0, len(latents), batch)]
        )
        return transform.inverse(np.clip(2.0 * u01.astype(np.float64) - 1.0, -1.0, 1.0))

    gen = decode_raw(z)
    # plain VAE generation: z ~ N(0, I), as VAE.sample(n, seed + 1) draws it
    prior = decode_raw(np.random.default_rng(seed + 1).standard_normal((n, mean.shape[1])))
    d_gen = is_dangerous(cat, gen)
    d_prior = is_dangerous(cat, prior)
    frac_t = float(d_gen.mean())
    frac_p = float(d_prior.mean())
    is_terms = r * d_gen
    out = {
        "category": cat,
        "n": n,
        "scale": scale,
        "prior_mix": prior_mix,
        "n_real_dangerous": int(len(real_x)),
        "n_seeds": int(len(seeds)),
        "n_held_out": int(len(held)),
        "seeds_clipped": clipped,
        "real_fraction": float(real_fraction),
        "prior_fraction": frac_p,
        "prior_count": int(d_prior.sum()),
        "targeted_fraction": frac_t,
        "targeted_count": int(d_gen.sum()),
        "enrichment": frac_t / real_fraction,
        "enrichment_vs_prior": frac_t / frac_p if frac_p > 0 else float("inf"),
        "model_fraction_is": float(is_terms.mean()),
        "model_fraction_is_error": float(is_terms.std(ddof=1) / np.sqrt(n)),
        "is_mean_weight": float(r.mean()),  # E_q[r] = 1
        "is_ess": float(r.sum() ** 2 / np.sum(r**2)),
        "is_ess_dangerous": float(is_terms.sum() ** 2 / np.sum(is_terms**2))
        if d_gen.any()
        else 0.0,
    }
    real_k = kinematics(cat, real_x)
    names = [*transform.features, "p", "pT"]
    out["real_mean_p"] = float(np.average(real_k["p"][held], weights=real_w[held]))
    out["real_mean_pT"] = float(np.average(real_k["pT"][held], weights=real_w[held]))
    out["ks_floor"] = {
        k: weighted_ks(real_k[k][seeds], real_k[k][held], real_w[seeds], real_w[held])
        for k in names
    }
    if d_gen.sum() >= 2:
        gen_k = kinematics(cat, gen[d_gen])
        rd = r[d_gen]
        out["gen_mean_p"] = float(gen_k["p"].mean())  # as generated
        out["gen_mean_pT"] = float(gen_k["pT"].mean())
        out["gen_mean_p_weighted"] = float(np.average(gen_k["p"], weights=rd))
        out["gen_mean_pT_weighted"] = float(np.average(gen_k["pT"], weights=rd))
        out["ks_gen"] = {k: weighted_ks(gen_k[k], real_k[k][held], rd, real_w[held]) for k in names}
        out["ks_gen_unweighted"] = {
            k: weighted_ks(gen_k[k], real_k[k][held], None, real_w[held]) for k in names
        }
    return out


def simulate_reference(n_muons: int, seed: int = REFERENCE_SEED, chunk: int = 1_000_000) -> dict:
    """An independent real production of ``n_muons`` muons, reduced to what the dangerous-region
    study needs: per category the dangerous muons (raw features, cm and GeV/c; raw weights),
    the category's muon count and summed weight. Simulated in chunks (memory ~ one chunk)."""
    from exagan_tf.muons import simulate
    from exagan_tf.muons.preprocess import split_categories

    if n_muons < 1 or chunk < 1:
        raise UserError(f"n_muons={n_muons}, chunk={chunk}: both must be >= 1")
    out = {c: {"x": [], "w": [], "count": 0, "weight_sum": 0.0} for c in CATEGORIES}
    t0 = time.perf_counter()
    for k, start in enumerate(range(0, n_muons, chunk)):
        chunk_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        m = simulate.simulate_muons(min(chunk, n_muons - start), seed=chunk_seed)
        for c, (w, x) in split_categories(m).items():
            d = is_dangerous(c, x)
            out[c]["x"].append(x[d])
            out[c]["w"].append(w[d])
            out[c]["count"] += len(w)
            out[c]["weight_sum"] += float(w.sum())
        done = min(start + chunk, n_muons)
        el = time.perf_counter() - t0
        print(
            f"reference: {done}/{n_muons} muons | left {el / done * (n_muons - done):.0f} s",
            flush=True,
        )
    return {
        c: {
            "x": np.concatenate(v["x"]),
            "w": np.concatenate(v["w"]),
            "count": v["count"],
            "weight_sum": v["weight_sum"],
        }
        for c, v in out.items()
    }


def save_reference(path: str | Path, ref: dict, n_muons: int, seed: int) -> None:
    """Write a reference (:func:`simulate_reference`) as one ``.npz`` file, atomically."""
    from exagan_tf.fileio import atomic_path

    arrays = {"n_muons": np.int64(n_muons), "seed": np.int64(seed)}
    for c, v in ref.items():
        arrays[f"{c}/x"] = v["x"]
        arrays[f"{c}/w"] = v["w"]
        arrays[f"{c}/count"] = np.int64(v["count"])
        arrays[f"{c}/weight_sum"] = np.float64(v["weight_sum"])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_reference(path: str | Path, category: str) -> dict:
    """One category of a saved reference: x (m, d), w (m,), count, weight_sum, fraction."""
    path = Path(path)
    cat = get_category(category)
    if not path.is_file():
        raise UserError(f"{path}: no such reference file (make it with `dangerous simulate`)")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz archive; not a dangerous-region reference")
    try:
        with np.load(path, allow_pickle=False) as f:
            x, w = f[f"{cat.name}/x"], f[f"{cat.name}/w"]
            count, weight_sum = int(f[f"{cat.name}/count"]), float(f[f"{cat.name}/weight_sum"])
    except KeyError as e:
        raise UserError(f"{path}: no array {e}; not a dangerous-region reference") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None
    if x.ndim != 2 or x.shape[1] != cat.dim or len(w) != len(x):
        raise UserError(f"{path}: {cat.name}/x has shape {x.shape}, expected (m, {cat.dim})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w))):
        raise UserError(f"{path}: {cat.name} holds NaN or infinite values")
    if not weight_sum > 0:
        raise UserError(f"{path}: category {cat.name} has no muons")
    return {
        "x": x,
        "w": w,
        "count": count,
        "weight_sum": weight_sum,
        "fraction": float(w.sum() / weight_sum),
    }


def evaluate_run(
    run_dir: str | Path,
    reference: str | Path,
    n: int = 200_000,
    scale: float = 1.0,
    which: str = "final",
    seed: int = 0,
    data_dir: str | Path | None = None,
    prior_mix: float = 0.1,
) -> dict:
    """:func:`targeted_generation` for a trained VAE or flow run against a saved reference."""
    from exagan_tf.muons.preprocess import load_transforms
    from exagan_tf.muons.train import load_trained

    kind, cfg, vae = load_trained(run_dir, which)
    if kind == "flow":
        from exagan_tf.muons.flow import FlowLatents

        vae = FlowLatents(vae)  # the flow's base space as the latent space
    elif kind != "vae":
        raise UserError(f"{run_dir}: a {kind} run; targeting the dangerous region needs a VAE "
                        "or a flow")
    transform = load_transforms(data_dir or cfg.datadir)[cfg.category]
    ref = load_reference(reference, cfg.category)
    out = targeted_generation(
        vae, transform, ref["x"], ref["w"], ref["fraction"], n, scale, seed, prior_mix
    )
    out.update(
        {
            "run": str(run_dir),
            "which": which,
            "reference": str(reference),
            "reference_muons_in_category": ref["count"],
        }
    )
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.dangerous", description=__doc__.split("\n\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate the real reference of dangerous muons")
    s.add_argument("--muons", type=int, default=20_000_000, help="muons to simulate in all")
    s.add_argument("--seed", type=int, default=REFERENCE_SEED)
    s.add_argument("--out", required=True, help="output .npz file (never overwritten)")
    e = sub.add_parser("evaluate", help="targeted generation with a trained VAE or flow run")
    e.add_argument("run", help="VAE or flow run directory")
    e.add_argument("--reference", required=True, help=".npz written by `simulate`")
    e.add_argument("--n", type=int, default=200_000, help="muons generated each way")
    e.add_argument("--scale", type=float, default=1.0, help="latent spread s (posterior sigmas)")
    e.add_argument("--which", default="final", help="final | best_rchi2 | best_nonoverlap | ...")
    e.add_argument("--prior-mix", type=float, default=0.1, help="share drawn from the prior")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--datadir", default=None, help="preprocessed folder (default: the run's)")
    e.add_argument("--out", default=None, help="JSON (default RUN/dangerous_WHICH_sSCALE.json)")
    return p.parse_args(argv)


def format_result(r: dict) -> str:
    """A few lines of the main numbers."""
    lines = [
        f"{r['category']}: {r['n_real_dangerous']} real dangerous muons "
        f"({r['n_seeds']} seeds, {r['seeds_clipped']} clipped to the training range; "
        f"{r['n_held_out']} held out), scale {r['scale']}, prior share {r['prior_mix']}",
        f"  dangerous fraction: real {r['real_fraction']:.3g} | model's prior "
        f"{r['prior_fraction']:.3g} ({r['prior_count']}/{r['n']}) | importance-weighted "
        f"{r['model_fraction_is']:.3g} +- {r['model_fraction_is_error']:.2g} | targeted "
        f"{r['targeted_fraction']:.3g}",
        f"  enrichment {r['enrichment']:.4g} x real, {r['enrichment_vs_prior']:.4g} x prior; "
        f"ESS {r['is_ess']:.0f} (dangerous {r['is_ess_dangerous']:.0f})",
        "  KS floor  " + " ".join(f"{k}={v:.3f}" for k, v in r["ks_floor"].items()),
    ]
    if "ks_gen" in r:
        lines.append(
            "  KS as gen " + " ".join(f"{k}={v:.3f}" for k, v in r["ks_gen_unweighted"].items())
        )
        if r["is_ess_dangerous"] >= MIN_ESS:
            ks = " ".join(f"{k}={v:.3f}" for k, v in r["ks_gen"].items())
            lines.append("  KS weighted " + ks)
        else:
            lines.append(
                f"  (weighted by r: effective {r['is_ess_dangerous']:.0f} dangerous muons, "
                f"fewer than {MIN_ESS}: the weighted KS and fraction say little)"
            )
        lines.append(
            f"  as generated: mean p {r['gen_mean_p']:.1f} (real {r['real_mean_p']:.1f}) GeV/c, "
            f"mean pT {r['gen_mean_pT']:.2f} (real {r['real_mean_pT']:.2f}) GeV/c"
        )
    return "\n".join(lines)


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    if args.command == "simulate":
        out = Path(args.out)
        if out.exists():
            raise UserError(f"{out}: already exists; refusing to overwrite it")
        ref = simulate_reference(args.muons, args.seed)
        save_reference(out, ref, args.muons, args.seed)
        for c, v in ref.items():
            frac = v["w"].sum() / v["weight_sum"] if v["weight_sum"] else 0.0
            print(f"{c}: {len(v['w'])} dangerous of {v['count']} (weighted fraction {frac:.3g})")
        return 0
    from exagan_tf.fileio import write_json_atomic

    res = evaluate_run(
        args.run,
        args.reference,
        args.n,
        args.scale,
        args.which,
        args.seed,
        args.datadir,
        args.prior_mix,
    )
    out = Path(args.out or Path(args.run) / f"dangerous_{args.which}_s{args.scale:g}.json")
    write_json_atomic(out, res)
    print(format_result(res))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
