"""The training clock of ExaGAN runs: seconds spent training, and a record of every checkpoint's
statistics against them (``metrics.jsonl`` and TensorBoard), read by
:mod:`exagan_tf.cosmo.curves`.

:class:`TrainClock` adds up the wall-clock of the training steps, from each step's
``on_train_batch_begin`` to its ``on_train_batch_end`` (the step and its input pipeline; the
monitor, figures, checkpoint writing and everything else between steps are left out), into a
float64 variable that is part of the training checkpoint, so a resumed run goes on from the
seconds of the checkpoint it resumed from. :class:`MetricsRecord`, after the monitor in the
callback list, writes at each checkpoint ``{"kind": "checkpoint", "step", "train_seconds",
"time", "stats"}`` to the run's ``metrics.jsonl`` (atomic rewrite, replayed steps dropped:
:func:`exagan_tf.cosmo.curves.write_record`) and to TensorBoard the scalar ``train_seconds`` and
each statistic under ``vs_train_seconds/<name>`` at step = whole training seconds, so the
curves against time are also TensorBoard charts.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import tensorflow as tf

from exagan_tf.cosmo.curves import METRICS_FILE, write_record


def _step(model) -> int:
    step = getattr(model, "step", None)
    return int((step if step is not None else model.optimizer.iterations).numpy())


def clock_variable() -> tf.Variable:
    """The checkpointed training seconds (create inside the strategy's scope)."""
    return tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")


class TrainClock(keras.callbacks.Callback):
    """Add each training step's wall-clock to ``seconds`` (a :func:`clock_variable`)."""

    def __init__(self, seconds: tf.Variable):
        super().__init__()
        self.seconds = seconds
        self._begin: float | None = None

    def on_train_batch_begin(self, batch, logs=None):
        self._begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._begin is not None:
            self.seconds.assign_add(time.perf_counter() - self._begin)
            self._begin = None

    @property
    def total(self) -> float:
        """Training seconds so far."""
        return float(self.seconds.numpy())


class MetricsRecord(keras.callbacks.Callback):
    """After ``monitor`` (a :class:`exagan_tf.core.callbacks.SampleMonitor`): record its
    statistics with the training seconds of ``clock`` in ``run_dir/metrics.jsonl`` and
    TensorBoard (``writer``); nothing when the period stopped early (NaN, SIGTERM)."""

    def __init__(self, clock: TrainClock, monitor, run_dir: str | Path, writer, guard=None):
        super().__init__()
        self.clock, self.monitor, self.path = clock, monitor, Path(run_dir) / METRICS_FILE
        self.writer, self.guard = writer, guard

    def on_epoch_end(self, epoch, logs=None):
        if (self.guard is not None and self.guard.bad) or self.model.stop_training:
            return
        step, seconds = _step(self.model), self.clock.total
        stats = {k: float(v) for k, v in self.monitor.last_stats.items()}
        write_record(self.path, {"kind": "checkpoint", "step": step, "train_seconds": seconds,
                                 "time": time.time(), "stats": stats})
        with self.writer.as_default():
            tf.summary.scalar("train_seconds", seconds, step=step)
            for key, value in stats.items():
                tf.summary.scalar(f"vs_train_seconds/{key}", value, step=int(seconds))
        self.writer.flush()
