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

import argparse
import math
import platform
import shlex
import sys
import time
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors, quote

PROG = "python -m exagan_tf.cmb.main"
#: flags that may differ between a run and its resumption
RESUMABLE = ("epochs", "gpus", "output_dir", "multiworker")


def build_parser() -> argparse.ArgumentParser:
    """The original's argument parser (plus the CPU-sizing flags)."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("-i", "--inputs", default=None, help="input channels to model, e.g. qu (required)")
    a("-o", "--outputs", default=None, help="output channels to model, e.g. e (required)")
    a("--gpus", default=None, help="GPUs to use, one digit each: 12 = GPUs 1 and 2")
    a("--seed", type=int, default=483, help="random seed for reproducibility (483)")
    a("--data-dir", default="./data/", help="directory holding cmb_maps.h5 (./data/)")
    a("--noise", type=float, default=0.0, help="white noise level in uK-arcmin (0.0)")
    a("--noise-channels", default="qu", help="channels the noise is added to (qu)")
    a("--ndeg", type=float, default=5.0, help="side of the maps in degrees (5.0)")
    a("--no-normalize-maps", action="store_true", help="do not normalise the maps")
    a("--no-apodize-maps", action="store_true", help="do not apodise the maps")
    a("-vs", "--validation-split", type=float, default=0.2, help="validation fraction (0.2)")
    a("-a", "--architecture", default="pix2pix", choices=("pix2pix", "astroencoder"),
      help="generator architecture (pix2pix)")
    a("--no-adversarial", action="store_true", help="train the generator alone (no D)")
    a("--no-skip-connections", action="store_true", help="no U-Net skip connections")
    a("--no-residuals", action="store_true", help="no residual connections")
    a("--output-dir", default="./results", help="where model folders go (./results)")
    a("-gdrop", "--generator-dropout-ratio", type=float, default=0.5,
      help="dropout ratio in the generator (0.5)")
    a("-ddrop", "--discriminator-dropout-ratio", type=float, default=0.5,
      help="dropout ratio in the discriminator (0.5)")
    a("--no-generator-use-bias", action="store_true", help="no biases in the generator")
    a("--no-discriminator-use-bias", action="store_true", help="no biases in the discriminator")
    a("--high-res-len", type=int, default=2, help="length of the high-resolution stem (2)")
    a("-e", "--epochs", type=int, default=100, help="training epochs (100)")
    a("--lambda", dest="lambda_", type=float, default=100.0, help="L1 weight in G's loss (100)")
    a("--discriminator-interval", type=int, default=20,
      help="train D every N generator steps (20)")
    a("--spectra-weight", type=float, default=0.0,
      help="weight of the power-spectrum difference in G's loss (0: not computed)")
    g = p.add_argument_group("added by exagan-tf (CPU-sized runs)")
    g.add_argument("--filters", type=int, default=64, help="base filter count (64)")
    g.add_argument("--batch-size", type=int, default=16, help="batch size (16)")
    g.add_argument("--learning-rate", type=float, default=2e-4,
                   help="Adam learning rate of G and D, beta_1 0.5 (2e-4)")
    g.add_argument("--max-maps", type=int, default=None, help="use only the first N maps")
    g.add_argument("--multiworker", action="store_true",
                   help="train over the workers of TF_CONFIG or srun (README: Scale out)")
    g.add_argument("--analytic-skip", action="store_true",
                   help="add the analytic E (B) input to the e (b) output, so the network "
                        "learns the correction to the E,B approximation (needs E or B in -i)")
    g.add_argument("--loss", default="l1", choices=("l1", "mse"),
                   help="reconstruction term of G's loss, weighted by --lambda: l1 (the "
                        "original's) or mse (DeepCMB's) (l1)")
    g.add_argument("--kappa-stage", action="store_true",
                   help="a first network predicts kappa, a second the other outputs from the "
                        "inputs and that kappa, trained together (needs k and another output)")
    g.add_argument("--precision", default="float32",
                   choices=("float32", "mixed_float16", "mixed_bfloat16", "auto"),
                   help="Keras dtype policy: mixed_float16 (GPU), mixed_bfloat16 (CPUs with "
                        "bf16), auto (mixed_float16 on a GPU); outputs and losses stay float32 "
                        "(float32)")
    g.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    g.add_argument("--experiment", default=None,
                   help="FILE:TAG: take flag values from a tag of an experiments YAML")
    return p


def _flag_table(parser: argparse.ArgumentParser) -> list[tuple[str, str, object]]:
    """(dest, long flag, kind) for every option that is part of a run's configuration."""
    out = []
    for action in parser._actions:
        if action.dest in ("help", "experiment"):
            continue
        long = next(s for s in action.option_strings if s.startswith("--"))
        kind = "switch" if isinstance(action, argparse._StoreTrueAction) else "value"
        out.append((action.dest, long, kind))
    return out


def _experiment_defaults(parser: argparse.ArgumentParser, spec: str) -> dict:
    """Flag values of ``FILE:TAG`` (keys are the long flag names without dashes)."""
    from exagan_tf.config import read_tags

    if ":" not in spec:
        raise UserError(f"--experiment={spec!r}: expected FILE:TAG")
    file, tag = spec.rsplit(":", 1)
    tags = read_tags(file)
    if tag not in tags:
        raise UserError(f"{file}: unknown tag {tag!r} (known: {', '.join(sorted(tags))})")
    by_name = {long[2:]: (dest, kind) for dest, long, kind in _flag_table(parser)}
    actions = {a.dest: a for a in parser._actions}
    values = {}
    for key, value in tags[tag].items():
        if key not in by_name:
            raise UserError(f"{file}: tag {tag!r}: unknown flag {key!r}")
        dest, kind = by_name[key]
        values[dest] = _tag_value(actions[dest], kind, value, f"{file}: tag {tag!r}: {key}")
    return values


def _tag_value(action: argparse.Action, kind: str, value, where: str):
    """A flag value read from YAML, converted as the command line would convert it."""
    if kind == "switch":
        if not isinstance(value, bool):
            raise UserError(f"{where}={quote(value)}: a switch; expected true or false")
        return value
    if value is None:  # null: the flag's default, which must itself be "not given"
        if action.default is not None:
            raise UserError(f"{where}=null: expected a value (default {action.default})")
        return None
    if isinstance(value, (bool, list, dict)):
        raise UserError(f"{where}={quote(value)}: expected a single value")
    try:
        converted = (action.type or str)(str(value))
    except (TypeError, ValueError):
        kind_name = getattr(action.type, "__name__", "text")
        raise UserError(f"{where}={quote(value)}: expected {kind_name}") from None
    if action.choices is not None and converted not in action.choices:
        raise UserError(f"{where}={quote(value)}: expected one of {', '.join(action.choices)}")
    return converted


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and validate the command line (experiment tags first, the command line wins)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.experiment:
        parser.set_defaults(**_experiment_defaults(parser, args.experiment))
        args = parser.parse_args(argv)
    validate(args)
    return args


def validate(args: argparse.Namespace) -> None:
    """One-line errors for values the original would have failed on later."""
    from exagan_tf.cmb.data import check_channels

    if not args.inputs or not args.outputs:
        raise UserError("-i/--inputs and -o/--outputs are required (e.g. -i qu -o e)")
    check_channels(args.inputs, "--inputs")
    check_channels(args.outputs, "--outputs")
    check_channels(args.noise_channels, "--noise-channels")
    if set(args.inputs) & set(args.outputs):
        raise UserError(f"--outputs={args.outputs!r} repeats an input channel of {args.inputs!r}")
    if not 0.0 < args.validation_split < 1.0:
        raise UserError(
            f"--validation-split={args.validation_split}: expected a fraction in (0, 1)"
        )
    for name in ("generator_dropout_ratio", "discriminator_dropout_ratio"):
        if not 0.0 <= getattr(args, name) < 1.0:
            raise UserError(f"--{name.replace('_', '-')}={getattr(args, name)}: expected [0, 1)")
    for name in ("epochs", "discriminator_interval", "filters", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}={getattr(args, name)}: expected >= 1")
    if args.high_res_len < 0:
        raise UserError(f"--high-res-len={args.high_res_len}: expected >= 0")
    for name in ("noise", "spectra_weight", "lambda_", "ndeg", "learning_rate"):
        value = getattr(args, name)
        flag = "--" + name.rstrip("_").replace("_", "-")
        if not math.isfinite(value) or value < 0:
            raise UserError(f"{flag}={value}: expected a finite number >= 0")
        if name in ("ndeg", "learning_rate") and value == 0:
            raise UserError(f"{flag}={value}: expected a number > 0")
    if args.seed < 0:
        raise UserError(f"--seed={args.seed}: expected an integer >= 0")
    if args.gpus is not None and (not args.gpus.isdigit() or len(set(args.gpus)) != len(args.gpus)):
        raise UserError(f"--gpus={args.gpus!r}: expected distinct GPU digits, e.g. 12")
    if args.max_maps is not None and args.max_maps < 2:
        raise UserError(f"--max-maps={args.max_maps}: expected at least 2 maps")
    if args.analytic_skip and not analytic_skips(args.inputs, args.outputs):
        raise UserError(f"--analytic-skip: no output of {args.outputs!r} has its analytic "
                        f"counterpart among the inputs {args.inputs!r} (e needs E, b needs B)")
    if args.kappa_stage and ("k" not in args.outputs or len(args.outputs) < 2):
        raise UserError(f"--kappa-stage: -o {args.outputs!r} needs kappa (k) and at least one "
                        "other output, e.g. -o ek")


def analytic_skips(inputs: str, outputs: str, scales: dict | None = None) -> list:
    """``[(input index, output index, factor)]`` of the ``--analytic-skip`` connections: E to e
    and B to b where both are present; the factor ``scale(E) / scale(e)`` turns the normalised
    analytic map into the normalisation of the target."""
    out = []
    for j, c in enumerate(outputs):
        analytic = {"e": "E", "b": "B"}.get(c)
        if analytic is not None and analytic in inputs:
            factor = 1.0 if scales is None else scales[analytic] / scales[c]
            out.append((inputs.index(analytic), j, factor))
    return out


def run_config(args: argparse.Namespace) -> dict:
    """The run's configuration: every flag by its long name (without dashes)."""
    return {long[2:]: getattr(args, dest) for dest, long, _ in _flag_table(build_parser())}


def reproduce_command(args: argparse.Namespace) -> str:
    """The exact command line that reproduces ``args`` (every flag spelled out)."""
    words = ["python", "-m", "exagan_tf.cmb.main"]
    for dest, long, kind in _flag_table(build_parser()):
        value = getattr(args, dest)
        if kind == "switch":
            if value:
                words.append(long)
        elif value is not None:
            words += [long, str(value)]
    return shlex.join(words)


def model_dir_name(args: argparse.Namespace) -> str:
    """``<architecture>_<inputs>-<outputs>_noise<noise>`` (the original names folders by
    experiment; a different configuration of the same experiment needs another --output-dir)."""
    return f"{args.architecture}_{args.inputs}-{args.outputs}_noise{args.noise:g}"


def open_model_dir(args: argparse.Namespace, argv: list[str]):
    """Create the model folder or reopen it for the same configuration (refuse another)."""
    from exagan_tf import runs
    from exagan_tf.fileio import write_text_atomic

    path = Path(args.output_dir) / model_dir_name(args)
    wanted = {k: v for k, v in run_config(args).items() if k.replace("-", "_") not in RESUMABLE}
    run = runs.open_run_dir(
        path,
        wanted,
        shlex.join(["python", "-m", "exagan_tf.cmb.main", *argv]),
        mismatch="{path} exists with a different configuration ({diff}); use another "
        "--output-dir or the original flags (see its 'command' file)",
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


def build_models(args: argparse.Namespace, npix: int, strategy=None, scales: dict | None = None):
    """Generator, discriminator (None without adversarial training) and the ConditionalGAN;
    ``scales`` (the data's normalisation) set the ``--analytic-skip`` factors."""
    import keras

    from exagan_tf.cmb.discriminators import patchgan_discriminator
    from exagan_tf.cmb.generators import build_generator, kappa_stage_generator
    from exagan_tf.cmb.losses import SpectraLoss, WeightedSum, squared_error
    from exagan_tf.core.cgan import ConditionalGAN
    from exagan_tf.precision import float32_outputs, loss_scaled

    keras.utils.set_random_seed(args.seed)
    cin, cout = len(args.inputs), len(args.outputs)
    make, first = build_generator, ()
    if args.kappa_stage:
        make, first = kappa_stage_generator, (args.outputs.index("k"),)
    gen = make(
        args.architecture, npix, cin, cout, *first,
        filters=args.filters,
        skip_connections=not args.no_skip_connections,
        residuals=not args.no_residuals,
        use_bias=not args.no_generator_use_bias,
        dropout=args.generator_dropout_ratio,
        high_res_len=args.high_res_len,
        input_skips=analytic_skips(args.inputs, args.outputs, scales) if args.analytic_skip
        else (),
    )
    gen = float32_outputs(gen)  # float32 maps and logits under a mixed-precision policy
    disc = None
    if not args.no_adversarial:
        disc = float32_outputs(patchgan_discriminator(
            npix, cin, cout, filters=args.filters,
            use_bias=not args.no_discriminator_use_bias,
            dropout=args.discriminator_dropout_ratio,
        ))
    extra = SpectraLoss(npix) if args.spectra_weight > 0 else None
    l1_weight, extra_weight = args.lambda_, args.spectra_weight
    if args.loss == "mse":  # the squared error joins the extra losses; the L1 term is dropped
        extra = WeightedSum([(args.lambda_, squared_error), (args.spectra_weight, extra)])
        l1_weight, extra_weight = 0.0, 1.0
    gan = ConditionalGAN(
        gen, disc,
        l1_weight=l1_weight,
        adversarial=not args.no_adversarial,
        d_interval=args.discriminator_interval,
        extra_loss=extra,
        extra_weight=extra_weight,
        seed=args.seed,
    )

    def adam():  # mixed_float16: loss scaling
        return loss_scaled(keras.optimizers.Adam(args.learning_rate, beta_1=0.5))

    gan.compile(d_optimizer=adam() if disc is not None else None, g_optimizer=adam(),
                jit_compile=args.jit_compile)
    return gen, disc, gan


@cli_errors
def main(argv=None) -> int:
    """Entry point of ``python -m exagan_tf.cmb.main`` / ``exagan-cmb``."""
    from exagan_tf.runtime import configure_environment

    configure_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    return train(args, argv)


def train(args: argparse.Namespace, argv: list[str]) -> int:
    """Load the data, create or resume the model folder, train, then evaluate."""
    from exagan_tf import runs
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
    from exagan_tf import distribute
    from exagan_tf.precision import apply_precision

    policy = apply_precision(args.precision)  # before any layer is built

    run = distribute.open_run(  # multi-worker: only the chief writes the model folder
        lambda: open_model_dir(args, argv), Path(args.output_dir) / model_dir_name(args), strategy
    )
    log = runs.setup_logging(run, "exagan_tf.cmb")

    import keras
    import numpy as np
    import tensorflow as tf

    from exagan_tf.cmb import evaluate
    from exagan_tf.core import callbacks as cb
    from exagan_tf.fileio import save_model_atomic

    with strategy.scope():
        gen, disc, gan = build_models(args, npix, scales=data.scales)
        best = {"residual_ratio": tf.Variable(math.inf, dtype=tf.float64, trainable=False)}
    parts = {"generator": gen, "g_optimizer": gan.g_optimizer, **best}
    if disc is not None:
        parts.update(discriminator=disc, d_optimizer=gan.d_optimizer)
    ckpt = tf.train.Checkpoint(**parts)
    manager = tf.train.CheckpointManager(ckpt, run.checkpoints, max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        log.info(f"resumed {run.path} from {Path(manager.latest_checkpoint).name}")
    steps_per_epoch = n_train // args.batch_size
    start_epoch = int(gan.step.numpy()) // steps_per_epoch
    runs.write_meta(run, {
        "n_train": n_train, "n_val": len(data.x_val), "npix": npix, "ndeg": data.ndeg,
        "precision": policy,
        "scales": {c: data.scales[c] for c in args.inputs + args.outputs},
        "replicas": strategy.num_replicas_in_sync, "strategy": type(strategy).__name__,
        "workers": distribute.num_workers(strategy),
        "generator_params": gen.count_params(),
        "discriminator_params": disc.count_params() if disc is not None else 0,
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "host": platform.node(),
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
        guard = cb.NaNGuard(log)
        monitor = cb.SampleMonitor(
            predict, data.y_val, stats_fn, {}, writer, run.models,
            {"g": gen}, 0, best, steps_per_epoch, log, guard,
        )
        t0 = time.perf_counter()
        step0 = int(gan.step.numpy())
        preempt = cb.PreemptionGuard(manager, log, strategy=strategy)
        total = args.epochs * steps_per_epoch
        callbacks = [
            guard,
            preempt,
            cb.ProgressLog(log, max(1, steps_per_epoch // 2), total, args.batch_size),
            monitor,
            cb.CheckpointSaver(manager, guard),
        ]
        with preempt:  # a run preempted mid-epoch first completes that epoch
            cb.fit_in_periods(gan, dataset, step0, total, steps_per_epoch, callbacks, guard,
                              preempt)
        guard.raise_if_bad(run.path, manager)
        if preempt.saved_step is not None:
            log.info(f"stopped at step {preempt.saved_step}; run the same command to resume")
            return 0
        done = int(gan.step.numpy()) - step0
        rate = done * args.batch_size / max(time.perf_counter() - t0, 1e-9)
        log.info(f"trained {done} steps, {rate:.1f} maps/s")
        save_model_atomic(gen, run.models / "generator_final.keras")
    else:
        log.info(f"{run.path}: already trained for {args.epochs} epochs; evaluating")
        final = run.models / "generator_final.keras"
        if cb.stale_exports([final], manager):  # stopped after its last checkpoint
            save_model_atomic(gen, final)
            log.info(f"wrote the final export it lacked ({final.name})")
    pred = gan.predict_in_batches(data.x_val, 64)
    metrics = evaluate.write_evaluation(run.path, data, pred, args, writer, int(gan.step.numpy()))
    log.info(evaluate.format_table(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
