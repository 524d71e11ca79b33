"""Training callbacks shared by every model family.

``fit`` runs one Keras "epoch" per checkpoint period (``checkpt_batch`` steps), so at each epoch
end the callbacks here, in list order: check the losses are finite (:class:`NaNGuard`), evaluate
samples against validation data and write TensorBoard scalars and figures while keeping the best
models by each metric (:class:`SampleMonitor`), draw fixed references such as the floors beside
those scalars (:class:`ReferenceLines`), and save the latest checkpoint for resuming
(:class:`CheckpointSaver`). :class:`ProgressLog` prints losses, speed and time left every
``print_batch`` steps.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from exagan_tf.core.plots import figure_to_array
from exagan_tf.errors import UserError
from exagan_tf.fileio import save_weights_atomic, write_json_atomic


def stale_exports(paths, manager: tf.train.CheckpointManager) -> list[Path]:
    """The final exports among ``paths`` that are missing or older than the latest checkpoint.

    A run killed (or sent SIGTERM) after its last checkpoint but before its final models were
    written holds its final state in that checkpoint: its rerun, which finds nothing left to
    train, writes these from the restored state instead of reporting "nothing to do". An export
    older than the checkpoint is one of an earlier, shorter invocation of the same run."""
    latest = manager.latest_checkpoint
    newest = os.path.getmtime(latest + ".index") if latest else 0.0
    return [Path(p) for p in paths
            if not Path(p).exists() or os.path.getmtime(p) < newest]


def _step(model) -> int:
    """The run's global step: the core models' ``step``, else the optimizer's iterations."""
    step = getattr(model, "step", None)
    return int((step if step is not None else model.optimizer.iterations).numpy())


class NaNGuard(keras.callbacks.Callback):
    """Stop training when a loss becomes NaN or infinite; later callbacks then save nothing."""

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self.logger = logger
        self.bad: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if "loss" in key and not math.isfinite(float(value)):
                self.bad = f"{key} became {float(value)} at step {_step(self.model)}"
                self.model.stop_training = True
                return

    def raise_if_bad(self, run_path, manager) -> None:
        """The one-line error of a run stopped by a non-finite loss (naming the last good
        checkpoint, which is kept), or nothing when the losses stayed finite."""
        if self.bad:
            raise UserError(f"{run_path}: training stopped, {self.bad}; the last good "
                            f"checkpoint {manager.latest_checkpoint or '(none)'} is kept")


def fit_segments(start: int, steps: int, period: int) -> list[tuple[int, int, int]]:
    """``(initial_epoch, epochs, steps_per_epoch)`` for the ``fit`` calls from ``start`` to
    ``steps``, one Keras epoch per checkpoint period. A run stopped mid-period (preemption)
    first completes that period, so checkpoints and statistics stay on period boundaries."""
    segments = []
    epoch, offset = divmod(start, period)
    if offset:
        segments.append((epoch, epoch + 1, period - offset))
        epoch += 1
    if epoch * period < steps:
        segments.append((epoch, steps // period, period))
    return segments


def fit_in_periods(model: keras.Model, data, start: int, steps: int, period: int,
                   callbacks: list, guard: NaNGuard, preempt: PreemptionGuard,
                   epoch_offset: int = 0) -> bool:
    """Train ``model`` from step ``start`` to ``steps`` with one Keras epoch per checkpoint
    period (:func:`fit_segments`; ``epoch_offset`` shifts the epoch numbers, for a schedule in
    stages). Call it inside ``with preempt:``. True when training stopped early: a non-finite
    loss (``guard.bad``) or a pre-emption checkpoint (``preempt.saved_step``)."""
    for first, last, per_epoch in fit_segments(start, steps, period):
        model.fit(data, epochs=epoch_offset + last, initial_epoch=epoch_offset + first,
                  steps_per_epoch=per_epoch, callbacks=callbacks, verbose=0, shuffle=False)
        if guard.bad or preempt.saved_step is not None:
            return True
    return False


class PreemptionGuard(keras.callbacks.Callback):
    """On SIGTERM (what SLURM sends before killing a job) finish the current step, save a
    checkpoint at that step and stop training cleanly; running the same command resumes.

    The handler is installed for the duration of ``fit`` and the previous one restored after;
    a trainer that calls ``fit`` several times wraps the calls in ``with guard:`` so a signal
    between them is caught too. A signal that arrives after the last step of a ``fit`` (during
    its epoch-end callbacks) is handled when that ``fit`` ends: the checkpoint at that step is
    written unless it already exists. Under a multi-worker strategy the workers agree after
    every step, and at the end of every ``fit``, whether any of them got the signal
    (:func:`exagan_tf.distribute.any_worker`), so all save at the same step and stop together,
    also when the signal reaches them a step apart. A trainer that loops over ``fit`` calls
    stops once :attr:`saved_step` is set (not on :attr:`requested`, which a signal may set on
    one worker after the last agreement of a ``fit``: the next step then stops every worker).
    """

    def __init__(self, manager: tf.train.CheckpointManager, logger: logging.Logger,
                 signals=(signal.SIGTERM,), strategy: tf.distribute.Strategy | None = None):
        super().__init__()
        self.manager, self.logger, self.signals = manager, logger, tuple(signals)
        self.strategy = strategy
        self.requested: int | None = None
        self.saved_step: int | None = None
        self._previous: dict = {}
        self._held = False

    def _handler(self, signum, frame):
        self.requested = signum

    def _install(self):
        if not self._previous:
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)

    def _restore(self):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def __enter__(self):
        self._held = True
        self._install()
        return self

    def __exit__(self, *exc):
        self._held = False
        self._restore()

    def _agree(self):
        """Multi-worker: learn whether another worker got the signal (a collective)."""
        if self.strategy is not None:
            from exagan_tf.distribute import any_worker

            if any_worker(self.requested is not None, self.strategy) and self.requested is None:
                self.requested = int(self.signals[0])

    def _save_and_stop(self):
        step = _step(self.model)
        latest = self.manager.latest_checkpoint
        if not (latest and latest.endswith(f"-{step}")):  # the period's checkpoint may exist
            self.manager.save(checkpoint_number=step)
        self.saved_step = step
        self.logger.info(
            f"{signal.Signals(self.requested).name} received: checkpoint saved at step {step}; "
            "stopping (run the same command to resume)"
        )
        self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._install()

    def on_train_batch_end(self, batch, logs=None):
        if self.saved_step is not None:
            return
        self._agree()
        if self.requested is not None:
            self._save_and_stop()

    def on_train_end(self, logs=None):
        if self.saved_step is None:
            self._agree()
            if self.requested is not None:
                self._save_and_stop()
        if not self._held:
            self._restore()


class ProgressLog(keras.callbacks.Callback):
    """Every ``every`` steps: losses, seconds per step, images per second and time left."""

    def __init__(self, logger: logging.Logger, every: int, total_steps: int, batch_size: int):
        super().__init__()
        self.logger, self.every, self.total, self.batch_size = (
            logger,
            every,
            total_steps,
            batch_size,
        )
        self._t0 = self._s0 = None

    def on_train_begin(self, logs=None):
        self._t0, self._s0 = time.perf_counter(), _step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self._t0
        done = max(step - self._s0, 1)
        per_step = elapsed / done
        left = per_step * (self.total - step)
        losses = " ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
        self.logger.info(
            f"step {step}/{self.total} {losses} | {per_step:.3f} s/step "
            f"{self.batch_size / per_step:.1f} img/s | "
            f"left {time.strftime('%H:%M:%S', time.gmtime(left))}"
        )


class SampleMonitor(keras.callbacks.Callback):
    """Judge samples against validation data each period; log to TensorBoard; keep the best.

    Args:
        sample_fn: ``n -> samples`` in the space the statistics expect (e.g. particle counts).
        val_samples: held-out data in the same space.
        stats_fn: ``(val, gen) -> dict`` of named statistics (lower is better for the keys in
            ``best_keys``).
        figure_fns: name -> ``(val, gen) -> matplotlib Figure`` for TensorBoard images.
        writer: a ``tf.summary`` file writer.
        models_dir: where ``<prefix>best_<key>.weights.h5`` files go.
        save_models: name -> model to save when a statistic improves (e.g. {"g": generator}).
        best_after: periods to wait before keeping best models (30 in the original ExaGAN).
        best_state: name -> ``tf.Variable`` holding the best value so far (checkpointed, so a
            resumed run remembers it).
        period_steps: steps per period.
    """

    def __init__(
        self,
        sample_fn: Callable,
        val_samples: np.ndarray,
        stats_fn: Callable,
        figure_fns: dict,
        writer,
        models_dir: Path,
        save_models: dict,
        best_after: int,
        best_state: dict,
        period_steps: int,
        logger: logging.Logger,
        guard: NaNGuard | None = None,
    ):
        super().__init__()
        self.sample_fn, self.val, self.stats_fn = sample_fn, val_samples, stats_fn
        self.figure_fns, self.writer, self.models_dir = figure_fns, writer, Path(models_dir)
        self.save_models, self.best_after, self.best = save_models, best_after, best_state
        self.period_steps, self.logger, self.guard = period_steps, logger, guard
        self.last_stats: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        if (self.guard is not None and self.guard.bad) or self.model.stop_training:
            return  # a NaN or a preemption stopped the period early: nothing to judge
        step = _step(self.model)
        period = step // self.period_steps
        gen = self.sample_fn(len(self.val))
        stats = self.stats_fn(self.val, gen)
        self.last_stats = stats
        with self.writer.as_default(step=step):
            for key, value in {**(logs or {}), **stats}.items():
                tf.summary.scalar(key, float(value))
            for name, make_figure in self.figure_fns.items():
                tf.summary.image(name, figure_to_array(make_figure(self.val, gen))[None])
        self.writer.flush()
        kept = []
        for key, var in self.best.items():
            value = float(stats[key])
            if period > self.best_after and value < float(var.numpy()):
                var.assign(value)
                for prefix, model in self.save_models.items():
                    save_weights_atomic(model, self.models_dir / f"{prefix}_best_{key}.weights.h5")
                write_json_atomic(
                    self.models_dir / f"best_{key}.json",
                    {"step": step, key: value, "stats": stats},
                    overwrite=True,
                )
                kept.append(key)
        shown = " ".join(f"{k}={float(v):.4g}" for k, v in stats.items())
        self.logger.info(
            f"checkpoint {period} (step {step}): {shown}"
            + (f" | best {', '.join(kept)} kept" if kept else "")
        )


class ReferenceLines(keras.callbacks.Callback):
    """Write fixed reference values (e.g. floors: real data against the validation set) at every
    checkpoint step, one TensorBoard run per reference (``logdir/<name>/``) with the model's own
    scalar names, so each appears as a flat line on the chart of the statistic it bounds."""

    def __init__(self, logdir: Path, references: dict[str, dict[str, float]],
                 guard: NaNGuard | None = None):
        super().__init__()
        self.references, self.guard = references, guard
        self.writers = {
            name: tf.summary.create_file_writer(str(Path(logdir) / name)) for name in references
        }

    def on_epoch_end(self, epoch, logs=None):
        if (self.guard is not None and self.guard.bad) or self.model.stop_training:
            return
        step = _step(self.model)
        for name, values in self.references.items():
            with self.writers[name].as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(key, float(value))
            self.writers[name].flush()


class CheckpointSaver(keras.callbacks.Callback):
    """Save the latest training state (models, optimizers, best values) every period."""

    def __init__(self, manager: tf.train.CheckpointManager, guard: NaNGuard | None = None):
        super().__init__()
        self.manager, self.guard = manager, guard

    def on_epoch_end(self, epoch, logs=None):
        if (self.guard is not None and self.guard.bad) or self.model.stop_training:
            return  # NaN: keep the last good checkpoint; preemption: already saved
        self.manager.save(checkpoint_number=_step(self.model))


def read_best(models_dir: Path, key: str) -> dict | None:
    """The record written when the best model by ``key`` was last kept, or None."""
    path = Path(models_dir) / f"best_{key}.json"
    return json.loads(path.read_text()) if path.exists() else None
