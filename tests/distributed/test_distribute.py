"""The pieces of :mod:`exagan_tf.distribute` that need no cluster: the cluster from TF_CONFIG or
SLURM, input splitting, per-worker seeds, and a non-chief worker's run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from exagan_tf import distribute
from exagan_tf.errors import UserError
from exagan_tf.runs import RunDir


@pytest.fixture
def no_cluster(monkeypatch):
    for key in ("TF_CONFIG", "SLURM_JOB_ID", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "text, needle",
    [
        ("{not json", "not JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster' mapping"),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "job 'ps'"),
        ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task="),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
         "task.index=2: expected an integer in [0, 2)"),
    ],
)
def test_bad_tf_config_is_one_line(no_cluster, text, needle):
    no_cluster.setenv("TF_CONFIG", text)
    with pytest.raises(UserError) as err:
        distribute.cluster_resolver()
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_no_cluster_says_how_to_launch(no_cluster):
    with pytest.raises(UserError, match="TF_CONFIG is not set and this is not a SLURM task"):
        distribute.get_strategy("multiworker")


def test_cluster_from_tf_config(no_cluster):
    cfg = {"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker", "index": 1}}
    no_cluster.setenv("TF_CONFIG", json.dumps(cfg))
    resolver = distribute.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["h1:2222", "h2:2222"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)


def test_cluster_from_slurm_step(no_cluster):
    """What `srun` sets on the second of three CPU nodes: one worker per task, ports from
    EXAGAN_PORT_BASE."""
    env = {"SLURM_JOB_ID": "42", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "3",
           "SLURM_STEP_NODELIST": "node[07-08],node10", "SLURM_STEP_TASKS_PER_NODE": "1(x3)",
           "EXAGAN_PORT_BASE": "9100", "CUDA_VISIBLE_DEVICES": ""}
    for key, value in env.items():
        no_cluster.setenv(key, value)
    resolver = distribute.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {
        "worker": ["node07:9100", "node08:9100", "node10:9100"]
    }
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    no_cluster.setenv("EXAGAN_PORT_BASE", "http")
    with pytest.raises(UserError, match="EXAGAN_PORT_BASE='http'"):
        distribute.cluster_resolver()


def as_worker(monkeypatch, index: int, workers: int):
    monkeypatch.setattr(distribute, "worker_index", lambda strategy=None: index)
    monkeypatch.setattr(distribute, "num_workers", lambda strategy=None: workers)


def test_files_rows_and_seeds_per_worker(monkeypatch):
    files = [f"f{i}.h5" for i in range(7)]
    assert distribute.shard_files(files) == files  # alone: everything
    assert distribute.worker_seed(5) == 5
    rows = np.arange(10)
    assert distribute.split_rows(rows).tolist() == rows.tolist()
    as_worker(monkeypatch, 1, 3)
    assert distribute.shard_files(files) == ["f1.h5", "f4.h5"]
    x, y = distribute.split_rows((rows, -rows))
    assert x.tolist() == [1, 4, 7] and y.tolist() == [-1, -4, -7]
    mine = distribute.worker_seed(5)
    assert mine == distribute.worker_seed(5) != 5 and 0 <= mine < 2**32
    assert mine not in {distribute.worker_seed(6), 5 + 1, 5 + 7919}
    as_worker(monkeypatch, 2, 3)
    assert distribute.worker_seed(5) != mine
    as_worker(monkeypatch, 1, 3)
    with pytest.raises(UserError, match="2 input files for 3 workers"):
        distribute.shard_files(files[:2])


def test_other_worker_resumes_from_chief_checkpoint_and_writes_elsewhere(
    monkeypatch, tmp_path
):
    """A worker other than the chief opens no run: it gets a scratch folder holding a copy of
    the chief's latest checkpoint (restorable there) and reads the chief's run.json."""
    chief = tmp_path / "expts" / "tag" / "run0"
    (chief / "checkpoints").mkdir(parents=True)
    (chief / "run.json").write_text('{"data_format": "channels_last"}')
    v = tf.Variable(0.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), chief / "checkpoints", 3)
    for step, value in ((4, 1.0), (8, 2.0)):
        v.assign(value)
        manager.save(checkpoint_number=step)
    before = sorted(p.relative_to(chief) for p in chief.rglob("*"))
    monkeypatch.setattr(distribute.tempfile, "tempdir", str(tmp_path / "node_tmp"))
    (tmp_path / "node_tmp").mkdir()
    as_worker(monkeypatch, 1, 2)
    monkeypatch.setattr(distribute, "is_chief", lambda strategy=None: False)

    run = distribute.open_run(lambda: pytest.fail("a worker opened the run"), chief)
    assert isinstance(run, RunDir) and run.resumed
    assert run.path.parent == tmp_path / "node_tmp" and run.path.name.startswith("exagan-worker1-")
    assert run.read_meta() == {"data_format": "channels_last"}
    w = tf.Variable(0.0)
    latest = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=w), run.checkpoints, 1
    ).latest_checkpoint
    tf.train.Checkpoint(v=w).restore(latest).assert_consumed()
    assert latest.endswith("ckpt-8") and float(w.numpy()) == 2.0
    assert sorted(p.relative_to(chief) for p in chief.rglob("*")) == before
