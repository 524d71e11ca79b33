"""exagan sweep on the tiny muon GAN: bad input refused before anything starts, two workers on
one SQLite and on one journal storage, a trial killed mid-way resumed from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from exagan_tf import cli

SPACE = {"learning_rate": {"low": 1e-4, "high": 1e-3, "log": True},
         "num_layersG": {"low": 1, "high": 2}, "optimizer_choice": [0, 1]}
ROOT = Path(__file__).resolve().parents[2]


def _args(data, space, *extra, study="s", steps=2, period=1):
    return ["sweep", "gan_test", "--space", str(space), "--metric", "auc", "--study", study,
            "--set", f"datadir={data}", "--set", "category=mum_prompt",
            "--set", f"steps={steps}", "--set", f"save_interval={period}", *extra]


def _space(tmp_path, space=SPACE, name="space.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(space))
    return path


def _study(tmp_path, name="s", storage=None):
    import optuna

    storage = storage or f"sqlite:///{tmp_path}/expts/sweeps/{name}/study.db"
    return optuna.load_study(study_name=name, storage=storage)


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.parametrize("space, extra, expected", [
    ({"lerning_rate": {"low": 1e-4, "high": 1e-3}}, [],
     "lerning_rate: not a config key of tag gan_test (muons) (did you mean 'learning_rate'?)"),
    ({"num_layersG": {"low": 1.5, "high": 3}}, [], "num_layersG: --set num_layersG=1.5: expected int"),
    ({"num_layersG": {"low": 1, "high": 9}}, [], "tag 'gan_test': num_layersG=9 must be in 1..6"),
    ({"fom_classifier": ["hist", "svm"]}, [], "fom_classifier: --set fom_classifier=svm: expected Literal"),
    ({"learning_rate": {"low": 1e-3, "high": 1e-4}}, [], "empty range: low=0.001"),
    ({"optimizer_choice": []}, [], "optimizer_choice: empty list of choices"),
    (SPACE, ["--metric", "aucc"], "--metric aucc: not a statistic the muons monitor logs"),
    (SPACE, ["--storage", "nosuchdb://x/y"], "--storage nosuchdb://x/y: cannot open"),
    (SPACE, ["--storage", "sqlite:////no/such/dir/s.db"], "cannot open (OperationalError"),
    (SPACE, ["--storage", "journal:/no/such/dir/s.log"], "cannot open (OSError"),
])
def test_bad_input_is_one_line_and_nothing_starts(preprocessed, tmp_path, monkeypatch, capsys,
                                                  space, extra, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(_args(preprocessed[0], _space(tmp_path, space), "--trials", "1", *extra))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "expts" / "sweeps" / "s" / "gan_test").exists()


def test_stored_space_differs(preprocessed, tmp_path, monkeypatch, capsys):
    from exagan_tf import sweep

    monkeypatch.chdir(tmp_path)
    argv = _args(preprocessed[0], _space(tmp_path), "--trials", "1")[1:]
    sweep.prepare(sweep.parse_args(argv))  # the study is created, no trial
    other = _space(tmp_path, {**SPACE, "num_layersG": {"low": 1, "high": 3}}, "other.yaml")
    with pytest.raises(SystemExit) as stop:
        cli.main(_args(preprocessed[0], other, "--trials", "1"))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "study 's' exists with a different definition ('space.num_layersG.high' was 2, " \
           "now 3)" in err
    assert len(_study(tmp_path).trials) == 0


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_workers_share_one_storage(preprocessed, tmp_path, storage):
    extra = ["--trials", "3", "--workers", "2"]
    url = None
    if storage == "journal":
        url = str(tmp_path / "study.log")
        extra += ["--storage", url]
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        url = JournalStorage(JournalFileBackend(url))
    proc = subprocess.run([sys.executable, "-m", "exagan_tf.cli",
                           *_args(preprocessed[0], _space(tmp_path), *extra, steps=1)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    study = _study(tmp_path, storage=url)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") >= 3 and "RUNNING" not in states
    sdir = tmp_path / "expts" / "sweeps" / "s"
    workers = [json.loads(f.read_text()) for f in (sdir / "workers").glob("*.json")]
    assert len(workers) == 2 and all(w["trials"] >= 1 for w in workers)
    assert sum(w["trials"] for w in workers) == len(study.trials)
    for t in study.trials:  # each trial an ordinary run with its parameters in its config
        cfg = yaml.safe_load((sdir / "gan_test" / f"run{t.number}" / "config.yaml").read_text())
        assert {k: cfg[k] for k in t.params} == t.params
        reported = json.loads((sdir / "metrics" / f"run{t.number}.json").read_text())
        assert t.intermediate_values == {int(k): v for k, v in reported.items()}
        if t.state.name == "COMPLETE":
            assert t.value == reported["1"]
    assert "3/3 done" in proc.stdout


@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["kill9", "sigterm"])
def test_killed_trial_is_failed_and_resumed_from_its_checkpoint(preprocessed, tmp_path, sig,
                                                                monkeypatch):
    argv = _args(preprocessed[0], _space(tmp_path), "--trials", "1", steps=6, period=2)
    sdir = tmp_path / "expts" / "sweeps" / "s"
    worker = subprocess.Popen([sys.executable, "-m", "exagan_tf.cli", *argv], cwd=tmp_path,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = sdir / "metrics" / "run0.json"
    deadline = time.time() + 300
    while not first.exists() and worker.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    worker.send_signal(sig)  # mid-trial: after its first period (step 2 of 6)
    worker.wait()
    before = _study(tmp_path).trials
    if sig == signal.SIGKILL:  # found by the next worker: its process is gone
        assert [t.state.name for t in before] == ["RUNNING"]
    else:  # checkpointed and re-queued by the worker itself
        assert worker.returncode == 143
        assert [t.state.name for t in before] == ["FAIL", "WAITING"]
    reported = json.loads(first.read_text())
    assert list(reported) in (["2"], ["2", "4"])
    monkeypatch.chdir(tmp_path)  # the rerun, in this process (TensorFlow is imported)
    assert cli.main(argv) == 0
    after = _study(tmp_path).trials
    assert [t.state.name for t in after] == ["FAIL", "COMPLETE"]
    assert after[0].user_attrs["killed"] and after[1].user_attrs["resume_of"] == 0
    assert after[1].params == after[0].params
    run = sdir / "gan_test" / "run0"
    assert not (sdir / "gan_test" / "run1").exists()  # the same run directory, resumed
    log = (run / "train.log").read_text()
    assert f"resumed {Path('expts/sweeps/s/gan_test/run0')} from ckpt-" in log
    assert set(after[1].intermediate_values) == {2, 4, 6}
    assert after[1].value == json.loads(first.read_text())["6"]
