"""Distribution strategy and data format from the config and the machine.

``distribute: auto`` gives MirroredStrategy when more than one GPU is present and the default
(single-device) strategy otherwise; ``mirrored`` asks for MirroredStrategy over every GPU, or over
every logical CPU device when there is no GPU (``EXAGAN_CPU_DEVICES=N`` splits the CPU into N
logical devices, which is how the Mirrored path is tested without GPUs); ``none`` forces one
device.

``multiworker`` trains synchronously over several processes (one per node, or per GPU) with
``tf.distribute.MultiWorkerMirroredStrategy``. The cluster comes from ``TF_CONFIG`` (JSON:
``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``) or,
when ``TF_CONFIG`` is unset and the process was started by ``srun``, from the SLURM variables
(``SlurmClusterResolver``: one worker per task, ports from ``EXAGAN_PORT_BASE``, default 8888).
Every worker runs the same command; worker 0 is the chief, which alone writes the run's outputs
(:func:`is_chief`, :func:`output_dir`). Each worker reads only its own input files
(:func:`shard_files`) and builds its part of every global batch (:func:`distribute_input`).
Keras ``fit`` needs :mod:`exagan_tf.core.compat` under this strategy (the core models use it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from exagan_tf.errors import UserError
from exagan_tf.runtime import split_cpu

MODES = ("auto", "none", "mirrored", "multiworker")
TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
)


def configure_devices() -> None:
    """Apply ``EXAGAN_CPU_DEVICES`` (logical CPU split) before TensorFlow touches the devices."""
    n = os.environ.get("EXAGAN_CPU_DEVICES")
    if not n:
        return
    if not n.isdigit() or int(n) < 1:
        raise UserError(f"EXAGAN_CPU_DEVICES={n!r}: expected a positive integer")
    try:
        split_cpu(int(n))
    except RuntimeError:
        pass  # devices already initialised in this process: keep what is there


def get_strategy(mode: str = "auto") -> tf.distribute.Strategy:
    """The strategy for ``mode`` in auto | none | mirrored | multiworker (module docstring).

    ``multiworker`` must be requested at the start of the program, before TensorFlow runs any
    operation (a TensorFlow requirement of ``MultiWorkerMirroredStrategy``).
    """
    if mode == "multiworker":
        return multiworker_strategy()
    configure_devices()
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "none" or (mode == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    if mode in ("auto", "mirrored"):
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    raise UserError(f"distribute={mode!r}: expected one of {', '.join(MODES)}")


def _check_tf_config(text: str) -> dict:
    """The parsed ``TF_CONFIG``, or UserError naming what is wrong."""
    want = f"expected JSON like {TF_CONFIG_EXAMPLE}"
    try:
        cfg = json.loads(text)
    except ValueError:
        raise UserError(f"TF_CONFIG={text!r}: not JSON; {want}") from None
    cluster = cfg.get("cluster") if isinstance(cfg, dict) else None
    task = cfg.get("task") if isinstance(cfg, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise UserError(f"TF_CONFIG: no 'cluster' mapping of job names to host:port lists; {want}")
    for job, hosts in cluster.items():
        if job not in ("chief", "worker"):
            raise UserError(f"TF_CONFIG: cluster job {job!r}: expected 'chief' or 'worker'")
        if (
            not isinstance(hosts, list)
            or not hosts
            or not all(isinstance(h, str) and h.rpartition(":")[2].isdigit() for h in hosts)
        ):
            raise UserError(f"TF_CONFIG: cluster.{job}={hosts!r}: expected a list of 'host:port'")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise UserError(
            f"TF_CONFIG: task={task!r}: expected {{'type': one of {sorted(cluster)}, 'index': i}}"
        )
    index, n = task.get("index"), len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise UserError(
            f"TF_CONFIG: task.index={index!r}: expected an integer in [0, {n}) for the "
            f"{n} {task['type']} address(es)"
        )
    return cfg


def _slurm_gpus_per_node(tasks_per_node: int) -> tuple[int, int, bool]:
    """``(gpus_per_node, gpus_per_task, auto_set_gpu)`` for ``SlurmClusterResolver``; on CPU
    nodes one placeholder per task, since the resolver cannot lay out zero GPUs."""
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

    try:
        gpus = slurm.get_num_gpus()
    except (RuntimeError, OSError):
        gpus = 0
    if gpus == 0:
        return tasks_per_node, 1, False
    return gpus, max(gpus // tasks_per_node, 1), True


def cluster_resolver() -> tf.distribute.cluster_resolver.ClusterResolver:
    """The cluster of a multi-worker run: from ``TF_CONFIG``, else from SLURM (``srun``)."""
    text = os.environ.get("TF_CONFIG")
    if text is not None:
        _check_tf_config(text)
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if "SLURM_JOB_ID" in os.environ and "SLURM_PROCID" in os.environ:
        from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

        port = os.environ.get("EXAGAN_PORT_BASE", "8888")
        if not port.isdigit():
            raise UserError(f"EXAGAN_PORT_BASE={port!r}: expected a port number")
        try:
            per_node = max(
                slurm.expand_tasks_per_node(os.environ.get("SLURM_STEP_TASKS_PER_NODE", "1"))
            )
            gpus, per_task, auto_gpu = _slurm_gpus_per_node(per_node)
            return tf.distribute.cluster_resolver.SlurmClusterResolver(
                port_base=int(port),
                gpus_per_node=gpus,
                gpus_per_task=per_task,
                auto_set_gpu=auto_gpu,
            )
        except (RuntimeError, ValueError) as e:
            raise UserError(
                f"SLURM job {os.environ['SLURM_JOB_ID']}: cannot resolve the cluster from the "
                f"SLURM_STEP_* variables ({str(e).splitlines()[0]}); launch with srun"
            ) from None
    raise UserError(
        f"distribute=multiworker: TF_CONFIG is not set and this is not a SLURM task; set "
        f"TF_CONFIG to JSON like {TF_CONFIG_EXAMPLE} on every worker, or launch with srun"
    )


def multiworker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """``MultiWorkerMirroredStrategy`` over the cluster of :func:`cluster_resolver`.

    Collectives use the ring implementation (gRPC; works on CPUs) unless GPUs are present,
    where NCCL is chosen.
    """
    resolver = cluster_resolver()
    impl = tf.distribute.experimental.CommunicationImplementation
    gpus = tf.config.list_physical_devices("GPU")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.NCCL if gpus else impl.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=resolver, communication_options=options
    )


def _multi_worker_resolver(strategy):
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        if strategy.extended._in_multi_worker_mode():
            return strategy.cluster_resolver
    return None


def num_workers(strategy: tf.distribute.Strategy | None = None) -> int:
    """Worker processes in the strategy's cluster (chief included); 1 when not multi-worker."""
    resolver = _multi_worker_resolver(strategy or tf.distribute.get_strategy())
    if resolver is None:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(job, [])) for job in ("chief", "worker"))


def worker_index(strategy: tf.distribute.Strategy | None = None) -> int:
    """This process's rank among the workers, 0 for the chief (and when not multi-worker)."""
    resolver = _multi_worker_resolver(strategy or tf.distribute.get_strategy())
    if resolver is None or resolver.task_type == "chief":
        return 0
    has_chief = bool(resolver.cluster_spec().as_dict().get("chief"))
    return int(resolver.task_id) + int(has_chief)


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's outputs (worker 0; always true when alone)."""
    return worker_index(strategy) == 0


def output_dir(path: str | Path, strategy: tf.distribute.Strategy | None = None) -> Path:
    """``path`` on the chief; on other workers a scratch folder ``path/.workers/worker<i>``
    (Keras' multi-worker convention: every worker writes what the chief writes, since saving
    may run collectives, but only the chief's copy is kept)."""
    path = Path(path)
    if is_chief(strategy):
        return path
    return path / ".workers" / f"worker{worker_index(strategy)}"


def shard_files(
    files: Sequence, strategy: tf.distribute.Strategy | None = None, what: str = "input files"
) -> list:
    """This worker's files: every ``num_workers``-th file from ``worker_index`` on, so each
    file is read by exactly one worker. Refuses when there are fewer files than workers."""
    n, i = num_workers(strategy), worker_index(strategy)
    files = list(files)
    if len(files) < n:
        raise UserError(
            f"{len(files)} {what} for {n} workers: each worker reads whole files, so give at "
            f"least one file per worker (split the data into more files, or use fewer workers)"
        )
    return files[i::n]


def distribute_input(
    strategy: tf.distribute.Strategy,
    make_dataset: Callable[[int], tf.data.Dataset],
    global_batch: int,
):
    """The training input for ``fit``: ``make_dataset(batch)`` must build batches of ``batch``
    from this worker's files (:func:`shard_files`).

    Not multi-worker: ``make_dataset(global_batch)``, which Keras splits over local replicas.
    Multi-worker: each worker's pipeline makes per-replica batches of
    ``global_batch / replicas`` from its own files (no auto-sharding on top), so one global
    batch holds ``global_batch`` images, each read by one worker only.
    """
    if _multi_worker_resolver(strategy) is None:
        return make_dataset(global_batch)
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise UserError(
            f"batch size {global_batch} cannot be split evenly over {replicas} replicas; "
            f"use a multiple of {replicas}"
        )

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        ds = make_dataset(context.get_per_replica_batch_size(global_batch))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    return strategy.distribute_datasets_from_function(per_worker)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` for runs trained as one Keras epoch per backup period,
    safe with several workers.

    Every ``steps_per_epoch`` steps (at each epoch end) the chief writes the model's weights
    and optimizer state to ``backup_dir/latest.weights.h5`` (atomically: a killed writer leaves
    the previous backup) and ``training_metadata.json``; other workers write nothing (a
    mirrored model's state is identical on all of them). When ``fit`` starts, every worker
    restores the backup if there is one (``backup_dir`` must be on a file system all workers
    share, like the run directory) and ``fit`` continues from the epoch after it. With ``step``
    (a callable returning the run's global step) that epoch is ``step // steps_per_epoch``,
    read from the restored optimizer, so steps are neither lost nor repeated beyond the steps
    since the last backup. The backup is kept when training ends (a finished run restarted
    does nothing).
    """

    def __init__(
        self,
        backup_dir: str | Path,
        steps_per_epoch: int,
        step: Callable[[], int] | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.steps_per_epoch = int(steps_per_epoch)
        self.step = step
        self.chief = is_chief(strategy)

    def _load_model(self):
        super()._load_model()
        if self.step is not None and os.path.exists(self._weights_path):
            self.model._initial_epoch = int(self.step()) // self.steps_per_epoch

    def _save_model(self):
        if not self.chief:
            return
        from exagan_tf.fileio import write_json_atomic

        os.makedirs(self.backup_dir, exist_ok=True)
        tmp = f"{self._weights_path[: -len('.weights.h5')]}.partial.weights.h5"
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self._weights_path)
        meta = {"epoch": self._current_epoch, "batch": 0}
        if self.step is not None:
            meta["step"] = int(self.step())
        write_json_atomic(self._training_metadata_path, meta, overwrite=True)


def resolve_data_format(fmt: str) -> str:
    """``auto`` -> channels_first on a GPU (cuDNN's fast layout), channels_last on a CPU."""
    if fmt != "auto":
        return fmt
    return "channels_first" if tf.config.list_physical_devices("GPU") else "channels_last"
