"""ExaGAN's flow-matching model kind (``model_kind: flow``): a U-Net velocity field on the
DCGAN's data, trained on the shared lifecycle.

The images are the DCGAN's: the same shards and pipeline (:func:`exagan_tf.cosmo.data.
make_dataset`), transformed by ``s(x) = 2x / (x + a) - 1`` into [-1, 1), one channel,
channels_last (the U-Net's layout; the multi-channel rescaling of the DCGAN is a discriminator
input and has no use here). :class:`exagan_tf.core.flow_matching.FlowMatching` regresses the
velocity ``x1 - x0`` of the straight path from noise to an image; samples are integrated with
``fm_steps`` Heun steps and read back as counts (rounded, clipped to the int16 range).

``fm_space`` is the space the flow learns. ``s`` is the DCGAN's, read back exactly as its
(:func:`exagan_tf.cosmo.dcgan.counts_from_generated`: clipped to [-1, 1), inverted, rounded).
``s`` suits a tanh output, not an ODE: it packs every count above ~100 into the last 8% below
s = 1, where ``s^-1`` diverges, and the flow's velocity field is not bounded there. Measured on
``fm_demo`` in ``s`` (576 steps): every sampled 64x64 image held pixels above s = 1 (0.15% of
all pixels, up to s = 2.9), each read as 32,767 counts where no training voxel exceeds 1,805,
so P(k) was off by a factor of 1e4 while the pixel KS (0.02-0.05) was already at the DCGAN's.
``log`` learns ``u = (2/3) ln(1 + x/a) - 1`` instead (x = 0 at u = -1, the largest demo count
at u = 3.1): counts are spread evenly in u, and an overshoot of 0.5 in u is a factor of 2 in
counts, not a saturated pixel. ``fm_demo`` uses ``log``.

What is shared with the DCGAN: the run directory and its resume rule, ``run.json``, the NaN and
SIGTERM guards, checkpoints every ``checkpt_batch`` steps, the :class:`SampleMonitor` statistics
on the same reference with the same floors (:func:`exagan_tf.cosmo.yardsticks.
monitor_yardsticks`) and TensorBoard figures, ``metrics.jsonl`` with the training seconds
(:mod:`exagan_tf.cosmo.train_clock`), the best-by-``chisq`` / ``chisq_pspect`` weights
(``models/g_best_*.weights.h5``, the velocity network) and ``exagan analyze``. Exports:
``g_final.weights.h5`` and ``velocity_final.keras`` (loaded with ``safe_mode``).
The optimizer is Adam at ``learn_rate[0]`` (constant, or falling linearly to 0 over the last
``lr_decay`` of the run).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from exagan_tf.errors import UserError

SAMPLE_SEED_OFFSET = 777  # the monitor's samples, as the DCGAN's


def build_velocity(cfg):
    """The U-Net velocity field of ``cfg`` (one image channel, channels_last)."""
    from exagan_tf.core.flow_matching import build_unet

    return build_unet(cfg.img_dim, 1, tuple(cfg.fm_widths))


LOG_SCALE = 2.0 / 3.0  # u = LOG_SCALE ln(1 + x/a) - 1 (fm_space: log)


def to_log_space(s_images):
    """DCGAN-space images ``s`` (a tensor) as ``u = (2/3) ln(1 + x/a) - 1`` of the same counts
    ``x = a(1 + s)/(1 - s)``: ``1 + x/a = 2/(1 - s)``, so ``u = (2/3) ln(2/(1 - s)) - 1`` (the
    scale ``a`` cancels)."""
    import tensorflow as tf

    return LOG_SCALE * tf.math.log(2.0 / (1.0 - s_images)) - 1.0


def counts_from_log(images, cfg):
    """``fm_space: log`` samples (n, H, W, 1) as counts (n, H, W): inverted, rounded (or floored
    with ``dequantize``), clipped to [0, 32767] as the DCGAN's."""
    import numpy as np

    from exagan_tf.cosmo.dcgan import INT16_MAX

    u = np.minimum(images[..., 0].astype(np.float64), 20.0)  # exp overflow guard; >> int16
    x = cfg.datascale * np.expm1((u + 1.0) / LOG_SCALE)
    to_int = np.floor if cfg.dequantize else np.rint
    return np.clip(to_int(x), 0, INT16_MAX)


def sample_counts(net, cfg, n: int, seed: int):
    """``n`` samples of the velocity field ``net`` as particle counts (n, H, W)."""
    import numpy as np

    from exagan_tf.core.flow_matching import sample
    from exagan_tf.cosmo.dcgan import counts_from_generated

    images = sample(net, n, seed=seed, steps=cfg.fm_steps)
    if cfg.fm_space == "log":
        return counts_from_log(np.asarray(images), cfg)
    return counts_from_generated(images, cfg, "channels_last")


def train(cfg, tag: str, run_id, expts: Path, max_steps: int | None, argv: list[str],
          command: list[str] | None = None) -> int:
    """Create or resume the run and train the flow until its last step (the arguments of
    :func:`exagan_tf.cosmo.train.train`)."""
    from exagan_tf.cosmo import data as cosmo_data

    train_files = cosmo_data.shard_files(cfg.datadir, cfg.dataname, "train")
    val_files = cosmo_data.shard_files(cfg.datadir, cfg.dataname, "val")
    train_counts = cosmo_data.check_shards(train_files, cfg.img_dim)
    cosmo_data.check_shards(val_files, cfg.img_dim)
    n_train = sum(train_counts)
    if n_train < cfg.batchsize:
        raise UserError(f"{train_files[0].parent}: {n_train} training images, fewer than one "
                        f"batch of batchsize={cfg.batchsize}")

    import keras
    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core import plots, stats
    from exagan_tf.core.flow_matching import FlowMatching
    from exagan_tf.core.schedules import learning_rate
    from exagan_tf.core.trainer import Lifecycle, best_metrics, tag_run
    from exagan_tf.cosmo import curves, train_clock, yardsticks

    life = Lifecycle(
        cfg, *tag_run(cfg, tag, run_id, expts, command or ["-m", "exagan_tf.train", *argv])
    )
    run, log, strategy = life.run, life.log, life.strategy
    my_shards = distribute.shard_files(
        list(zip(train_files, train_counts)), strategy, "training shard files"
    )
    # Nepochs passes over the images (as the DCGAN's train.total_steps), whole periods
    wanted = cfg.Nepochs * max(n_train // cfg.batchsize, 1)
    wanted = min(wanted, max_steps) if max_steps else wanted
    periods = math.ceil(wanted / cfg.checkpt_batch)
    steps = periods * cfg.checkpt_batch
    life.record({"config_tag": tag, "data_format": "channels_last", "n_train": n_train,
                 "train_files": len(train_files), "model_kind": "flow"})
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        net = build_velocity(cfg)
        model = FlowMatching(net, seed=cfg.seed)
        opt = keras.optimizers.Adam(learning_rate(cfg.g_lr, steps, cfg.lr_decay))
        model.compile(optimizer=opt, jit_compile=cfg.jit_compile)
        opt.build(net.trainable_variables)  # slots exist before the checkpoint restores them
        best = best_metrics(("chisq", "chisq_pspect"))
        seconds = train_clock.clock_variable()
    life.checkpoint({"velocity": net, "optimizer": opt, **best, "train_seconds": seconds},
                    describe=lambda: f" (step {int(model.step.numpy())})")
    start = int(model.step.numpy())
    if start >= steps:
        log.info(f"{run.path}: already trained to step {start} of {steps}; nothing to do")
        return 0
    log.info(f"run {run.path} | {'resuming' if run.resumed else 'new'} | flow matching in "
             f"{cfg.fm_space} space, U-Net {list(cfg.fm_widths)}, {net.count_params()} "
             "parameters | "
             f"{n_train} training images | steps {start}->{steps} in periods of "
             f"{cfg.checkpt_batch}")
    def make_data(batch):
        ds = cosmo_data.make_dataset(
            [f for f, _ in my_shards], cfg.img_dim, batch, cfg.datascale, "channels_last",
            seed=cfg.seed + start, counts=[c for _, c in my_shards], dequantize=cfg.dequantize,
        )
        if cfg.fm_space == "log":
            ds = ds.map(to_log_space)
        return ds

    dataset = distribute.distribute_input(strategy, make_data, cfg.batchsize)
    # the DCGAN's reference and floors (yardsticks.monitor_yardsticks), so that the statistics
    # of both kinds, and their curves against training time, are read on the same sets
    yard, floors = yardsticks.monitor_yardsticks(cfg, log)
    curves.write_record(run.path / curves.METRICS_FILE, curves.floors_record(floors))
    val_counts = yard.ref
    writer = tf.summary.create_file_writer(str(run.logs))
    monitor = cb.SampleMonitor(
        lambda n: sample_counts(net, cfg, n, cfg.seed + SAMPLE_SEED_OFFSET),
        val_counts,
        stats.summary_statistics,
        {
            "generated": lambda v, g: plots.image_grid(g[:16], scale=cfg.cscale),
            "pixel_histogram": plots.pixel_histogram_figure,
            "power_spectrum": plots.power_spectrum_figure,
        },
        writer, run.models, {"g": net}, cfg.best_after, best, cfg.checkpt_batch, log,
        life.guard,
    )
    clock = train_clock.TrainClock(seconds)
    callbacks = life.callbacks(cb.ProgressLog(log, cfg.print_batch, steps, cfg.batchsize),
                               clock, monitor,
                               train_clock.MetricsRecord(clock, monitor, run.path, writer,
                                                         life.guard),
                               cb.ReferenceLines(run.logs, yardsticks.tensorboard_lines(floors),
                                                 life.guard))
    t0 = time.perf_counter()
    with life.preempt:
        if life.fit_periods(model, dataset, start, steps, cfg.checkpt_batch, callbacks):
            life.stopped(steps)
            return 0
    done = int(model.step.numpy())
    rate = (done - start) * cfg.batchsize / (time.perf_counter() - t0)
    life.export({"g_final.weights.h5": net, "velocity_final.keras": net})
    log.info(f"done: step {done}, {rate:.1f} images/s; outputs in {run.path}")
    return 0
