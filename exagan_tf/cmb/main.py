"""astroDGAN: train a GAN that decomposes lensed CMB Q, U maps into E, kappa and B.

``python -m exagan_tf.cmb.main -i qu -o e -a astroencoder ...`` with every flag of the original
``main.py`` (same short and long names and defaults), plus a few added for CPU-sized runs
(``--filters``, ``--batch-size``, ``--learning-rate``, ``--max-maps``), ``--precision`` (Keras
dtype policy, :mod:`exagan_tf.precision`; float32 by default) and ``--jit-compile`` (XLA; off by
default), and ``--experiment FILE:TAG`` to take the flags from a tag of
``experiments/cmb/experiments.yaml`` (flags given on the command line win).

The model folder ``OUTPUT_DIR/<architecture>_<inputs>-<outputs>_noise<noise>`` holds
``command`` (the exact command that reproduces the run, every flag spelled out), ``config.yaml``,
``command.txt`` (every start and resume), ``train.log``, TensorBoard events in ``logs/``,
checkpoints (one per epoch, for resuming) and ``models/`` (final and best generators), and after
training ``metrics.json`` and the figures of :mod:`exagan_tf.cmb.evaluate`. Running the same
command again resumes (and may raise ``--epochs``); another configuration into the same folder
is refused. SIGTERM (what SLURM sends before it kills a job) saves a checkpoint at the current
step and stops cleanly; the same command continues from that step.

``--multiworker`` trains synchronously over the workers of ``TF_CONFIG`` or of an ``srun`` job
step (``MultiWorkerMirroredStrategy``, each worker on its ``--gpus``): every worker takes every
N-th training map (rows split by worker), and only the chief writes the model folder.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from exagan_tf.cmb.config import CMBConfig
from exagan_tf.cmb.flags import (  # noqa: F401 (the original command line, used by callers)
    PROG,
    build_parser,
    model_dir_name,
    parse_args,
    reproduce_command,
    run_config,
    validate,
)
from exagan_tf.cmb.models import analytic_skips, build_models  # noqa: F401
from exagan_tf.errors import UserError, cli_errors

#: flags that may differ between a run and its resumption
RESUMABLE = ("epochs", "gpus", "output_dir", "multiworker")


def open_model_dir(args: CMBConfig, argv: list[str], path: Path | None = None,
                   command: list[str] | None = None):
    """Create the model folder (``path``, default ``OUTPUT_DIR/<model_dir_name>``) or reopen it
    for the same configuration (refuse another). A flag absent from a stored folder's
    configuration (added to the suite after it started) counts as its default."""
    from exagan_tf import runs
    from exagan_tf.fileio import write_text_atomic

    path = Path(path or Path(args.output_dir) / model_dir_name(args))
    wanted = {k: v for k, v in run_config(args).items() if k.replace("-", "_") not in RESUMABLE}
    defaults = run_config(build_parser().parse_args([]))
    run = runs.open_run_dir(
        path,
        wanted,
        shlex.join(command or ["python", "-m", "exagan_tf.cmb.main", *argv]),
        mismatch="{path} exists with a different configuration ({diff}); use another "
        "--output-dir or the original flags (see its 'command' file)",
        comparable=lambda d: {**{k: v for k, v in defaults.items() if k in wanted}, **d},
        kind="model folder",
    )
    # the latest command that reproduces the folder (a resume may raise --epochs)
    write_text_atomic(path / "command", reproduce_command(args) + "\n", overwrite=True)
    return run


def select_gpus(gpus: str | None, multiworker: bool = False):
    """Make only the named GPUs visible and return the strategy (Mirrored over > 1 device;
    ``multiworker``: MultiWorkerMirrored over the cluster, each worker on those GPUs)."""
    import tensorflow as tf

    from exagan_tf import distribute

    if gpus is None:
        return distribute.get_strategy("multiworker" if multiworker else "auto")
    physical = tf.config.list_physical_devices("GPU")
    wanted = [int(c) for c in gpus]
    missing = [i for i in wanted if i >= len(physical)]
    if missing:
        raise UserError(
            f"--gpus={gpus}: GPU {missing[0]} does not exist (this machine has "
            f"{len(physical)} GPU{'s' if len(physical) != 1 else ''}); leave --gpus out to run "
            "on what is there"
        )
    try:
        tf.config.set_visible_devices([physical[i] for i in wanted], "GPU")
    except RuntimeError as err:  # devices already initialised in this process
        raise UserError(
            f"--gpus={gpus}: cannot select GPUs after TensorFlow started ({err})"
        ) from None
    if multiworker:
        return distribute.get_strategy("multiworker")
    return distribute.get_strategy("mirrored" if len(wanted) > 1 else "none")


@cli_errors
def main(argv=None) -> int:
    """Entry point of ``python -m exagan_tf.cmb.main`` / ``exagan-cmb``."""
    from exagan_tf.runtime import configure_environment

    configure_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    return train(CMBConfig.from_args(parse_args(argv)), argv)


def train(args: CMBConfig, argv: list[str], run_dir: Path | None = None,
          command: list[str] | None = None) -> int:
    """Load the data, create or resume the model folder (``run_dir``, default
    ``OUTPUT_DIR/<model_dir_name>``), train, then evaluate (``command``: the words recorded in
    command.txt after the interpreter)."""
    from exagan_tf.cmb import data as cmb_data

    data = cmb_data.load_data(
        args.data_dir, args.inputs, args.outputs,
        noise=args.noise, noise_channels=args.noise_channels,
        normalize=not args.no_normalize_maps, apodize=not args.no_apodize_maps,
        validation_split=args.validation_split, seed=args.seed, ndeg=args.ndeg,
        max_maps=args.max_maps,
    )
    n_train, npix = len(data.x_train), data.x_train.shape[1]
    if n_train < args.batch_size:
        raise UserError(f"{data.path}: {n_train} training maps, fewer than one batch of "
                        f"--batch-size {args.batch_size}")
    strategy = select_gpus(args.gpus, args.multiworker)
    import numpy as np
    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.cmb import evaluate
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core.trainer import Lifecycle, best_metrics

    path = Path(run_dir or Path(args.output_dir) / model_dir_name(args))
    life = Lifecycle(  # multi-worker: only the chief writes the model folder
        args, lambda: open_model_dir(args, argv, path, command), path, "exagan_tf.cmb",
        strategy=strategy,
    )
    run, log = life.run, life.log

    with strategy.scope():
        gen, disc, gan = build_models(args, npix, scales=data.scales)
        best = best_metrics(("residual_ratio",))
    parts = {"generator": gen, "g_optimizer": gan.g_optimizer, **best}
    if disc is not None:
        parts.update(discriminator=disc, d_optimizer=gan.d_optimizer)
    life.checkpoint(parts)
    steps_per_epoch = n_train // args.batch_size
    start_epoch = int(gan.step.numpy()) // steps_per_epoch
    life.record({
        "n_train": n_train, "n_val": len(data.x_val), "npix": npix, "ndeg": data.ndeg,
        "scales": {c: data.scales[c] for c in args.inputs + args.outputs},
        "generator_params": gen.count_params(),
        "discriminator_params": disc.count_params() if disc is not None else 0,
    })
    writer = tf.summary.create_file_writer(str(run.logs))
    if start_epoch < args.epochs:
        log.info(
            f"{run.path} | {'resuming' if run.resumed else 'new'} | {args.architecture} "
            f"{args.inputs}->{args.outputs} noise {args.noise:g} | G {gen.count_params():,} "
            f"D {disc.count_params() if disc is not None else 0:,} params | {n_train} maps of "
            f"{npix}^2 | epochs {start_epoch}->{args.epochs} of {steps_per_epoch} steps | "
            f"{strategy.num_replicas_in_sync} replica(s)"
        )
        rows = distribute.split_rows((data.x_train, data.y_train), strategy)  # per worker
        dataset = distribute.distribute_input(strategy, lambda batch: (
            tf.data.Dataset.from_tensor_slices(rows)
            .shuffle(len(rows[0]), seed=args.seed + start_epoch, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        ), args.batch_size)
        edges = evaluate.band_edges(npix, data.pixel_rad)
        spectra_norm = float(np.mean(data.window**2))
        window = None if not args.no_apodize_maps else cmb_data.apodization_window(npix)

        def predict(_n):
            return gan.predict_in_batches(data.x_val, 64)

        def stats_fn(truth, pred):
            return evaluate.monitor_statistics(pred, truth, args.outputs, data.pixel_rad, edges,
                                               window, spectra_norm)

        # per epoch: scalars (losses, residual ratio and r per channel) and the best generator;
        # the spectra figure is drawn once at the end (write_evaluation), as it costs a few s
        monitor = cb.SampleMonitor(
            predict, data.y_val, stats_fn, {}, writer, run.models,
            {"g": gen}, 0, best, steps_per_epoch, log, life.guard,
        )
        t0 = time.perf_counter()
        step0 = int(gan.step.numpy())
        total = args.epochs * steps_per_epoch
        callbacks = life.callbacks(
            cb.ProgressLog(log, max(1, steps_per_epoch // 2), total, args.batch_size), monitor)
        with life.preempt:  # a run preempted mid-epoch first completes that epoch
            if life.fit_periods(gan, dataset, step0, total, steps_per_epoch, callbacks):
                life.stopped(total)
                return 0
        done = int(gan.step.numpy()) - step0
        rate = done * args.batch_size / max(time.perf_counter() - t0, 1e-9)
        log.info(f"trained {done} steps, {rate:.1f} maps/s")
        life.export({"generator_final.keras": gen})
    else:
        log.info(f"{run.path}: already trained for {args.epochs} epochs; evaluating")
        final = run.models / "generator_final.keras"
        if cb.stale_exports([final], life.manager):  # stopped after its last checkpoint
            life.export({final.name: gen})
            log.info(f"wrote the final export it lacked ({final.name})")
    pred = gan.predict_in_batches(data.x_val, 64)
    metrics = evaluate.write_evaluation(run.path, data, pred, args, writer, int(gan.step.numpy()))
    log.info(evaluate.format_table(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
