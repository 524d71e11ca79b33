"""Workarounds that make Keras 3.15 ``model.fit`` work under ``MultiWorkerMirroredStrategy``.

Two upstream defects stop ``fit`` (and ``evaluate``) as soon as a strategy spans several worker
processes (``tf.distribute.MultiWorkerMirroredStrategy`` with a multi-worker ``TF_CONFIG``);
single-process strategies are not affected:

1. **Scalar logs.** ``keras/src/backend/tensorflow/trainer.py::reduce_per_replica`` reduces
   every value a ``train_step``/``test_step`` returns with ``strategy.reduce("MEAN", v, axis=0)``
   when the strategy is multi-worker. Metric results are scalars, so the trace fails with
   ``Invalid reduction dimension 0 for input with 0 dimensions`` (keras-team/keras issue
   "MultiWorkerMirroredStrategy: Invalid reduction dimension 0", open in Keras 3.15).
   Fix: :func:`step_logs` returns each scalar as a shape-[1] tensor; the cross-worker
   ``MEAN`` over axis 0 then yields the scalar mean over replicas, which is what a single-worker
   strategy logs (the mean of the replicas' local results).
2. **Nested input batches.** ``Trainer._maybe_symbolic_build`` (called at the start of ``fit``
   and ``evaluate`` for models created inside a strategy scope) passes the whole first batch,
   e.g. an ``(x, y)`` tuple of ``PerReplica`` values, to one ``strategy.reduce`` call; the
   collective implementation accepts only a single value and raises ``Attempt to convert a value
   (PerReplica:{...}) with an unsupported type``. A batch that is one tensor passes.
   Fix: :class:`MultiWorkerFit` builds from this worker's local values instead (the symbolic
   build needs shapes and dtypes only, and needs no collective at all).

Both fixes act only in multi-worker mode, so single-process runs (default, ``OneDevice`` and
``Mirrored`` strategies) execute exactly the upstream code. ``tests/distributed`` runs the
unpatched path in a two-worker cluster and fails with "remove the workaround" once upstream
handles it.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def is_multi_worker(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether ``strategy`` (default: the current one) spans more than one worker process."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return bool(strategy.extended._in_multi_worker_mode())


def step_logs(logs: dict, strategy: tf.distribute.Strategy | None = None) -> dict:
    """The logs of a ``train_step``/``test_step``, reducible by Keras under multi-worker
    strategies: scalars become shape-[1] tensors there (defect 1 of the module docstring);
    unchanged otherwise."""
    if not is_multi_worker(strategy):
        return logs
    return {
        k: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v
        for k, v in logs.items()
    }


def _local_value(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


class MultiWorkerFit:
    """Mixin (before ``keras.Model`` in the bases) that lets ``fit``/``evaluate`` run under a
    multi-worker strategy: the log fix (:func:`step_logs`) for every compiled step function,
    and a symbolic build from local values (defect 2 of the module docstring).

    Both overrides hook private methods of Keras' TensorFlow trainer (``_make_function``,
    ``_maybe_symbolic_build``); the two-worker test notices when upstream changes them.
    """

    def _make_function(self, step_function):
        strategy = self.distribute_strategy
        if not is_multi_worker(strategy):
            return super()._make_function(step_function)

        def step(data):
            return step_logs(step_function(data), strategy)

        return super()._make_function(step)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if (
            iterator is None
            or data_batch is not None
            or not is_multi_worker(self.distribute_strategy)
        ):
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            data_batch = tf.nest.map_structure(_local_value, next(it))
            break
        return super()._maybe_symbolic_build(data_batch=data_batch)


@keras.saving.register_keras_serializable(package="exagan_tf")
class Model(MultiWorkerFit, keras.Model):
    """``keras.Model`` (functional or subclassed) whose ``fit`` also runs multi-worker: use it
    for plain compiled models, e.g. ``compat.Model(inputs, outputs, name=...)``."""
