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
(:func:`is_chief`, :func:`open_run`: the other workers write into a private scratch folder and
start from the chief's latest checkpoint). Each worker reads only its own input files
(:func:`shard_files`) or rows (:func:`split_rows`), or draws its own random stream
(:func:`worker_seed`), and builds its part of every global batch (:func:`distribute_input`).
Workers stop together on a signal (:func:`any_worker`). Keras ``fit`` needs
:mod:`exagan_tf.core.compat` under this strategy (the core models use it).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from exagan_tf.errors import UserError
from exagan_tf.runs import RunDir
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

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        # an empty CUDA_VISIBLE_DEVICES hides every GPU (the resolver would count one)
        gpus = 0 if visible is not None and not visible.strip(",") else slurm.get_num_gpus()
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


def split_rows(arrays, strategy: tf.distribute.Strategy | None = None):
    """This worker's rows of in-memory data: every ``num_workers``-th row from
    ``worker_index`` on, of one array or of each array of a tuple (all rows when alone)."""
    n, i = num_workers(strategy), worker_index(strategy)
    if isinstance(arrays, tuple):
        return tuple(a[i::n] for a in arrays)
    return arrays[i::n]


def worker_seed(seed: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """The seed of this worker's input stream, for pipelines that draw random samples from the
    whole data set (weighted sampling, random tile pairs): ``seed`` itself on the chief (and
    when alone, so a one-process run is unchanged), on worker ``i > 0`` a 32-bit seed hashed
    from ``(seed, i)`` (NumPy's ``SeedSequence``), so the workers draw independent streams from
    the same distribution, also across resumes that shift ``seed`` by the start step."""
    index = worker_index(strategy)
    if index == 0:
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence([int(seed), index]).generate_state(1)[0])


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


@dataclasses.dataclass
class WorkerRunDir(RunDir):
    """The run directory of a worker other than the chief: ``path`` is a private scratch folder
    (deleted when the process exits) that receives everything the worker writes; ``chief`` is
    the run directory itself, whose ``run.json`` it reads. ``resumed``: whether it started from
    a checkpoint of the chief's."""

    chief: Path | None = None

    def read_meta(self) -> dict:
        return RunDir(self.chief, self.resumed).read_meta()


def open_run(
    open_chief: Callable[[], RunDir],
    chief_path: str | Path,
    strategy: tf.distribute.Strategy | None = None,
) -> RunDir:
    """This worker's run directory.

    The chief (and a process training alone) opens the run with ``open_chief()`` (create, or
    resume after checking the config). Every other worker leaves the run directory
    ``chief_path`` alone and gets a :class:`WorkerRunDir`: a scratch folder in the node's
    temporary directory with ``checkpoints/``, ``models/`` and ``logs/``, the first holding a
    copy of the chief's latest checkpoint, so the worker resumes from exactly the chief's state
    and its writes (Keras' multi-worker convention: every worker saves what the chief saves,
    since saving may run collectives) go nowhere. The run directory must be on a file system
    that every worker can read (as for :class:`BackupAndRestore`).
    """
    if is_chief(strategy):
        return open_chief()
    chief_path = Path(chief_path)
    scratch = Path(tempfile.mkdtemp(prefix=f"exagan-worker{worker_index(strategy)}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    for sub in ("checkpoints", "models", "logs"):
        (scratch / sub).mkdir()
    latest = tf.train.latest_checkpoint(str(chief_path / "checkpoints"))
    if latest:
        for part in Path(latest).parent.glob(Path(latest).name + ".*"):
            shutil.copy2(part, scratch / "checkpoints" / part.name)
        name = Path(latest).name
        (scratch / "checkpoints" / "checkpoint").write_text(
            f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n'
        )
    return WorkerRunDir(scratch, bool(latest), chief_path)


_AGREE: dict = {}


def any_worker(flag: bool, strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether ``flag`` is true on any worker: a collective (every worker must call it at the
    same point of training), so that all stop at the same step; ``flag`` itself when not
    multi-worker. About 4 ms on two processes of one loaded 2-core machine."""
    strategy = strategy or tf.distribute.get_strategy()
    if _multi_worker_resolver(strategy) is None:
        return bool(flag)
    agree = _AGREE.get(id(strategy))
    if agree is None:

        @tf.function
        def agree(x):
            return strategy.reduce("SUM", strategy.run(tf.identity, args=(x,)), axis=None)

        _AGREE[id(strategy)] = agree
    return float(agree(tf.constant(1.0 if flag else 0.0))) > 0.0


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
