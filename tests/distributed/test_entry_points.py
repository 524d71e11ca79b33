"""The training commands themselves on two worker processes (``distribute: multiworker``)."""

from __future__ import annotations

import json
import signal
import time

import pytest
import yaml

TIMEOUT = 180  # seconds per launch of two workers (2 loaded cores)


def multiworker_config(cfg_file) -> None:
    doc = yaml.safe_load(cfg_file.read_text())
    doc["test"]["distribute"] = "multiworker"
    doc["test"]["n_eval"] = 8  # a cheaper sample monitor
    cfg_file.write_text(yaml.safe_dump(doc))


def test_exagan_two_workers_sigterm_to_one_then_resume(cluster, tiny_experiment, tmp_path):
    """``python -m exagan_tf.train test 0`` on two workers, each reading one of the two shard
    files: SIGTERM to worker 1 alone stops both at the same step with a checkpoint in the run
    directory; the same command resumes both from it and finishes. Only the chief writes the
    run directory."""
    cfg, expts = tiny_experiment
    multiworker_config(cfg)
    run = expts / "test" / "run0"
    command = ["-m", "exagan_tf.train", "test", "0", "--config-file", str(cfg)]
    command += ["--expts", str(expts)]
    scratch = tmp_path / "node_tmp"  # the workers' temporary directory
    scratch.mkdir()
    env = {"PYTHONUNBUFFERED": "1", "TMPDIR": str(scratch)}
    workers = cluster.start([*command, "--max-steps", "4000"], env=env)
    deadline = time.monotonic() + TIMEOUT
    while not list((run / "checkpoints").glob("ckpt-*.index")):
        if time.monotonic() > deadline or any(p.poll() is not None for p in workers):
            pytest.fail(f"no checkpoint from the cluster\n{cluster.tail()}")
        time.sleep(0.1)
    workers[1].send_signal(signal.SIGTERM)
    assert cluster.wait(workers, TIMEOUT) == [0, 0], cluster.tail()

    meta = json.loads((run / "run.json").read_text())
    assert meta["workers"] == 2 and meta["replicas"] == 2, meta
    assert meta["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirroredStrategy
    stopped = [ln for ln in (run / "train.log").read_text().splitlines() if "received" in ln]
    assert len(stopped) == 1 and "SIGTERM received" in stopped[0], cluster.tail()
    step = int(stopped[0].split("checkpoint saved at step ")[1].split(";")[0])
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()
    # worker 1 stopped at the same step (its log goes to its stdout only)
    w1 = (cluster.logs / "launch1_w1.log").read_text()
    assert f"checkpoint saved at step {step};" in w1, cluster.tail()

    target = step + 1
    assert not list(scratch.iterdir()), "worker 1 left its scratch folder"
    cluster.run([*command, "--max-steps", str(target)], TIMEOUT, env=env)
    period = 4  # checkpt_batch of the test tag: the run ends on a period boundary
    end = -(-target // period) * period
    log = (run / "train.log").read_text()
    assert f"(step {step})" in log and f"done: step {end}," in log, log[-1500:]
    w1 = (cluster.logs / "launch2_w1.log").read_text()
    assert f"(step {step})" in w1 and f"done: step {end}," in w1, cluster.tail()
    assert (run / "checkpoints" / f"ckpt-{end}.index").exists()
    assert (run / "models" / "generator_final.keras").is_file()
    # one start and one resume line: worker 1 never opened the run directory
    lines = (run / "command.txt").read_text().splitlines()
    assert [ln.split()[1] for ln in lines] == ["start:", "resume:"], lines
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["checkpoints", "command.txt", "config.yaml", "logs", "metrics.jsonl", "models", "run.json", "run.lock",
         "train.log"]
    )
    assert not list(scratch.iterdir()), "worker 1 left its scratch folder"
