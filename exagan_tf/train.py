"""Train the ExaGAN DCGAN: ``python -m exagan_tf.train CONFIG RUN`` (``make train``).

Writes ``expts/CONFIG/runRUN/``: the config, the command, ``train.log``, TensorBoard events in
``logs/`` (losses, chisq, chisq_pspect and the better-behaved statistics; a grid of samples, the
pixel histogram and the power spectrum against validation), the latest checkpoint in
``checkpoints/`` every ``checkpt_batch`` steps, and the generator/discriminator with the best
chisq and the best chisq_pspect in ``models/``. Running the same command again resumes from the
last checkpoint; the same RUN with another config is refused. SIGTERM (what SLURM sends before
it kills a job) saves a checkpoint at the current step and exits cleanly.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config",
        help="config tag (e.g. base, demo); tags of other systems' experiments files "
        "(e.g. cvae, cgan in experiments/baryons.yaml) go to that system's trainer",
    )
    p.add_argument("run", help="run number or name: output goes to expts/CONFIG/runRUN")
    p.add_argument(
        "--config-file", default=None, help="experiments YAML (default experiments/exagan.yaml)"
    )
    p.add_argument(
        "--expts", default="expts", help="root folder of run directories (default expts)"
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many generator steps in total (default: Nepochs of data)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    return p.parse_args(argv)


def total_steps(cfg, n_train: int, max_steps: int | None) -> int:
    """Generator steps for Nepochs passes over the training images (at least one step)."""
    steps = cfg.Nepochs * max(n_train // cfg.batchsize, 1)
    return min(steps, max_steps) if max_steps else steps


@cli_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    if args.config_file is None:
        from exagan_tf import systems

        _, module, _ = systems.find_system(args.config)
        if module != "exagan_tf.train":
            return systems.forward(module, argv)
    from exagan_tf.config import config_to_dict, load_exagan

    cfg = load_exagan(args.config, args.config_file)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump({args.config: config_to_dict(cfg)}, sort_keys=False), end="")
        return 0
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"--max-steps={args.max_steps}: expected a positive number of steps")
    return train(
        cfg,
        args.config,
        args.run,
        Path(args.expts),
        args.max_steps,
        argv,
    )


def train(cfg, tag: str, run_id, expts: Path, max_steps: int | None, argv: list[str]) -> int:
    """Create or resume the run and train until its last step."""
    from exagan_tf import runs
    from exagan_tf.cosmo import data as cosmo_data

    train_files = cosmo_data.shard_files(cfg.datadir, cfg.dataname, "train")
    val_files = cosmo_data.shard_files(cfg.datadir, cfg.dataname, "val")
    train_counts = cosmo_data.check_shards(train_files, cfg.img_dim)
    n_train = sum(train_counts)
    cosmo_data.check_shards(val_files, cfg.img_dim)
    if n_train < cfg.batchsize:
        raise UserError(
            f"{train_files[0].parent}: {n_train} training images, fewer than one batch "
            f"of batchsize={cfg.batchsize}"
        )

    import keras
    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core import plots, stats
    from exagan_tf.cosmo import yardsticks
    from exagan_tf.cosmo.dcgan import build_gan, counts_from_generated
    from exagan_tf.precision import apply_precision

    policy = apply_precision(cfg.precision)  # before any layer is built
    strategy = distribute.get_strategy(cfg.distribute)  # multiworker: before any TF op
    # multi-worker: only the chief writes the run; each worker reads its own shard files
    run = distribute.open_run(
        lambda: runs.open_run(tag, run_id, cfg, expts, ["-m", "exagan_tf.train", *argv]),
        runs.run_path(tag, run_id, expts),
        strategy,
    )
    log = runs.setup_logging(run)
    my_shards = distribute.shard_files(
        list(zip(train_files, train_counts)), strategy, "training shard files"
    )
    meta = run.read_meta()
    data_format = meta.get("data_format") or distribute.resolve_data_format(cfg.datafmt)
    # fit runs whole checkpoint periods, so the last one is completed
    periods = math.ceil(total_steps(cfg, n_train, max_steps) / cfg.checkpt_batch)
    steps = periods * cfg.checkpt_batch
    runs.write_meta(
        run,
        {
            "config_tag": tag,
            "data_format": data_format,
            "precision": policy,
            "replicas": strategy.num_replicas_in_sync,
            "strategy": type(strategy).__name__,
            "workers": distribute.num_workers(strategy),
            "n_train": n_train,
            "train_files": len(train_files),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "host": platform.node(),
        },
    )

    spectral_targets = None
    if cfg.pspec_weight:
        spectral_targets = cosmo_data.read_images(train_files, cfg.pspec_images, cfg.img_dim)
    with strategy.scope():
        gan = build_gan(cfg, data_format, spectral_targets, total_steps=steps)
        best = {
            k: tf.Variable(math.inf, dtype=tf.float64, trainable=False, name=f"best_{k}")
            for k in ("chisq", "chisq_pspect")
        }
    ckpt = tf.train.Checkpoint(
        generator=gan.generator,
        discriminator=gan.discriminator,
        d_optimizer=gan.d_optimizer,
        g_optimizer=gan.g_optimizer,
        **best,
        **({"g_ema": _variables_checkpoint(gan.ema_weights)} if gan.ema_weights else {}),
    )
    manager = tf.train.CheckpointManager(ckpt, run.checkpoints, max_to_keep=cfg.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        log.info(
            f"resumed {run.path} from {Path(manager.latest_checkpoint).name} "
            f"(step {int(gan.step.numpy())})"
        )
    start = int(gan.step.numpy())
    finals = [run.models / "g_final.weights.h5", run.models / "generator_final.keras"]
    if start >= steps and not cb.stale_exports(finals, manager):
        log.info(f"{run.path}: already trained to step {start} of {steps}; nothing to do")
        return 0
    if start >= steps:  # stopped after its last checkpoint, before its exports
        _export(gan.sampler, finals)
        log.info(f"{run.path}: trained to step {start} of {steps}; wrote the final exports it "
                 f"lacked ({', '.join(p.name for p in finals)})")
        return 0
    log.info(
        f"run {run.path} | {'resuming' if run.resumed else 'new'} | {data_format} | "
        f"{strategy.num_replicas_in_sync} replica(s) | {n_train} training images | "
        f"steps {start}->{steps} in periods of {cfg.checkpt_batch}"
    )

    dataset = distribute.distribute_input(
        strategy,
        lambda batch: cosmo_data.make_dataset(
            [f for f, _ in my_shards],
            cfg.img_dim,
            batch,
            cfg.datascale,
            data_format,
            seed=cfg.seed + start,
            counts=[c for _, c in my_shards],
            dequantize=cfg.dequantize,
        ),
        cfg.batchsize,
    )
    # reference: val[0::2] of 2 n_eval images spread over the validation universes, with both
    # floors (same universes, independent universes) as analyze computes them
    yard = yardsticks.load_yardsticks(cfg.datadir, cfg.dataname, cfg.img_dim, 2 * cfg.n_eval)
    floors = yardsticks.floor_statistics(yard, stats.summary_statistics)
    yardsticks.log_floors(floors, yard, log)
    val_counts = yard.ref

    def sample_counts(n):
        return counts_from_generated(gan.generate(n, seed=cfg.seed + 777), cfg, data_format)

    writer = tf.summary.create_file_writer(str(run.logs))
    guard = cb.NaNGuard(log)
    monitor = cb.SampleMonitor(
        sample_counts,
        val_counts,
        stats.summary_statistics,
        {
            "generated": lambda v, g: plots.image_grid(g[:16], scale=cfg.cscale),
            "pixel_histogram": plots.pixel_histogram_figure,
            "power_spectrum": plots.power_spectrum_figure,
        },
        writer,
        run.models,
        {"g": gan.sampler, "d": gan.discriminator},
        cfg.best_after,
        best,
        cfg.checkpt_batch,
        log,
        guard,
    )
    preempt = cb.PreemptionGuard(manager, log, strategy=strategy)
    callbacks = [
        guard,
        preempt,
        cb.ProgressLog(log, cfg.print_batch, steps, cfg.batchsize),
        monitor,
        cb.ReferenceLines(run.logs, yardsticks.tensorboard_lines(floors), guard),
        cb.CheckpointSaver(manager, guard),
    ]
    t0 = time.perf_counter()
    with preempt:  # a signal between two fit calls is caught too
        cb.fit_in_periods(gan, dataset, start, steps, cfg.checkpt_batch, callbacks, guard,
                          preempt)
    guard.raise_if_bad(run.path, manager)
    if preempt.saved_step is not None:
        log.info(f"stopped at step {preempt.saved_step} of {steps}; resume with the same command")
        return 0
    done = int(gan.step.numpy())
    rate = (done - start) * cfg.batchsize / (time.perf_counter() - t0)
    _export(gan.sampler, finals)  # the sampler: the weight average when g_ema is set
    log.info(f"done: step {done}, {rate:.1f} images/s; outputs in {run.path}")
    return 0


def _export(sampler, finals) -> None:
    """The final generator as weights and as a ``.keras`` model (``finals``: their paths)."""
    from exagan_tf import fileio

    fileio.save_weights_atomic(sampler, finals[0])
    fileio.save_model_atomic(sampler, finals[1])


def _variables_checkpoint(variables):
    """A list of Keras variables as one trackable object for ``tf.train.Checkpoint``."""
    import tensorflow as tf

    return tf.train.Checkpoint(**{f"v{i}": v.value for i, v in enumerate(variables)})


if __name__ == "__main__":
    sys.exit(main())
