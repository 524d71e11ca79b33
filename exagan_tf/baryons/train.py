"""Train a baryon painter: ``python -m exagan_tf.baryons.train TAG RUN`` (tags of
``experiments/baryons.yaml``; ``python -m exagan_tf.train TAG RUN`` forwards here).

The run directory ``expts/TAG/runRUN/`` gets the config, the command, ``train.log``,
TensorBoard events (losses; at every pseudo-epoch the test-pair statistics and figures of tiles
and spectra), the latest checkpoint, the best networks by auto-spectrum error and by
prediction-truth correlation, the final networks and ``models/transform.json`` (the transform
parameters the painter needs). Training is driven by ``model.fit`` on the core's
:class:`~exagan_tf.core.vae.VAE` (CVAE), :class:`~exagan_tf.core.cgan.ConditionalGAN`
(CGAN) or :class:`~exagan_tf.core.flow_matching.FlowMatching` (CFM, whose targets are
``fm_scale * T(pressure)``: :mod:`exagan_tf.baryons.cfm`), one Keras epoch per pseudo-epoch;
the CVAE runs its stages (batch size, learning rate) one after another. Re-running the command
resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.baryons.models import build_model, build_networks
from exagan_tf.baryons.monitor import (
    BEST_KEYS,
    monitor_statistics,
    spectra_figure,
    tiles_figure,
)
from exagan_tf.errors import cli_errors


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.baryons.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="config tag of experiments/baryons.yaml (e.g. cgan_demo)")
    p.add_argument("run", help="run number or name: output goes to expts/CONFIG/runRUN")
    p.add_argument("--config-file", default=None,
                   help="experiments YAML (default experiments/baryons.yaml)")
    p.add_argument("--expts", default="expts", help="root folder of run directories (expts)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after the pseudo-epoch that reaches this many steps")
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    return p.parse_args(argv)


def period_plan(cfg, max_steps: int | None = None) -> list[dict]:
    """One entry per pseudo-epoch: stage, batch size, learning rate, steps, and the step
    count at its end. ``max_steps`` cuts the plan after the period that reaches it."""
    plan, end = [], 0
    for s, (n, bs, lr) in enumerate(cfg.schedule()):
        steps = max(1, math.ceil(cfg.pseudo_epoch / bs))
        for _ in range(n):
            end += steps
            plan.append({"stage": s, "batch_size": bs, "lr": lr, "steps": steps, "end": end})
            if max_steps and end >= max_steps:
                return plan
    return plan


# ------------------------------------------------------------------------------ main


@cli_errors
def main(argv=None) -> int:
    """Train (or resume) a CVAE, CGAN or CFM painting run."""
    args = parse_args(argv)
    from exagan_tf.baryons.config import BARYONS_FILE, BaryonConfig
    from exagan_tf.config import config_for_run

    cfg = config_for_run(BaryonConfig, args.config_file or BARYONS_FILE, args.config,
                         dry_run=args.dry_run, max_steps=args.max_steps)
    if cfg is None:
        return 0
    return train(cfg, args.config, args.run, Path(args.expts), args.max_steps,
                 argv if argv is not None else sys.argv[1:])


def train(cfg, tag: str, run_id, expts: Path, max_steps: int | None, argv: list[str],
          command: list[str] | None = None) -> int:
    """Create or resume the run and train to the end of its schedule (``command``: the words
    recorded in command.txt, default ``-m exagan_tf.baryons.train ARGV``)."""
    from exagan_tf.baryons import data as bdata
    from exagan_tf.baryons.config import check_redshift_option
    from exagan_tf.baryons.simulate import read_maps, read_stats
    from exagan_tf.baryons.transforms import Transform

    # data first: a missing or mismatched data folder is reported before a run dir is made
    train_tiles = bdata.load_tiles(cfg.datadir, "train", cfg.tile_size)
    test_tiles = bdata.load_tiles(cfg.datadir, "test", cfg.tile_size)
    pixel = float(read_maps(cfg.datadir, "test")["attrs"]["pixel_mpc_h"])
    z_idx = check_redshift_option(cfg, train_tiles.redshifts)
    train_z = [float(train_tiles.redshifts[i]) for i in z_idx]
    transform = Transform.from_stats(read_stats(cfg.datadir), cfg.model, train_z,
                                     cfg.transform_shift)
    mon_iz = [test_tiles.redshift_index(z) for z in cfg.monitor_redshifts]
    for z in cfg.monitor_redshifts:
        transform.check_redshift(z)
    counts = train_tiles.counts()

    import keras
    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.baryons.paint import Painter
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core.trainer import Lifecycle, best_metrics, tag_run
    from exagan_tf.fileio import write_json_atomic

    life = Lifecycle(  # multi-worker: only the chief writes the run
        cfg, *tag_run(cfg, tag, run_id, expts, command or ["-m", "exagan_tf.baryons.train", *argv])
    )
    run, log, strategy = life.run, life.log, life.strategy
    # the flow's U-Net is channels_last on every device
    data_format = "channels_last" if cfg.model == "cfm" else life.data_format(cfg.datafmt)
    plan = period_plan(cfg, max_steps)
    life.record({
        "config_tag": tag, "data_format": data_format, "jit_compile": cfg.jit_compile,
        "samples_total": counts["total"] * len(z_idx) // len(train_tiles.redshifts),
        "samples_independent": counts["independent"] * len(z_idx)
        // len(train_tiles.redshifts),
        "train_redshifts": train_z,
    })
    tf_file = run.models / "transform.json"
    if not tf_file.exists():
        write_json_atomic(tf_file, transform.to_dict())

    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        nets = build_networks(cfg, data_format)
        model = build_model(cfg, nets)
        best = best_metrics(BEST_KEYS)
    opts = ({"optimizer": model.optimizer} if cfg.model in ("cvae", "cfm")
            else {"d_optimizer": model.d_optimizer, "g_optimizer": model.g_optimizer})
    life.checkpoint({**nets, **opts, **best},
                    describe=lambda: f" (step {int(model.step.numpy())})")
    start = int(model.step.numpy())
    total = plan[-1]["end"]
    if start >= total:
        log.info(f"{run.path}: already trained to step {start} of {total}; nothing to do")
        life.export(_final_exports(nets))
        return 0
    first = next(i for i, p in enumerate(plan) if p["end"] > start)
    log.info(
        f"run {run.path} | {'resuming' if run.resumed else 'new'} | {cfg.model} | "
        f"{data_format} | tiles {cfg.tile_size} | train redshifts {len(z_idx)} | samples "
        f"{counts['total']} ({counts['independent']} independent) over all redshifts | "
        f"pseudo-epochs {first}->{len(plan)} | steps {start}->{total}"
    )

    # monitoring: fixed independent test pairs at the monitored redshifts
    pairs = bdata.independent_pairs(test_tiles.thin["dm"].shape[1],
                                    test_tiles.thick["dm"].shape[1], cfg.seed)[:cfg.n_eval]
    mon = [bdata.pair_fields(test_tiles, iz, pairs) for iz in mon_iz]
    mon_dm = np.concatenate([m["dm"] for m in mon])
    mon_p = np.concatenate([m["pressure"] for m in mon])
    mon_z = np.repeat(np.asarray(cfg.monitor_redshifts, float), len(pairs))
    painter = Painter(cfg.model, nets, transform, cfg.tile_size, data_format,
                      fm_steps=cfg.fm_steps, fm_scale=cfg.fm_scale)
    writer = tf.summary.create_file_writer(str(run.logs))
    monitor = cb.SampleMonitor(
        lambda n: painter.tiles(mon_dm, mon_z, seed=cfg.seed + 1),
        mon_p,
        monitor_statistics(mon_dm, mon_z, pixel),
        {"tiles": tiles_figure, "spectra": spectra_figure(mon_dm, mon_z, pixel)},
        writer, run.models, nets, cfg.best_after, best, plan[first]["steps"], log, life.guard,
    )
    t0 = time.perf_counter()
    stages = sorted({p["stage"] for p in plan[first:]})
    with life.preempt:  # a signal between two fit calls is caught too
        for s in stages:
            idx = [i for i, p in enumerate(plan) if p["stage"] == s and i >= first]
            bs, lr, steps = plan[idx[0]]["batch_size"], plan[idx[0]]["lr"], plan[idx[0]]["steps"]
            if cfg.model == "cvae":
                model.optimizer.learning_rate.assign(lr)
            # multi-worker: each worker draws its own random tile pairs from all training tiles
            ds = distribute.distribute_input(strategy, lambda b, s=s: _dataset(
                cfg, train_tiles, transform, b,
                distribute.worker_seed(cfg.seed * 1000 + start + s, strategy), z_idx,
                data_format), bs)
            log.info(f"stage {s}: batch {bs}, learning rate {lr:g}, {len(idx)} pseudo-epochs of "
                     f"{steps} steps")
            monitor.period_steps = steps
            # a run preempted mid-period first completes that period (checkpoints stay aligned)
            begin = plan[idx[0]]["end"] - steps
            done = int(model.step.numpy())
            progress = cb.ProgressLog(log, cfg.print_batch, total, bs)
            if life.fit_periods(model, ds, done - begin, len(idx) * steps, steps,
                                life.callbacks(progress, monitor), epoch_offset=idx[0]):
                life.stopped(total)
                return 0
    done = int(model.step.numpy())
    life.export(_final_exports(nets))
    log.info(f"done: step {done}, {time.perf_counter() - t0:.0f} s; last statistics "
             + " ".join(f"{k}={v:.4g}" for k, v in monitor.last_stats.items())
             + f"; outputs in {run.path}")
    return 0


def _dataset(cfg, tiles, transform, batch_size: int, seed: int, z_idx, data_format: str):
    """The training batches of ``cfg.model``: (condition, T(p)) for the CGAN, (T(p),
    condition) for the CVAE, (fm_scale * T(p), condition) for the CFM."""
    from exagan_tf.baryons import data as bdata

    ds = bdata.make_dataset(tiles, transform, batch_size, seed=seed, redshift_indices=z_idx,
                            augment=cfg.augment, data_format=data_format,
                            target_first=cfg.model in ("cvae", "cfm"))
    if cfg.model == "cfm" and cfg.fm_scale != 1.0:
        scale = float(cfg.fm_scale)
        ds = ds.map(lambda target, cond: (target * scale, cond))
    return ds


def _final_exports(nets: dict) -> dict:
    """models/ file name -> network of a finished run: every network's weights and the
    painting networks (generator, decoder, prior, velocity) whole."""
    out = {f"{name}_final.weights.h5": net for name, net in nets.items()}
    out.update({f"{name}_final.keras": nets[name]
                for name in ("generator", "decoder", "prior", "velocity") if name in nets})
    return out


if __name__ == "__main__":
    sys.exit(main())
