"""Analyse a trained ExaGAN run: ``python -m exagan_tf.analyze CONFIG RUN``.

Loads a generator of ``expts/CONFIG/runRUN`` (the best-chisq one by default), generates samples
and judges them against held-out validation images with the statistics used during training.
To make the numbers readable it reports the same statistics, on the same reference and with the
same number of images, for (see :mod:`exagan_tf.cosmo.yardsticks`)

- the floor from *independent universes*: images of the training universes (never in the
  validation set) against the reference, in several disjoint random draws (median, min, max):
  what a perfect generator of the training data would score;
- the floor from the *same universes*: the validation images interleaved with the reference
  (neighbouring slices of the same universes; correlated with the reference, so far tighter than
  any generator can be, kept as the original's kind of floor); and
- the ceiling: an untrained generator (same architecture, fresh initialisation); and
- a classical baseline: a lognormal field with the training set's P(k) and pixel PDF
  (:mod:`exagan_tf.cosmo.lognormal`, fitted once and kept in ``analysis/lognormal.npz``).

The reference is ``val[0::2]`` of ``--n`` validation images spread evenly over every validation
universe. Writes ``analysis/<checkpoint>/`` in the run: ``samples.png``,
``pixel_histogram.png``, ``power_spectrum.png`` and ``metrics.json``; prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors

CHECKPOINTS = ("best_chisq", "best_chisq_pspect", "final", "latest")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.analyze", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("config", help="config tag of the run")
    p.add_argument("run", help="run number or name")
    p.add_argument(
        "--checkpoint",
        default="best_chisq",
        choices=CHECKPOINTS,
        help="which generator to analyse (default best_chisq)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="validation images to use (default 2 * n_eval of the run's config)",
    )
    p.add_argument("--expts", default="expts", help="root folder of run directories")
    p.add_argument("--seed", type=int, default=2024, help="noise seed of the generated samples")
    p.add_argument(
        "--floor-draws",
        type=int,
        default=3,
        help="draws of training-universe images for the independent floor (default 3)",
    )
    return p.parse_args(argv)


def load_run_config(run_dir: Path):
    """The DCGAN config a run was trained with (its own ``config.yaml``)."""
    import yaml

    from exagan_tf.config import DCGANConfig, config_from_dict

    cfg_file = run_dir / "config.yaml"
    if not cfg_file.exists():
        raise UserError(
            f"{run_dir}: no such run (no config.yaml); train it first with "
            f"`python -m exagan_tf.train {run_dir.parent.name} {run_dir.name[3:]}`"
        )
    return config_from_dict(DCGANConfig, yaml.safe_load(cfg_file.read_text()), str(cfg_file))


def load_generator(run_dir: Path, cfg, data_format: str, checkpoint: str):
    """Build the run's network (the DCGAN generator, or the flow-matching velocity field of
    :mod:`exagan_tf.cosmo.fm`) and load the weights of ``checkpoint``; return (model,
    description)."""
    if cfg.model_kind == "flow":
        from exagan_tf.cosmo import fm

        return restore_network(fm.build_velocity(cfg), "velocity", run_dir, checkpoint)
    from exagan_tf.cosmo.dcgan import build_generator

    return restore_network(build_generator(cfg, data_format), "generator", run_dir, checkpoint)


def restore_network(net, part: str, run_dir: Path, checkpoint: str):
    """Load into ``net`` the weights of a run's ``checkpoint``: ``latest`` from the training
    checkpoint (where the network is saved as ``part``), else ``models/g_<checkpoint>`` (or
    ``g_final``). Returns (net, description)."""
    import tensorflow as tf

    if checkpoint == "latest":
        latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
        if latest is None:
            raise UserError(f"{run_dir / 'checkpoints'}: no training checkpoint to load")
        tf.train.Checkpoint(**{part: net}).restore(latest).expect_partial()
        return net, f"latest checkpoint {Path(latest).name}"
    name = "g_final" if checkpoint == "final" else f"g_{checkpoint}"
    path = run_dir / "models" / f"{name}.weights.h5"
    if not path.exists():
        raise UserError(
            f"{path}: no such {part} weights (choose --checkpoint from "
            f"{', '.join(CHECKPOINTS)}; best_* appear after best_after checkpoints)"
        )
    net.load_weights(path)
    return net, str(path.name)


def generate_counts(gen, cfg, data_format: str, n: int, seed: int):
    """``n`` generated images as particle counts (n, H, W)."""
    if cfg.model_kind == "flow":
        from exagan_tf.cosmo import fm

        return fm.sample_counts(gen, cfg, n, seed)
    from exagan_tf.core.gan import generate_images
    from exagan_tf.cosmo.dcgan import counts_from_generated

    images = generate_images(gen, cfg.noise_vect_len, n, seed)
    return counts_from_generated(images, cfg, data_format)


def format_table(rows: dict[str, dict[str, float]], width: int = 22) -> str:
    """Rows: statistic -> {column: value}."""
    cols = list(next(iter(rows.values())))
    lines = [f"{'statistic':<16}" + "".join(f"{c:>{width}}" for c in cols)]
    for name, values in rows.items():
        lines.append(f"{name:<16}" + "".join(f"{values[c]:>{width}.5g}" for c in cols))
    return "\n".join(lines)


def comparison_table(results: dict, independent: dict) -> str:
    """The printed table: model, both floors (independent as median and range), untrained and
    the classical baseline."""
    from exagan_tf.cosmo.yardsticks import FLOOR_SAME

    cols = {
        "model": results["model"],
        "indep. median": independent["median"],
        "indep. min": independent["min"],
        "indep. max": independent["max"],
        "same univ.": results[FLOOR_SAME],
        "untrained": results["ceiling (untrained)"],
        "lognormal": results["classical (lognormal)"],
    }
    rows = {k: {c: v[k] for c, v in cols.items()} for k in results["model"]}
    return format_table(rows, width=14)


@cli_errors
def main(argv=None) -> int:
    """``python -m exagan_tf.cosmo.analyze TAG RUN``: analyse an ExaGAN run."""
    return analyze_run(list(argv if argv is not None else sys.argv[1:]))


def analyze_run(argv: list[str]) -> int:
    """Analyse an ExaGAN run (see the module docstring); prints the table."""
    args = parse_args(argv)
    from exagan_tf.runs import run_path

    run_dir = run_path(args.config, args.run, args.expts)
    cfg = load_run_config(run_dir)
    import json

    from exagan_tf.core import plots, stats
    from exagan_tf.cosmo import fm, lognormal, yardsticks
    from exagan_tf.cosmo.dcgan import build_generator
    from exagan_tf.fileio import write_json_atomic

    meta_file = run_dir / "run.json"
    data_format = (
        json.loads(meta_file.read_text())["data_format"] if meta_file.exists() else "channels_last"
    )
    n = args.n or 2 * cfg.n_eval
    if n < 4:
        raise UserError(f"--n={n}: need at least 4 validation images")
    if args.floor_draws < 1:
        raise UserError(f"--floor-draws={args.floor_draws}: need at least one draw")
    yard = yardsticks.load_yardsticks(cfg.datadir, cfg.dataname, cfg.img_dim, n,
                                      args.floor_draws)
    ref, half = yard.ref, len(yard.ref)

    gen, source = load_generator(run_dir, cfg, data_format, args.checkpoint)
    trained = generate_counts(gen, cfg, data_format, half, args.seed)
    fresh = build_generator if cfg.model_kind != "flow" else lambda c, _: fm.build_velocity(c)
    untrained = generate_counts(fresh(cfg, data_format), cfg, data_format, half, args.seed)

    floors = yardsticks.floor_statistics(yard, stats.summary_statistics)
    independent = floors[yardsticks.FLOOR_INDEPENDENT]
    results = {
        "model": stats.summary_statistics(ref, trained),
        f"{yardsticks.FLOOR_INDEPENDENT} (median)": independent["median"],
        yardsticks.FLOOR_SAME: floors[yardsticks.FLOOR_SAME],
        "ceiling (untrained)": stats.summary_statistics(ref, untrained),
        "classical (lognormal)": stats.summary_statistics(
            ref, lognormal.for_run(run_dir, cfg).sample(half, seed=args.seed)),
    }
    out_dir = run_dir / "analysis" / args.checkpoint
    out_dir.mkdir(parents=True, exist_ok=True)
    plots.save_figure(
        plots.image_grid(trained[:16], scale=cfg.cscale), out_dir / "samples.png", overwrite=True
    )
    plots.save_figure(
        plots.pixel_histogram_figure(ref, trained), out_dir / "pixel_histogram.png", overwrite=True
    )
    plots.save_figure(
        plots.power_spectrum_figure(ref, trained), out_dir / "power_spectrum.png", overwrite=True
    )
    model, ceiling = results["model"], results["ceiling (untrained)"]
    improvement = {k: (ceiling[k] / model[k] if model[k] > 0 else float("inf")) for k in model}
    write_json_atomic(
        out_dir / "metrics.json",
        {
            "run": str(run_dir),
            "checkpoint": args.checkpoint,
            "weights": source,
            "n_images_each": half,
            "statistics": results,
            "floor_independent_draws": independent["draws"],
            "floor_independent_range": {"min": independent["min"], "max": independent["max"]},
            "yardsticks": yard.describe(),
            "ceiling_over_model": improvement,
            "model_over_floor_independent": {
                k: (model[k] / v if v > 0 else float("inf"))
                for k, v in independent["median"].items()
            },
        },
        overwrite=True,
    )
    d = yard.describe()
    print(f"{run_dir} [{source}], {half} images per set; reference: {d['reference']}")
    print(f"indep.: {yardsticks.FLOOR_INDEPENDENT}, {len(yard.independent)} draws from "
          f"{yard.train_universes} training universe(s) (median, min, max); same univ.: "
          f"{yardsticks.FLOOR_SAME} (interleaved validation halves); lognormal: classical "
          "(lognormal), a lognormal field with the training P(k) and pixel distribution")
    print(comparison_table(results, independent))
    print(f"outputs: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
