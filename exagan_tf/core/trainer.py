"""The one training lifecycle of every system: open the run, train by checkpoint period, export.

A system's trainer reads its data, then hands its run settings (:class:`exagan_tf.config.
RunSettings`: precision, distribute, keep_checkpoints) and the way to open its run directory to
:class:`Lifecycle`, which in this order

1. sets the Keras dtype policy (before any layer is built: :mod:`exagan_tf.precision`);
2. makes the ``tf.distribute`` strategy (before any other TF op under ``multiworker``);
3. opens the run directory (create, resume with the same config, or refuse naming the first
   differing key: :mod:`exagan_tf.runs`; on a multi-worker job only the chief writes it:
   :func:`exagan_tf.distribute.open_run`) and logs to its ``train.log``;
4. records what was resolved at the start in ``run.json`` (:meth:`record`; once per run);
5. builds the checkpoint of the parts the system names and restores its latest state
   (:meth:`checkpoint`; ``keep_checkpoints`` of them are kept);
6. fits, one Keras epoch per checkpoint period (:meth:`fit_periods`) or per epoch
   (:meth:`fit_epochs`), with the NaN and SIGTERM guards, the system's monitor callbacks (which
   keep the best models by metric, :func:`best_metrics`) and a checkpoint at every period end;
   a non-finite loss is a one-line error naming the last good checkpoint, a SIGTERM a
   checkpoint at the current step and a clean stop;
7. writes the final exports atomically (:meth:`export`).

The system keeps only what is its own: which data, which models, which statistics.
"""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from exagan_tf import distribute, fileio, runs
from exagan_tf.core import callbacks as cb
from exagan_tf.precision import apply_precision


def best_metrics(keys) -> dict:
    """name -> ``tf.Variable(inf)`` holding the best value of each metric kept so far (part of
    the checkpoint, so a resumed run remembers it). Call inside ``strategy.scope()``."""
    return {k: tf.Variable(math.inf, dtype=tf.float64, trainable=False, name=f"best_{k}")
            for k in keys}


def tag_run(config, tag: str, run, expts: str | Path, command: list[str]):
    """``(open_chief, path)`` of the run ``expts/<tag>/run<run>/`` of a tag's ``config`` (the
    suite's run directory rule, :func:`exagan_tf.runs.open_run`), for :class:`Lifecycle`;
    ``command``: the words recorded in ``command.txt`` after the interpreter."""
    return (lambda: runs.open_run(tag, run, config, expts, command),
            runs.run_path(tag, run, expts))


class Lifecycle:
    """One run from its directory to its exports (see the module docstring).

    Args:
        settings: the run settings (``precision``, ``distribute``, ``keep_checkpoints``).
        open_chief: ``() -> RunDir`` creating or reopening the run directory (the chief's).
        path: the run directory (what workers other than the chief read).
        logger: name of the logger writing ``train.log``.
        strategy: a strategy made by the system (CMB's GPU selection), else from
            ``settings.distribute``.
    """

    def __init__(self, settings, open_chief: Callable[[], runs.RunDir], path: str | Path,
                 logger: str = "exagan_tf", strategy: tf.distribute.Strategy | None = None):
        self.policy = apply_precision(settings.precision)  # before any layer is built
        # multiworker: before any TF op
        self.strategy = (strategy if strategy is not None
                         else distribute.get_strategy(settings.distribute))
        self.run = distribute.open_run(open_chief, path, self.strategy)
        self.log: logging.Logger = runs.setup_logging(self.run, logger)
        self.meta = self.run.read_meta()
        self.keep_checkpoints = settings.keep_checkpoints
        self.manager: tf.train.CheckpointManager | None = None
        self.guard: cb.NaNGuard | None = None
        self.preempt: cb.PreemptionGuard | None = None

    def data_format(self, fmt: str) -> str:
        """The run's data format: the one recorded at its start, else ``fmt`` resolved."""
        return self.meta.get("data_format") or distribute.resolve_data_format(fmt)

    def record(self, meta: dict) -> None:
        """Write ``run.json`` once: the system's ``meta`` and the resolved precision, strategy
        and versions."""
        s = self.strategy
        runs.write_meta(self.run, {
            **meta, "precision": self.policy, "replicas": s.num_replicas_in_sync,
            "strategy": type(s).__name__, "workers": distribute.num_workers(s),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(), "host": platform.node(),
        })

    def checkpoint(self, parts: dict, *, exact: bool = False,
                   describe: Callable[[], str] = lambda: "") -> str | None:
        """Checkpoint ``parts`` (name -> trackable) in ``checkpoints/`` and restore the latest
        one; ``exact``: every object of the checkpoint must match. Returns its path or None."""
        ckpt = tf.train.Checkpoint(**parts)
        self.manager = tf.train.CheckpointManager(ckpt, self.run.checkpoints,
                                                  max_to_keep=self.keep_checkpoints)
        latest = self.manager.latest_checkpoint
        if latest:
            status = ckpt.restore(latest)
            status.assert_existing_objects_matched() if exact else status.expect_partial()
            self.log.info(f"resumed {self.run.path} from {Path(latest).name}{describe()}")
        self.guard = cb.NaNGuard(self.log)
        self.preempt = cb.PreemptionGuard(self.manager, self.log, strategy=self.strategy)
        return latest

    def callbacks(self, progress: keras.callbacks.Callback, monitor=None) -> list:
        """The period callbacks in their order: NaN guard, SIGTERM guard, progress log, the
        system's monitor, the checkpoint saver."""
        return [self.guard, self.preempt, progress, *([monitor] if monitor else []),
                cb.CheckpointSaver(self.manager, self.guard)]

    def fit_periods(self, model: keras.Model, data, start: int, steps: int, period: int,
                    callbacks: list, epoch_offset: int = 0) -> bool:
        """Train from step ``start`` to ``steps`` by checkpoint period
        (:func:`exagan_tf.core.callbacks.fit_in_periods`); a non-finite loss raises the one-line
        error. Call inside ``with lifecycle.preempt:``. True when a SIGTERM stopped it."""
        cb.fit_in_periods(model, data, start, steps, period, callbacks, self.guard, self.preempt,
                          epoch_offset)
        self.guard.raise_if_bad(self.run.path, self.manager)
        return self.preempt.saved_step is not None

    def fit_epochs(self, model: keras.Model, data, start: int, end: int, epoch_var: tf.Variable,
                   epoch_log: keras.callbacks.Callback, callbacks: list, **fit_kwargs) -> bool:
        """Train epochs ``start`` to ``end`` in one ``fit`` (a classifier's epoch loop with its
        validation passes). Callbacks in order: NaN guard, a checkpoint with the epoch counter
        ``epoch_var`` after every epoch, ``epoch_log``, the SIGTERM guard, then ``callbacks``
        (progress, TensorBoard). A non-finite loss raises the one-line error. True when a
        SIGTERM stopped it."""
        saver = cb.EpochCheckpoint(self.manager, epoch_var, self.guard)
        with self.preempt:
            model.fit(data, epochs=end, initial_epoch=start,
                      callbacks=[self.guard, saver, epoch_log, self.preempt, *callbacks],
                      verbose=0, shuffle=False, **fit_kwargs)
        self.guard.raise_if_bad(self.run.path, self.manager, f" (epoch {int(epoch_var.numpy())})")
        return self.preempt.saved_step is not None

    def stopped(self, total: int) -> None:
        """Log the stop after a SIGTERM."""
        self.log.info(f"stopped at step {self.preempt.saved_step} of {total}; resume with the "
                      "same command")

    def export(self, files: dict[str, keras.Model]) -> None:
        """Write each ``models/<name>`` atomically: ``.keras`` whole models (loaded with
        ``safe_mode``), ``.weights.h5`` weights."""
        for name, model in files.items():
            if name.endswith(".keras"):
                fileio.save_model_atomic(model, self.run.models / name)
            else:
                fileio.save_weights_atomic(model, self.run.models / name)
