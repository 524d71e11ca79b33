"""Train a baryon painter: ``python -m exagan_tf.baryons.train TAG RUN`` (tags of
``experiments/baryons.yaml``; ``python -m exagan_tf.train TAG RUN`` forwards here).

The run directory ``expts/TAG/runRUN/`` gets the config, the command, ``train.log``,
TensorBoard events (losses; at every pseudo-epoch the test-pair statistics and figures of tiles
and spectra), the latest checkpoint, the best networks by auto-spectrum error and by
prediction-truth correlation, the final networks and ``models/transform.json`` (the transform
parameters the painter needs). Training is driven by ``model.fit`` on the core's
:class:`~exagan_tf.core.vae.VAE` (CVAE) or :class:`~exagan_tf.core.cgan.ConditionalGAN`
(CGAN), one Keras epoch per pseudo-epoch; the CVAE runs its stages (batch size, learning rate)
one after another. Re-running the command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors

BEST_KEYS = ("pk_auto_err", "one_minus_r")


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


# ------------------------------------------------------------------------------ building


def build_networks(cfg, data_format: str) -> dict:
    """The config's networks by name (CVAE: encoder, decoder, prior; CGAN: generator,
    discriminator), with float32 outputs under a mixed-precision policy."""
    from exagan_tf.precision import float32_outputs

    return {name: float32_outputs(net) for name, net in _networks(cfg, data_format).items()}


def _networks(cfg, data_format: str) -> dict:
    if cfg.model == "cvae":
        from exagan_tf.baryons import cvae

        return {"encoder": cvae.build_encoder(cfg.tile_size, data_format),
                "decoder": cvae.build_decoder(cfg.tile_size, data_format),
                "prior": cvae.build_prior(cfg.tile_size, data_format)}
    from exagan_tf.baryons import cgan

    return {"generator": cgan.build_generator(cfg.tile_size, data_format,
                                              cfg.spectral_norm_generator,
                                              cfg.g_last_batchnorm, cfg.g_filters,
                                              cfg.g_res_blocks),
            "discriminator": cgan.build_discriminator(cfg.tile_size, data_format,
                                                      cfg.spectral_norm_discriminator,
                                                      cfg.d_sigmoid)}


def build_model(cfg, nets: dict):
    """The compiled core model (VAE or ConditionalGAN) around ``nets``."""
    import keras

    from exagan_tf.precision import loss_scaled  # mixed_float16: loss scaling

    if cfg.model == "cvae":
        from exagan_tf.core.vae import VAE

        model = VAE(nets["encoder"], nets["decoder"], nets["prior"], recon_loss="gaussian",
                    kl_weight=cfg.beta_KL, seed=cfg.seed, name="cvae")
        # PyTorch Adam defaults (the original's optimiser); the stage sets the learning rate
        model.compile(loss_scaled(keras.optimizers.Adam(cfg.schedule()[0][2], epsilon=1e-8)),
                      jit_compile=cfg.jit_compile)
        return model
    from exagan_tf.baryons.cgan import pixel_l2_loss
    from exagan_tf.core.cgan import ConditionalGAN

    def adam():
        lr = keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, cfg.lr_decay_iterations, cfg.learning_rate_decay, staircase=True)
        return loss_scaled(keras.optimizers.Adam(lr, beta_1=cfg.adam_betas[0],
                                                 beta_2=cfg.adam_betas[1], epsilon=1e-8))

    model = ConditionalGAN(nets["generator"], nets["discriminator"],
                           l1_weight=cfg.lambda_perceptual, d_from_logits=not cfg.d_sigmoid,
                           extra_loss=pixel_l2_loss if cfg.lambda_l2 else None,
                           extra_weight=cfg.lambda_l2,
                           seed=cfg.seed, name="cgan")
    model.compile(d_optimizer=adam(), g_optimizer=adam(), jit_compile=cfg.jit_compile)
    return model


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


# ------------------------------------------------------------------------------ monitoring


def monitor_statistics(dm: np.ndarray, z: np.ndarray, pixel: float):
    """``(val, gen) -> dict`` for the SampleMonitor: per monitored redshift the auto and cross
    spectrum errors and 1 - r(pred, truth), averaged over redshifts, plus the pixel KS."""
    from exagan_tf.baryons import evaluate as ev

    def stats_fn(val, gen):
        out = {"pk_auto_err": 0.0, "pk_cross_err": 0.0, "one_minus_r": 0.0, "pixel_ks": 0.0}
        zs = np.unique(z)
        for zi in zs:
            sel = z == zi
            m = ev.compare(dm[sel], val[sel], gen[sel], pixel)
            out["pk_auto_err"] += m["auto_err_mean"] / zs.size
            out["pk_cross_err"] += m["cross_err_mean"] / zs.size
            out["one_minus_r"] += (1.0 - m["r_pred_truth_mean"]) / zs.size
            out["pixel_ks"] += m["ks"] / zs.size
        return out

    return stats_fn


def tiles_figure(val, gen, n: int = 4):
    """Truth (top) and painted (bottom) tiles, log10 pressure."""
    from exagan_tf.core.plots import image_grid

    n = min(n, len(val))
    floor = max(float(np.percentile(val[val > 0], 1)) if np.any(val > 0) else 1e-12, 1e-12)
    imgs = np.log10(np.maximum(np.concatenate([val[:n], gen[:n]]), floor))
    return image_grid(imgs, ncols=n, title="log10 pressure: truth (top), painted (bottom)",
                      cmap="magma")


def spectra_figure(dm: np.ndarray, z: np.ndarray, pixel: float):
    """``(val, gen) -> Figure``: stack-mean pressure auto spectra, truth against painted, per
    monitored redshift."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from exagan_tf.baryons import evaluate as ev

    def make(val, gen):
        fig = Figure(figsize=(5, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for i, zi in enumerate(np.unique(z)):
            sel = z == zi
            t = ev.spectra(dm[sel], val[sel], pixel)
            g = ev.spectra(dm[sel], gen[sel], pixel)
            ax.loglog(t["k"], t["auto"], color=f"C{i}", label=f"truth z={zi:g}")
            ax.loglog(g["k"], np.abs(g["auto"]), color=f"C{i}", ls="--", label="painted")
        ax.set_xlabel("k [h/Mpc]")
        ax.set_ylabel("P_pressure(k)")
        ax.legend(fontsize=7)
        return fig

    return make


# ------------------------------------------------------------------------------ main


@cli_errors
def main(argv=None) -> int:
    """Train (or resume) a CVAE or CGAN painting run."""
    args = parse_args(argv)
    from exagan_tf.baryons.config import load_baryons
    from exagan_tf.config import config_to_dict

    cfg = load_baryons(args.config, args.config_file)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump({args.config: config_to_dict(cfg)}, sort_keys=False), end="")
        return 0
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"--max-steps={args.max_steps}: expected a positive number of steps")
    return train(cfg, args.config, args.run, Path(args.expts), args.max_steps,
                 argv if argv is not None else sys.argv[1:])


def train(cfg, tag: str, run_id, expts: Path, max_steps: int | None, argv: list[str]) -> int:
    """Create or resume the run and train to the end of its schedule."""
    from exagan_tf import runs
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
    from exagan_tf.fileio import write_json_atomic
    from exagan_tf.precision import apply_precision

    policy = apply_precision(cfg.precision)  # before any layer is built
    strategy = distribute.get_strategy(cfg.distribute)  # multiworker: before any TF op
    run = distribute.open_run(  # multi-worker: only the chief writes the run
        lambda: runs.open_run(tag, run_id, cfg, expts, ["-m", "exagan_tf.baryons.train", *argv]),
        runs.run_path(tag, run_id, expts),
        strategy,
    )
    log = runs.setup_logging(run)
    meta = run.read_meta()
    data_format = meta.get("data_format") or distribute.resolve_data_format(cfg.datafmt)
    plan = period_plan(cfg, max_steps)
    runs.write_meta(run, {
        "config_tag": tag, "data_format": data_format, "precision": policy,
        "jit_compile": cfg.jit_compile,
        "replicas": strategy.num_replicas_in_sync, "strategy": type(strategy).__name__,
        "workers": distribute.num_workers(strategy),
        "samples_total": counts["total"] * len(z_idx) // len(train_tiles.redshifts),
        "samples_independent": counts["independent"] * len(z_idx)
        // len(train_tiles.redshifts),
        "train_redshifts": train_z, "tensorflow": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "host": platform.node(),
    })
    tf_file = run.models / "transform.json"
    if not tf_file.exists():
        write_json_atomic(tf_file, transform.to_dict())

    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        nets = build_networks(cfg, data_format)
        model = build_model(cfg, nets)
        best = {k: tf.Variable(math.inf, dtype=tf.float64, trainable=False, name=f"best_{k}")
                for k in BEST_KEYS}
    opts = ({"optimizer": model.optimizer} if cfg.model == "cvae"
            else {"d_optimizer": model.d_optimizer, "g_optimizer": model.g_optimizer})
    ckpt = tf.train.Checkpoint(**nets, **opts, **best)
    manager = tf.train.CheckpointManager(ckpt, run.checkpoints, max_to_keep=cfg.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        log.info(f"resumed {run.path} from {Path(manager.latest_checkpoint).name} "
                 f"(step {int(model.step.numpy())})")
    start = int(model.step.numpy())
    total = plan[-1]["end"]
    if start >= total:
        log.info(f"{run.path}: already trained to step {start} of {total}; nothing to do")
        _save_final(nets, run)
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
    painter = Painter(cfg.model, nets, transform, cfg.tile_size, data_format)
    writer = tf.summary.create_file_writer(str(run.logs))
    guard = cb.NaNGuard(log)
    monitor = cb.SampleMonitor(
        lambda n: painter.tiles(mon_dm, mon_z, seed=cfg.seed + 1),
        mon_p,
        monitor_statistics(mon_dm, mon_z, pixel),
        {"tiles": tiles_figure, "spectra": spectra_figure(mon_dm, mon_z, pixel)},
        writer, run.models, nets, cfg.best_after, best, plan[first]["steps"], log, guard,
    )
    saver = cb.CheckpointSaver(manager, guard)
    preempt = cb.PreemptionGuard(manager, log, strategy=strategy)
    t0 = time.perf_counter()
    stages = sorted({p["stage"] for p in plan[first:]})
    with preempt:  # a signal between two fit calls is caught too
        for s in stages:
            idx = [i for i, p in enumerate(plan) if p["stage"] == s and i >= first]
            bs, lr, steps = plan[idx[0]]["batch_size"], plan[idx[0]]["lr"], plan[idx[0]]["steps"]
            if cfg.model == "cvae":
                model.optimizer.learning_rate.assign(lr)
            # multi-worker: each worker draws its own random tile pairs from all training tiles
            ds = distribute.distribute_input(strategy, lambda b, s=s: bdata.make_dataset(
                train_tiles, transform, b,
                seed=distribute.worker_seed(cfg.seed * 1000 + start + s, strategy),
                redshift_indices=z_idx, augment=cfg.augment, data_format=data_format,
                target_first=cfg.model == "cvae"), bs)
            log.info(f"stage {s}: batch {bs}, learning rate {lr:g}, {len(idx)} pseudo-epochs of "
                     f"{steps} steps")
            monitor.period_steps = steps
            # a run preempted mid-period first completes that period (checkpoints stay aligned)
            begin = plan[idx[0]]["end"] - steps
            done = int(model.step.numpy())
            progress = cb.ProgressLog(log, cfg.print_batch, total, bs)
            cb.fit_in_periods(model, ds, done - begin, len(idx) * steps, steps,
                              [guard, preempt, progress, monitor, saver], guard, preempt,
                              epoch_offset=idx[0])
            guard.raise_if_bad(run.path, manager)
            if preempt.saved_step is not None:
                log.info(f"stopped at step {preempt.saved_step} of {total}; resume with the same "
                         "command")
                return 0
    done = int(model.step.numpy())
    _save_final(nets, run)
    log.info(f"done: step {done}, {time.perf_counter() - t0:.0f} s; last statistics "
             + " ".join(f"{k}={v:.4g}" for k, v in monitor.last_stats.items())
             + f"; outputs in {run.path}")
    return 0


def _save_final(nets: dict, run) -> None:
    from exagan_tf.fileio import save_model_atomic, save_weights_atomic

    for name, net in nets.items():
        save_weights_atomic(net, run.models / f"{name}_final.weights.h5")
    for name in ("generator", "decoder", "prior"):
        if name in nets:
            save_model_atomic(nets[name], run.models / f"{name}_final.keras")


if __name__ == "__main__":
    sys.exit(main())
