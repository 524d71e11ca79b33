"""Train RACOON or PENGUIN from a ``temp.yaml``: ``python -m exagan_tf.gr.run_controller FILE``.

As the original ``run_controller.py``: the YAML has the sections ``model_params``
(architecture, layer_param, dropout, name), ``data_params`` (datafile, train_seeds, test_seeds,
newton_augmentation) and ``train_params`` (epochs, lr, log_dir); training uses every GPU present
(MirroredStrategy, :func:`exagan_tf.distribute.get_strategy`), logs to TensorBoard under
``log_dir``, and a run whose ``name`` exists continues from its checkpoint.

Run directory ``<log_dir>/<name>/`` (the original kept TensorBoard logs under ``log_dir`` and the
model under ``models/<name...>.pt``): ``config.yaml`` (the settings it was started with),
``command.txt`` (every start and resume), ``run.json`` (data format, dtype policy, XLA,
strategy, versions), ``train.log``, ``logs/`` (TensorBoard: loss, accuracy, precision, recall,
AUC for training and, every ``test_every`` epochs, for the test seeds; the final ROC curve),
``checkpoints/`` (model, optimizer and epoch counter for resuming),
``models/model_epoch<E>.keras`` and ``analysis/epoch<E>/{metrics.json, roc.png}`` from
:mod:`exagan_tf.gr.evaluate`.

Resuming: the same ``name`` with the same settings continues from the last checkpoint and trains
``epochs`` more epochs (the original: "can be trained before as well, will just continue"); any
other setting that differs (architecture, data, learning rate, ...) is refused with a one-line
message naming it. This is :mod:`exagan_tf.runs`' rule except for ``epochs``, which
:func:`exagan_tf.runs.open_run_dir` leaves out of the comparison. A run stopped before the end of
its invocation (SIGTERM, which saves a checkpoint at the current step, or a kill) first finishes
that invocation's epochs; the epoch it was stopped in is repeated from the saved weights.

``distribute: multiworker`` trains over the workers of ``TF_CONFIG`` or ``srun``: every worker
reads the whole (small) data file and keeps its part of each global batch (tf.data ``DATA``
auto-sharding), and only the chief writes the run directory.
"""

from __future__ import annotations

import argparse
import math
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from exagan_tf.errors import UserError, cli_errors


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.gr.run_controller",
        description="Train RACOON/PENGUIN (GR vs Newton) from a temp.yaml-style config.",
    )
    p.add_argument("config", help="YAML with model_params, data_params, train_params")
    p.add_argument(
        "--no-evaluate",
        action="store_true",
        help="skip the test-seed evaluation (metrics.json, ROC) after training",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    return p.parse_args(argv)


def open_named_run(cfg, argv: Sequence[str]):
    """Create ``<log_dir>/<name>/`` or reopen it when its settings equal ``cfg``'s.

    Returns:
        An :class:`exagan_tf.runs.RunDir`.
    """
    from exagan_tf import runs
    from exagan_tf.gr.config import resume_settings

    command = shlex.join([Path(sys.executable).name, "-m", "exagan_tf.gr.run_controller", *argv])
    return runs.open_run_dir(
        Path(cfg.train_params.log_dir) / cfg.model_params.name,
        cfg.to_dict(),
        command,
        mismatch=f"{{path}}: a run named '{cfg.model_params.name}' exists with different "
        "settings ({diff}); choose another name or restore its settings",
        comparable=resume_settings,
    )


def build_classifier(cfg, input_shape, data_format: str):
    """The compiled model (BCE from logits, Adam with the original's betas) and its optimizer."""
    import keras

    from exagan_tf.gr.architectures import build_model
    from exagan_tf.precision import loss_scaled

    m, t = cfg.model_params, cfg.train_params
    model = build_model(
        m.architecture, input_shape, m.layer_param, m.dropout, m.activation, data_format
    )
    from exagan_tf.core import compat

    if compat.is_multi_worker():  # Keras 3.15 fit across workers needs the workaround
        model = compat.Model(model.inputs, model.outputs, name=model.name)
    optimizer = loss_scaled(  # mixed_float16: loss scaling
        keras.optimizers.Adam(
            learning_rate=t.lr,
            beta_1=t.betas[0],
            beta_2=t.betas[1],
            weight_decay=t.weight_decay or None,
        )
    )
    model.compile(
        optimizer=optimizer,
        jit_compile=t.jit_compile,
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            keras.metrics.Precision(thresholds=0.0, name="precision"),
            keras.metrics.Recall(thresholds=0.0, name="recall"),
            keras.metrics.AUC(from_logits=True, name="auc"),
        ],
    )
    optimizer.build(model.trainable_variables)
    return model, optimizer


def _callbacks(manager, epoch_var, logger, total_epochs: int, start_epoch: int):
    import keras

    from exagan_tf.core.callbacks import NaNGuard

    class ClassifierNaNGuard(NaNGuard):
        """:class:`NaNGuard` for a plain Keras classifier (counts optimizer steps)."""

        def on_train_batch_end(self, batch, logs=None):
            for key, value in (logs or {}).items():
                if "loss" in key and not math.isfinite(float(value)):
                    step = int(self.model.optimizer.iterations.numpy())
                    self.bad = f"{key} became {float(value)} at step {step}"
                    self.model.stop_training = True
                    return

    guard = ClassifierNaNGuard(logger)

    class EpochCheckpoint(keras.callbacks.Callback):
        """Save model + optimizer + epoch counter after every epoch (for resume by name); not
        after a NaN loss, so the last good checkpoint stays the latest."""

        def on_epoch_end(self, epoch, logs=None):
            if guard.bad or self.model.stop_training:  # NaN, or preempted mid-epoch
                return
            epoch_var.assign(epoch + 1)
            manager.save(checkpoint_number=epoch + 1)

    class EpochLog(keras.callbacks.Callback):
        """One log line per epoch: losses and metrics, seconds per epoch, time left."""

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1 - start_epoch
            per = (time.perf_counter() - self.t0) / max(done, 1)
            left = per * (total_epochs - epoch - 1)
            shown = " ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
            logger.info(
                f"epoch {epoch + 1}/{total_epochs} {shown} | {per:.1f} s/epoch | "
                f"left {time.strftime('%H:%M:%S', time.gmtime(left))}"
            )

    return [guard, EpochCheckpoint(), EpochLog()]


def train(cfg, argv: Sequence[str], evaluate: bool = True) -> dict | None:
    """Create or resume the run, train ``epochs`` more epochs, then evaluate on the test seeds."""
    from exagan_tf import distribute, runs
    from exagan_tf.gr import data

    d, t = cfg.data_params, cfg.train_params
    train_seeds, test_seeds = data.split_seeds(d.train_seeds, d.test_seeds)
    data.inspect_file(d.datafile, [*train_seeds, *test_seeds])  # fail before making a run dir

    import keras
    import tensorflow as tf

    from exagan_tf.precision import apply_precision

    policy = apply_precision(t.precision)  # before any layer is built
    strategy = distribute.get_strategy(t.distribute)  # multiworker: before any TF op
    run = distribute.open_run(  # multi-worker: only the chief writes the run
        lambda: open_named_run(cfg, argv),
        Path(cfg.train_params.log_dir) / cfg.model_params.name,
        strategy,
    )
    log = runs.setup_logging(run, name="exagan_tf.gr")
    meta = run.read_meta()
    data_format = meta.get("data_format") or distribute.resolve_data_format(t.data_format)
    train_set = data.make_dataset(
        d.loader, d.datafile, train_seeds, d.newton_augmentation, data_format
    )
    test_set = data.make_dataset(
        d.loader, d.datafile, test_seeds, d.newton_augmentation, data_format
    )
    runs.write_meta(
        run,
        {
            "data_format": data_format,
            "precision": policy,
            "jit_compile": t.jit_compile,
            "replicas": strategy.num_replicas_in_sync,
            "strategy": type(strategy).__name__,
            "workers": distribute.num_workers(strategy),
            "n_train_slices": len(train_set),
            "n_test_slices": len(test_set),
            "input_shape": list(train_set.input_shape),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "host": platform.node(),
        },
    )
    keras.utils.set_random_seed(t.seed)
    with strategy.scope():
        model, optimizer = build_classifier(cfg, train_set.input_shape, data_format)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # the last epoch of the invocation in progress: a run stopped before it (SIGTERM,
        # a kill) resumes towards it instead of adding another `epochs`
        end_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="end_epoch")
    from exagan_tf.core.callbacks import stale_exports

    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var, end=end_var)
    manager = tf.train.CheckpointManager(ckpt, run.checkpoints, max_to_keep=t.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info(
            f"resumed {run.path} from {Path(manager.latest_checkpoint).name} "
            f"(epoch {int(epoch_var.numpy())})"
        )
    start = int(epoch_var.numpy())
    end = int(end_var.numpy()) if int(end_var.numpy()) > start else start + t.epochs
    finals = [run.models / f"model_epoch{start}.keras"]
    finals += [run.path / "analysis" / f"epoch{start}" / "metrics.json"] if evaluate else []
    if start and int(end_var.numpy()) == start and stale_exports(finals, manager):
        end = start  # the last invocation trained its epochs, then stopped before its exports
    end_var.assign(end)
    log.info(
        f"run {run.path} | {'resuming' if run.resumed else 'new'} | {model.name} "
        f"lp={cfg.model_params.layer_param} ({model.count_params():,} parameters) | "
        f"{data_format} | {strategy.num_replicas_in_sync} replica(s) | {len(train_set)} train / "
        f"{len(test_set)} test slices of {train_set.input_shape} | epochs {start}->{end}"
    )
    batch = d.batch_size * strategy.num_replicas_in_sync
    repeat = t.steps_per_epoch is not None
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds = train_set.dataset(
        batch, shuffle=True, seed=t.seed + start, shuffle_buffer=d.shuffle_buffer, repeat=repeat
    )
    test_ds = test_set.dataset(batch, shuffle=False)
    preempt = None
    if end > start:
        from exagan_tf.core.callbacks import PreemptionGuard, ProgressLog

        callbacks = _callbacks(manager, epoch_var, log, end, start)
        # within epochs too (an epoch of the original size is ~15k steps): ten lines per epoch
        per_epoch = t.steps_per_epoch or -(-len(train_set) // batch)
        progress = ProgressLog(log, max(1, per_epoch // 10), end * per_epoch, batch)
        # SIGTERM: a checkpoint at the current step (numbered by it); the epoch in progress
        # is not counted, so a resumed run repeats it from the weights saved at the signal
        preempt = PreemptionGuard(manager, log, strategy=strategy)
        model.fit(
            train_ds.with_options(options),
            epochs=end,
            initial_epoch=start,
            steps_per_epoch=t.steps_per_epoch,
            validation_data=test_ds.with_options(options),
            validation_freq=t.test_every,
            validation_steps=-(-len(test_set) // batch),
            callbacks=[
                *callbacks,
                preempt,
                progress,
                keras.callbacks.TensorBoard(log_dir=str(run.logs), write_graph=False),
            ],
            verbose=0,
            shuffle=False,  # the tf.data pipeline shuffles
        )
        if callbacks[0].bad:
            raise UserError(
                f"{run.path}: training stopped, {callbacks[0].bad}; the last good checkpoint "
                f"(epoch {int(epoch_var.numpy())}) is kept; lower lr or check the data"
            )
        if preempt.saved_step is not None:
            log.info(
                f"stopped in epoch {int(epoch_var.numpy()) + 1} at step {preempt.saved_step}; "
                "run the same command to resume"
            )
            return None
    from exagan_tf.fileio import save_model_atomic

    if distribute.num_workers(strategy) > 1:
        # saved as a plain Keras model; predicts on this worker alone (outside the strategy)
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    epoch = int(epoch_var.numpy())
    if t.bn_recalibration_batches:  # precise batch norm for the exported model
        from exagan_tf.gr.architectures import recalibrate_batch_norm

        shuffled = train_set.dataset(batch, seed=t.seed + epoch, shuffle_buffer=d.shuffle_buffer)
        n = recalibrate_batch_norm(
            model, (x for x, _ in shuffled.take(t.bn_recalibration_batches).as_numpy_iterator())
        )
        log.info(f"batch-norm statistics re-estimated from {n} shuffled training batches")
    model_path = run.models / f"model_epoch{epoch}.keras"
    if not model_path.exists():
        save_model_atomic(model, model_path)
    log.info(f"model at epoch {epoch}: {model_path}")
    if not evaluate:
        return None
    out = run.path / "analysis" / f"epoch{epoch}"
    if (out / "metrics.json").exists():
        log.info(f"{out / 'metrics.json'} exists; not evaluating again")
        import json

        return json.loads((out / "metrics.json").read_text())
    from exagan_tf.gr.evaluate import evaluate_model

    writer = tf.summary.create_file_writer(str(run.logs / "test"))
    return evaluate_model(model, cfg, data_format, out, epoch, writer, log)


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``python -m exagan_tf.gr.run_controller temp.yaml``)."""
    args = parse_args(argv)
    from exagan_tf.gr.config import load_gr_config

    cfg = load_gr_config(args.config)
    if args.dry_run:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    train(cfg, list(argv if argv is not None else sys.argv[1:]), evaluate=not args.no_evaluate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
