"""Train the ExaGAN DCGAN: ``python -m exagan_tf.train CONFIG RUN`` (``make train``).

Writes ``expts/CONFIG/runRUN/``: the config, the command, ``train.log``, TensorBoard events in
``logs/`` (losses, chisq, chisq_pspect and the better-behaved statistics; a grid of samples, the
pixel histogram and the power spectrum against validation), every checkpoint's statistics with
the training seconds so far in ``metrics.jsonl`` (:mod:`exagan_tf.cosmo.train_clock`, plotted by
``python -m exagan_tf.cosmo.curves``), the latest checkpoint in
``checkpoints/`` every ``checkpt_batch`` steps, and the generator/discriminator with the best
chisq and the best chisq_pspect in ``models/``. Running the same command again resumes from the
last checkpoint; the same RUN with another config is refused. SIGTERM (what SLURM sends before
it kills a job) saves a checkpoint at the current step and exits cleanly.
"""

from __future__ import annotations

import argparse
import math
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
        help="config tag (e.g. base, demo); a tag of another system (exagan list) is trained "
        "by that system, as `exagan train TAG RUN`",
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
    from exagan_tf.config import EXPERIMENTS_DIR, DCGANConfig, config_for_run

    cfg = config_for_run(DCGANConfig, args.config_file or EXPERIMENTS_DIR / "exagan.yaml",
                         args.config, dry_run=args.dry_run, max_steps=args.max_steps)
    if cfg is None:
        return 0
    return train(cfg, args.config, args.run, Path(args.expts), args.max_steps, argv)


def train(cfg, tag: str, run_id, expts: Path, max_steps: int | None, argv: list[str],
          command: list[str] | None = None) -> int:
    """Create or resume the run and train until its last step (``command``: the words
    recorded in ``command.txt`` after the interpreter, default ``-m exagan_tf.train ARGV``)."""
    if cfg.model_kind == "flow":  # the flow-matching kind (exagan_tf.cosmo.fm)
        from exagan_tf.cosmo import fm

        return fm.train(cfg, tag, run_id, expts, max_steps, argv, command)
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

    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core import plots, stats
    from exagan_tf.core.trainer import Lifecycle, best_metrics, tag_run
    from exagan_tf.cosmo import curves, train_clock, yardsticks
    from exagan_tf.cosmo.dcgan import build_gan, counts_from_generated

    # multi-worker: only the chief writes the run; each worker reads its own shard files
    life = Lifecycle(
        cfg, *tag_run(cfg, tag, run_id, expts, command or ["-m", "exagan_tf.train", *argv])
    )
    run, log, strategy = life.run, life.log, life.strategy
    my_shards = distribute.shard_files(
        list(zip(train_files, train_counts)), strategy, "training shard files"
    )
    data_format = life.data_format(cfg.datafmt)
    # fit runs whole checkpoint periods, so the last one is completed
    periods = math.ceil(total_steps(cfg, n_train, max_steps) / cfg.checkpt_batch)
    steps = periods * cfg.checkpt_batch
    life.record({"config_tag": tag, "data_format": data_format, "n_train": n_train,
                 "train_files": len(train_files)})

    spectral_targets = None
    if cfg.pspec_weight:
        spectral_targets = cosmo_data.read_images(train_files, cfg.pspec_images, cfg.img_dim)
    with strategy.scope():
        gan = build_gan(cfg, data_format, spectral_targets, total_steps=steps)
        best = best_metrics(("chisq", "chisq_pspect"))
        seconds = train_clock.clock_variable()
    life.checkpoint(
        {"generator": gan.generator, "discriminator": gan.discriminator,
         "d_optimizer": gan.d_optimizer, "g_optimizer": gan.g_optimizer, **best,
         "train_seconds": seconds,
         **({"g_ema": _variables_checkpoint(gan.ema_weights)} if gan.ema_weights else {})},
        describe=lambda: f" (step {int(gan.step.numpy())})",
    )
    start = int(gan.step.numpy())
    finals = {"g_final.weights.h5": gan.sampler, "generator_final.keras": gan.sampler}
    if start >= steps and not cb.stale_exports([run.models / f for f in finals], life.manager):
        log.info(f"{run.path}: already trained to step {start} of {steps}; nothing to do")
        return 0
    if start >= steps:  # stopped after its last checkpoint, before its exports
        life.export(finals)
        log.info(f"{run.path}: trained to step {start} of {steps}; wrote the final exports it "
                 f"lacked ({', '.join(finals)})")
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
    yard, floors = yardsticks.monitor_yardsticks(cfg, log)
    curves.write_record(run.path / curves.METRICS_FILE, curves.floors_record(floors))
    val_counts = yard.ref

    def sample_counts(n):
        return counts_from_generated(gan.generate(n, seed=cfg.seed + 777), cfg, data_format)

    writer = tf.summary.create_file_writer(str(run.logs))
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
        life.guard,
    )
    clock = train_clock.TrainClock(seconds)
    callbacks = life.callbacks(
        cb.ProgressLog(log, cfg.print_batch, steps, cfg.batchsize), clock, monitor,
        train_clock.MetricsRecord(clock, monitor, run.path, writer, life.guard),
        cb.ReferenceLines(run.logs, yardsticks.tensorboard_lines(floors), life.guard))
    t0 = time.perf_counter()
    with life.preempt:  # a signal between two fit calls is caught too
        if life.fit_periods(gan, dataset, start, steps, cfg.checkpt_batch, callbacks):
            life.stopped(steps)
            return 0
    done = int(gan.step.numpy())
    rate = (done - start) * cfg.batchsize / (time.perf_counter() - t0)
    life.export(finals)  # the sampler: the weight average when g_ema is set
    log.info(f"done: step {done}, {rate:.1f} images/s; outputs in {run.path}")
    return 0


def _variables_checkpoint(variables):
    """A list of Keras variables as one trackable object for ``tf.train.Checkpoint``."""
    import tensorflow as tf

    return tf.train.Checkpoint(**{f"v{i}": v.value for i, v in enumerate(variables)})


if __name__ == "__main__":
    sys.exit(main())
