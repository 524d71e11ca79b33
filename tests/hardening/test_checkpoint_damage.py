"""A damaged checkpoint and a kill before the final export (issue 19, findings 2 and 3).

* Resume verifies the checkpoint it restores: a truncated or zeroed ``.data``/``.index`` or a
  deleted ``.data`` of the newest checkpoint makes the run resume from the newest intact one,
  with one warning naming what was skipped; the damaged files are moved to
  ``checkpoints/unreadable/``, never deleted, and the rotation keeps the intact checkpoint until
  newer ones exist. An empty or NUL ``checkpoint`` state file resumes from the newest
  checkpoint, not from step 0. When none reads, the run is refused and nothing is moved.
* A run killed after its last checkpoint but before its final exports writes them on rerun.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from exagan_tf import runlock, runs
from exagan_tf.errors import UserError
from tests.hardening import malformed as M

DATA = ".data-00000-of-00001"


def _open(run: Path) -> runs.RunDir:
    return runs.open_run_dir(run, {"a": 1}, "cmd", mismatch="{path}: {diff}")


def _state(value: float = 0.0):
    var = tf.Variable(np.full(256, value, np.float32))
    step = tf.Variable(0, dtype=tf.int64)
    return var, step, tf.train.Checkpoint(v=var, step=step)


def _two_checkpoints(run: Path) -> None:
    _open(run)
    var, step, ckpt = _state()
    manager = tf.train.CheckpointManager(ckpt, run / "checkpoints", max_to_keep=2)
    for n in (4, 8):
        var.assign(np.full(256, n, np.float32))
        step.assign(n)
        manager.save(checkpoint_number=n)
    runlock.release(run)


def _damage(folder: Path, how: str) -> None:
    data, index, state = folder / f"ckpt-8{DATA}", folder / "ckpt-8.index", folder / "checkpoint"
    if how == "truncated .data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "zeroed .data":
        data.write_bytes(b"\0" * data.stat().st_size)
    elif how == "truncated .index":
        index.write_bytes(index.read_bytes()[:20])
    elif how == "zeroed .index":
        index.write_bytes(b"\0" * index.stat().st_size)
    elif how == "deleted .data":
        data.unlink()
    elif how == "empty state file":
        state.write_bytes(b"")
    elif how == "NUL state file":
        state.write_bytes(b"\0" * 200)


@pytest.mark.parametrize("how", ["truncated .data", "zeroed .data", "truncated .index",
                                 "zeroed .index", "deleted .data"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_intact_one(tmp_path, how):
    run = tmp_path / "run0"
    _two_checkpoints(run)
    folder = run / "checkpoints"
    _damage(folder, how)
    damaged = {k: v for k, v in M.digest(folder).items() if k.startswith("ckpt-8")}
    opened = _open(run)
    try:
        note = [n for n in opened.notes if "resuming from" in n]
        assert len(note) == 1 and "\n" not in note[0]
        assert "resuming from ckpt-4" in note[0] and "skipped the unreadable ckpt-8" in note[0]
        # never deleted: moved aside, byte for byte
        assert {k: v for k, v in M.digest(folder / "unreadable").items()} == damaged
        var, step, ckpt = _state()
        manager = tf.train.CheckpointManager(ckpt, folder, max_to_keep=2)
        assert manager.latest_checkpoint.endswith("ckpt-4")
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        assert int(step.numpy()) == 4 and np.all(var.numpy() == 4.0)
        # the rotation counts real checkpoints only: ckpt-4 stays until two newer ones exist
        step.assign(8)
        manager.save(checkpoint_number=8)
        assert (folder / "ckpt-4.index").exists() and (folder / f"ckpt-8{DATA}").exists()
        manager.save(checkpoint_number=12)
        assert not (folder / "ckpt-4.index").exists()
        assert M.digest(folder / "unreadable") == damaged
    finally:
        runlock.release(run)


@pytest.mark.parametrize("how", ["empty state file", "NUL state file"])
def test_a_damaged_state_file_resumes_from_the_newest_not_from_zero(tmp_path, how):
    run = tmp_path / "run0"
    _two_checkpoints(run)
    _damage(run / "checkpoints", how)
    opened = _open(run)
    try:
        assert any("rewritten to list ckpt-4, ckpt-8" in n for n in opened.notes), opened.notes
        var, step, ckpt = _state()
        manager = tf.train.CheckpointManager(ckpt, run / "checkpoints", max_to_keep=2)
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        assert int(step.numpy()) == 8 and np.all(var.numpy() == 8.0)
        assert manager.checkpoints == [str(run / "checkpoints" / f"ckpt-{n}") for n in (4, 8)]
    finally:
        runlock.release(run)


def test_no_readable_checkpoint_refuses_and_moves_nothing(tmp_path):
    run = tmp_path / "run0"
    _two_checkpoints(run)
    folder = run / "checkpoints"
    for n in (4, 8):
        data = folder / f"ckpt-{n}{DATA}"
        data.write_bytes(b"\0" * data.stat().st_size)
    before = M.digest(run)
    with pytest.raises(UserError) as err:
        _open(run)
    M.one_line(err.value, "no checkpoint reads (ckpt-8, ckpt-4", "nothing moved")
    after = M.digest(run)
    assert {k: v for k, v in after.items() if k != "run.lock"} == {
        k: v for k, v in before.items() if k != "run.lock"}
    assert str(run.resolve()) not in runlock._HELD  # the refused open released its lock


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even ``except Exception``)."""


def test_a_run_killed_before_its_exports_writes_them_then_survives_a_damaged_checkpoint(
        tiny_experiment, capsys, monkeypatch):
    from exagan_tf import fileio, train

    cfg, expts = tiny_experiment
    argv = ["test", "0", "--config-file", str(cfg), "--expts", str(expts), "--max-steps"]
    run = expts / "test" / "run0"

    def killed(*args):
        raise Killed

    monkeypatch.setattr(fileio, "save_model_atomic", killed)
    with pytest.raises(Killed):
        train.main([*argv, "8"])
    monkeypatch.undo()
    assert (run / "checkpoints" / "ckpt-8.index").exists()
    assert not (run / "models" / "generator_final.keras").exists()
    capsys.readouterr()
    assert train.main([*argv, "8"]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" not in out and "wrote the final exports it lacked" in out, out
    assert fileio.load_model_safe(run / "models" / "generator_final.keras").count_params() > 0
    assert train.main([*argv, "8"]) == 0  # complete now
    assert "nothing to do" in capsys.readouterr().out

    # the newest checkpoint damaged: resumes from ckpt-4, trains on to step 12
    data = run / "checkpoints" / f"ckpt-8{DATA}"
    data.write_bytes(b"\0" * data.stat().st_size)
    assert train.main([*argv, "12"]) == 0
    out = capsys.readouterr().out
    assert "resuming from ckpt-4, the newest readable checkpoint; skipped the unreadable " \
           "ckpt-8" in out, out
    assert "(step 4)" in out and "step 12/12" in out
    assert sorted(p.name for p in (run / "checkpoints").glob("*.index")) == [
        "ckpt-12.index", "ckpt-8.index"]
    assert (run / "checkpoints" / "unreadable" / f"ckpt-8{DATA}").read_bytes().count(0) == \
        os.path.getsize(run / "checkpoints" / "unreadable" / f"ckpt-8{DATA}")


def test_gr_killed_before_its_model_export_writes_it_instead_of_training_more(
        tmp_path, monkeypatch, capsys):
    """RACOON/PENGUIN reruns add ``epochs`` more epochs; one whose last invocation stopped
    between its last checkpoint and ``model_epoch<E>.keras`` first finishes that invocation."""
    import yaml

    from exagan_tf import fileio
    from exagan_tf.gr import run_controller

    data = M.make_gr_file(tmp_path / "gr.h5", seeds=range(6), n=16)
    cfg = yaml.safe_load((Path(__file__).parents[2] / "experiments/gr/test.yaml").read_text())
    cfg["data_params"]["datafile"] = str(data)
    cfg["train_params"].update(log_dir=str(tmp_path / "runs"), epochs=1, steps_per_epoch=2)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def killed(*args):
        raise Killed

    monkeypatch.setattr(fileio, "save_model_atomic", killed)
    with pytest.raises(Killed):
        run_controller.main([str(path), "--no-evaluate"])
    monkeypatch.undo()
    run = tmp_path / "runs" / "tiny"
    assert not list(run.rglob("*.keras"))
    capsys.readouterr()
    assert run_controller.main([str(path), "--no-evaluate"]) == 0
    out = capsys.readouterr().out
    assert "epochs 1->1" in out and (run / "models" / "model_epoch1.keras").exists(), out
    assert sorted(p.name for p in (run / "checkpoints").glob("*.index")) == ["ckpt-1.index"]
    assert run_controller.main([str(path), "--no-evaluate"]) == 0  # complete: one more epoch
    assert "epochs 1->2" in capsys.readouterr().out


def test_muon_gan_killed_before_its_exports_writes_them_with_the_final_fom(
        tmp_path, monkeypatch, capsys):
    import json

    from exagan_tf import fileio
    from exagan_tf.muons import preprocess, simulate, train

    simulate.write_production(tmp_path / "prod", 1, 1500, seed=7, progress=False)
    preprocess.preprocess([tmp_path / "prod"], tmp_path / "mu", progress=False)
    argv = ["gan", "gan_test", "0", "--category", "1", "--datadir", str(tmp_path / "mu"),
            "--expts", str(tmp_path / "expts")]

    def killed(*args):
        raise Killed

    monkeypatch.setattr(fileio, "save_model_atomic", killed)
    with pytest.raises(Killed):
        train.main(argv)
    monkeypatch.undo()
    run = next((tmp_path / "expts").glob("muon_gan_test/run0_*"))
    assert (run / "checkpoints" / "ckpt-4.index").exists()
    assert not (run / "models" / "final.json").exists()
    capsys.readouterr()
    assert train.main(argv) == 0
    assert "writing the final exports it lacked" in capsys.readouterr().out
    final = json.loads((run / "models" / "final.json").read_text())
    # the FOM the last period logged, recomputed from the restored checkpoint
    logged = (run / "train.log").read_text().split("checkpoint 1 (step 4): ")[1].split()[0]
    assert final["step"] == 4 and logged == f"rchi2={final['rchi2']:.4g}"
    assert (run / "models" / "generator_final.keras").exists()
    assert train.main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
