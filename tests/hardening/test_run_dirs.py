"""Run directories under a second process, a kill, and a careless name (issue 19, findings 1, 4, 8).

* One process per run: a second real process with the same run is refused with one line naming
  the holder's host, PID and start; once the holder is SIGKILLed the next start takes its lock
  over. Across hosts (a record from another host) a fresh lease refuses, an expired one is taken
  over; without a kernel lock the PID decides.
* Run and tag names are folder names: a path, an absolute path, ``..`` or a space is refused
  with one line, exit 2, and nothing is written.
* The temporaries a killed process leaves (``ckpt-N_temp/``, TensorFlow's ``checkpoint.tmp*``,
  ``models/.tmp-*``, fileio's ``.<name>.*.tmp``) are removed when the run starts again.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from exagan_tf import runlock, runs
from exagan_tf.errors import UserError
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

OPEN = """
import sys, time
from pathlib import Path
from exagan_tf import runs
from exagan_tf.config import load_exagan
from exagan_tf.errors import cli_errors

@cli_errors
def main():
    cfg = load_exagan("test", sys.argv[2])
    run = runs.open_run("test", "0", cfg, sys.argv[1], ["holder"])
    print("ready", *run.notes, flush=True)
    time.sleep(float(sys.argv[3]))

main()
"""


def _open_in_process(expts: Path, cfg: Path, seconds: float = 0.0, **kw):
    return subprocess.Popen([sys.executable, "-c", OPEN, str(expts), str(cfg), str(seconds)],
                            env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def test_a_second_process_is_refused_and_a_killed_holder_is_taken_over(tiny_experiment, capsys):
    from exagan_tf import train

    cfg, expts = tiny_experiment
    holder = _open_in_process(expts, cfg, 600)
    try:
        assert holder.stdout.readline().split() == ["ready"]
        run = expts / "test" / "run0"
        before = M.digest(run)
        # a second process, the real trainer: refused before it writes anything
        with pytest.raises(SystemExit) as exc:
            train.main(["test", "0", "--config-file", str(cfg), "--expts", str(expts)])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and "\n" not in err, err
        assert f"host {socket.gethostname()}, PID {holder.pid}, since 20" in err, err
        assert M.digest(run) == before
        # and a third one, in its own process
        other = _open_in_process(expts, cfg)
        out, err = other.communicate(timeout=60)
        assert other.returncode == 2 and f"PID {holder.pid}," in err and "\n" not in err.strip()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died without releasing: its lock is taken over, with a warning
    after = _open_in_process(expts, cfg)
    out, err = after.communicate(timeout=60)
    assert after.returncode == 0, err
    assert f"took over the lock of host {socket.gethostname()}, PID {holder.pid}" in out
    assert "(no longer running)" in out
    record = json.loads((run / "run.lock").read_text())
    assert record["pid"] == after.pid and record["released"] >= record["since"]


def _record(run: Path, **fields) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"a": 1}))
    now = time.time()
    (run / "run.lock").write_text(json.dumps({"host": "node-b", "pid": 4242, "since": now - 100,
                                              "heartbeat": now - 10, **fields}))


def _open(run: Path) -> runs.RunDir:
    return runs.open_run_dir(run, {"a": 1}, "cmd", mismatch="{path}: {diff}")


def test_another_hosts_lease_refuses_until_it_expires(tmp_path):
    run = tmp_path / "run0"
    _record(run)
    with pytest.raises(UserError) as err:
        _open(run)
    M.one_line(err.value, "in use by host node-b, PID 4242", "lease renewed 10 s ago")
    assert not (run / "command.txt").exists()
    _record(run, heartbeat=time.time() - runlock.LEASE_S - 5)
    opened = _open(run)
    try:
        assert any("took over the lock of host node-b, PID 4242, since" in n
                   and "(lease not renewed for 30" in n for n in opened.notes), opened.notes
        assert json.loads((run / "run.lock").read_text())["pid"] == os.getpid()
    finally:
        runlock.release(run)


def test_the_holder_renews_its_lease_and_marks_it_released(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "HEARTBEAT_S", 0.05)
    run = tmp_path / "run0"
    _open(run)
    first = json.loads((run / "run.lock").read_text())
    time.sleep(0.5)
    second = json.loads((run / "run.lock").read_text())
    assert second["heartbeat"] > first["heartbeat"] and second["since"] == first["since"]
    _open(run)  # this process opening its own run again (a second main() of a notebook)
    runlock.release(run)
    assert json.loads((run / "run.lock").read_text())["released"] >= second["heartbeat"]


def test_without_a_kernel_lock_the_pid_decides(tmp_path, monkeypatch):
    import fcntl

    def unsupported(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    run = tmp_path / "run0"
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        _record(run, host=socket.gethostname(), pid=live.pid,
                start=runlock._start_time(live.pid))
        with pytest.raises(UserError) as err:
            _open(run)
        M.one_line(err.value, f"PID {live.pid}")
        _record(run, host=socket.gethostname(), pid=dead.pid, start=None)
        opened = _open(run)
        assert any(f"PID {dead.pid}" in n and "no longer running" in n for n in opened.notes)
    finally:
        live.kill()
        live.wait()
        runlock.release(run)


BAD_NAMES = ["../../../../x", "a/b", "..", ".hidden", "x y", "/abs", "", "x\ny", "a" * 101]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_run_name_that_is_not_a_folder_name_is_refused(tiny_experiment, capsys, bad):
    from exagan_tf import train

    cfg, expts = tiny_experiment
    root = cfg.parent
    before = M.digest(root)
    with pytest.raises(SystemExit) as exc:
        train.main(["test", bad, "--config-file", str(cfg), "--expts", str(expts)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "\n" not in err and "RUN" in err, err
    assert M.digest(root) == before and not expts.exists()


@pytest.mark.parametrize("tag", ["x/../../../../y", "/tmp/absolute", "../up"])
def test_a_tag_that_is_not_a_folder_name_is_refused(tiny_experiment, capsys, tag):
    from exagan_tf import train

    cfg, expts = tiny_experiment
    doc = yaml.safe_load(cfg.read_text())
    cfg.write_text(yaml.safe_dump({tag: doc["test"]}))
    before = M.digest(cfg.parent)
    with pytest.raises(SystemExit) as exc:
        train.main([tag, "0", "--config-file", str(cfg), "--expts", str(expts)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "\n" not in err and "config tag" in err, err
    assert M.digest(cfg.parent) == before and not expts.exists()
    assert not Path("/tmp/absolute").exists()


def test_names_of_the_other_systems(tmp_path):
    from exagan_tf.gr.config import load_gr_config
    from exagan_tf.muons.train import run_name

    assert runs.check_name("1_mup_prompt", "RUN") == "1_mup_prompt"
    with pytest.raises(UserError):
        runs.run_path(*run_name("gan_test", "../x", "mup_prompt"), tmp_path)
    doc = yaml.safe_load((REPO / "experiments" / "gr" / "test.yaml").read_text())
    doc["model_params"]["name"] = "../../escape"
    (tmp_path / "gr.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError) as err:
        load_gr_config(tmp_path / "gr.yaml")
    M.one_line(err.value, "name", "../../escape")


def test_leftovers_of_a_killed_process_are_removed_on_the_next_start(tmp_path):
    run = tmp_path / "run0"
    _open(run)
    runlock.release(run)
    leftovers = [run / "checkpoints" / "ckpt-12_temp" / "part-00000-of-00001.index",
                 run / "checkpoints" / ("checkpoint.tmp" + "0123456789abcdef" * 2),
                 run / "models" / ".tmp-k2j4h5g6.weights.h5",
                 run / "models" / ".tmp-a1b2c3d4.keras",
                 run / "models" / ".best_chisq.json.ab12_d34.tmp",
                 run / ".run.json.zz9yy8xx.tmp"]
    kept = [run / "models" / "g_best_chisq.weights.h5", run / "models" / "best_chisq.json",
            run / "analysis" / "notes.tmp", run / "models" / "tmp-not-mine.keras"]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    opened = _open(run)
    try:
        assert not any(p.exists() for p in leftovers)
        assert not (run / "checkpoints" / "ckpt-12_temp").exists()
        assert all(p.read_bytes() == b"partial" for p in kept)
        assert len(opened.notes) == 1 and "removed 6 temporaries" in opened.notes[0]
        log = runs.setup_logging(opened, "tests.hardening.leftovers")
        for handler in log.handlers:
            handler.flush()
        assert "removed 6 temporaries" in (run / "train.log").read_text()
    finally:
        runlock.release(run)


def test_a_start_that_failed_before_its_config_can_start_again(tmp_path, monkeypatch):
    from exagan_tf import fileio

    run = tmp_path / "run0"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "write_text_atomic", full)
    with pytest.raises(OSError):
        _open(run)
    monkeypatch.undo()
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"]
    assert json.loads((run / "run.lock").read_text())["released"]
    try:
        assert _open(run).resumed is False and (run / "config.yaml").exists()
    finally:
        runlock.release(run)
    assert fileio.TEMPORARY.match(".config.yaml.ab_9XYZc.tmp")
