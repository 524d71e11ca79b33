"""End to end: train the tiny config, resume after a kill, analyse, and refuse bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

from exagan_tf import analyze, train
from exagan_tf.core import callbacks as cb

REPO = Path(__file__).resolve().parent.parent


def run_main(fn, argv, capsys):
    """Call a CLI main; return (exit code, stdout, stderr)."""
    try:
        code = fn(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def args(cfg, expts, *extra):
    return ["test", "0", "--config-file", str(cfg), "--expts", str(expts), *extra]


def test_train_writes_run_and_analysis(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    code, out, err = run_main(train.main, args(cfg, expts, "--max-steps", "8"), capsys)
    assert code == 0, err
    run = expts / "test" / "run0"
    for name in ("config.yaml", "run.json", "command.txt", "train.log"):
        assert (run / name).is_file(), name
    assert "exagan_tf.train test 0" in (run / "command.txt").read_text()
    assert list((run / "logs").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "checkpoint").is_file()
    for name in ("g_best_chisq", "g_best_chisq_pspect", "d_best_chisq", "g_final"):
        assert (run / "models" / f"{name}.weights.h5").is_file(), name
    best = json.loads((run / "models" / "best_chisq.json").read_text())
    assert best["step"] in (4, 8) and best["chisq"] >= 0
    log = (run / "train.log").read_text()
    assert "checkpoint 2 (step 8)" in log and "chisq=" in log
    assert not list(run.rglob("*.tmp")) and not list(run.rglob(".tmp-*"))

    # TensorBoard got the scalars and the figures
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "logs"), size_guidance={"tensors": 0}).Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"d_loss", "g_loss", "chisq", "chisq_pspect", "pk_frac_err"} <= tags
    assert {"generated", "pixel_histogram", "power_spectrum"} <= tags
    assert {"peak_chisq_dof", "train_seconds", "vs_train_seconds/pixel_ks"} <= tags

    # every checkpoint's statistics against the training seconds, and the floors
    from exagan_tf.cosmo import curves

    records = curves.read_records(run / curves.METRICS_FILE)
    points = [r for r in records if r["kind"] == "checkpoint"]
    assert [r["step"] for r in points] == [4, 8]
    assert 0 < points[0]["train_seconds"] < points[1]["train_seconds"]
    assert "peak_chisq_dof" in points[1]["stats"]
    assert [r["kind"] for r in records].count("floors") == 1
    code, out, err = run_main(curves.main, [str(run), "--metric", "pixel_ks"], capsys)
    assert code == 0, err
    assert "test/run0: dcgan, 2 checkpoint(s), steps 4-8" in out and "from metrics.jsonl" in out

    code, out, err = run_main(analyze.main, [*args(cfg, expts)[:2], "--expts", str(expts)], capsys)
    assert code == 0, err
    adir = run / "analysis" / "best_chisq"
    for name in ("samples.png", "pixel_histogram.png", "power_spectrum.png", "metrics.json"):
        assert (adir / name).is_file(), name
    metrics = json.loads((adir / "metrics.json").read_text())
    assert set(metrics["statistics"]) == {
        "model", "floor, independent universes (median)", "floor, same universes",
        "ceiling (untrained)", "classical (lognormal)"}
    assert "peak_chisq_dof" in metrics["statistics"]["model"]
    classical = metrics["statistics"]["classical (lognormal)"]
    assert classical["pixel_ks"] < 0.05 and (run / "analysis" / "lognormal.npz").is_file()
    floor = metrics["statistics"]["floor, same universes"]
    ceiling = metrics["statistics"]["ceiling (untrained)"]
    assert floor["pk_frac_err"] < ceiling["pk_frac_err"]
    assert "same univ." in out and "chisq_pspect" in out


def signal_after_first_checkpoint(cfg, expts, sig) -> int:
    """Start a long training process, send it ``sig`` once a checkpoint exists; exit code."""
    run = expts / "test" / "run0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exagan_tf.train", *args(cfg, expts, "--max-steps", "4000")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((run / "checkpoints").glob("ckpt-*.index")):
            time.sleep(0.2)
        time.sleep(0.4)
        proc.send_signal(sig)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_resume_after_kill(tiny_experiment, capsys):
    """A training process killed with SIGKILL resumes from its last checkpoint."""
    cfg, expts = tiny_experiment
    run = expts / "test" / "run0"
    signal_after_first_checkpoint(cfg, expts, signal.SIGKILL)
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert saved, "no checkpoint was written before the kill"
    last = saved[-1]
    target = last + 8
    code, out, err = run_main(train.main, args(cfg, expts, "--max-steps", str(target)), capsys)
    assert code == 0, err
    assert f"from ckpt-{last} (step {last})" in out
    assert f"done: step {target}" in out
    assert (run / "command.txt").read_text().count(" resume: ") == 1
    # the training seconds go on from the checkpoint's, each step recorded once
    from exagan_tf.cosmo import curves

    points = [r for r in curves.read_records(run / curves.METRICS_FILE)
              if r["kind"] == "checkpoint"]
    steps, seconds = [r["step"] for r in points], [r["train_seconds"] for r in points]
    assert steps == sorted(set(steps)) and steps[-1] == target and last in steps
    assert all(a < b for a, b in zip(seconds, seconds[1:]))


def test_sigterm_saves_and_stops_then_resumes(tiny_experiment, capsys):
    """SIGTERM (SLURM's warning before a kill) saves a checkpoint at the current step and exits
    cleanly; the same command then continues from that step."""
    cfg, expts = tiny_experiment
    run = expts / "test" / "run0"
    code = signal_after_first_checkpoint(cfg, expts, signal.SIGTERM)
    assert code == 0
    log = (run / "train.log").read_text()
    stopped = [line for line in log.splitlines() if "SIGTERM received" in line]
    assert stopped, log[-2000:]
    step = int(stopped[0].split("checkpoint saved at step ")[1].split(";")[0])
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()
    target = step + 6
    code, out, err = run_main(train.main, args(cfg, expts, "--max-steps", str(target)), capsys)
    assert code == 0, err
    assert f"(step {step})" in out
    period = 4  # checkpt_batch of the test tag: the run ends on a period boundary
    assert f"done: step {-(-target // period) * period}" in out


def test_fit_segments_realign_a_preempted_run_to_periods():
    assert cb.fit_segments(0, 12, 4) == [(0, 3, 4)]
    assert cb.fit_segments(5, 12, 4) == [(1, 2, 3), (2, 3, 4)]
    assert cb.fit_segments(7, 8, 4) == [(1, 2, 1)]
    assert cb.fit_segments(8, 12, 4) == [(2, 3, 4)]


def test_spectral_loss_runs_end_to_end(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    tags = yaml.safe_load(cfg.read_text())
    tags["test"]["pspec_weight"] = 1.0
    cfg.write_text(yaml.safe_dump(tags))
    code, out, err = run_main(train.main, args(cfg, expts, "--max-steps", "4"), capsys)
    assert code == 0, err
    log = (expts / "test" / "run0" / "train.log").read_text()
    assert "g_extra_loss=" in log and "done: step 4" in out


def test_finished_run_is_not_retrained(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    assert run_main(train.main, args(cfg, expts, "--max-steps", "4"), capsys)[0] == 0
    code, out, _ = run_main(train.main, args(cfg, expts, "--max-steps", "4"), capsys)
    assert code == 0 and "nothing to do" in out


def one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_existing_run_with_other_config_is_refused(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    assert run_main(train.main, args(cfg, expts, "--max-steps", "4"), capsys)[0] == 0
    doc = yaml.safe_load(cfg.read_text())
    doc["test"]["label_flip"] = 0.05
    cfg.write_text(yaml.safe_dump(doc))
    before = (expts / "test" / "run0" / "config.yaml").read_text()
    code, _, err = run_main(train.main, args(cfg, expts), capsys)
    one_line_error(code, err, "run0 exists with a different config", "'label_flip' was 0.01, now 0.05")
    assert (expts / "test" / "run0" / "config.yaml").read_text() == before


def test_missing_data(tiny_experiment, capsys, tmp_path):
    cfg, expts = tiny_experiment
    doc = yaml.safe_load(cfg.read_text())
    doc["test"]["datadir"] = str(tmp_path / "nowhere")
    cfg.write_text(yaml.safe_dump(doc))
    code, _, err = run_main(train.main, args(cfg, expts), capsys)
    one_line_error(code, err, "nowhere/test/train: no *.h5 shards found", "slice_universes")
    assert not (expts / "test").exists()


def test_corrupt_shard(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    data = Path(yaml.safe_load(cfg.read_text())["test"]["datadir"])
    (data / "test" / "train" / "univ1.h5").write_bytes(b"\x89HDF\r\n\x1a\nthis is not really hdf5")
    code, _, err = run_main(train.main, args(cfg, expts), capsys)
    one_line_error(code, err, "univ1.h5: not a readable HDF5 file")


def test_wrongly_shaped_shard(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    data = Path(yaml.safe_load(cfg.read_text())["test"]["datadir"])
    with h5py.File(data / "test" / "val" / "univ0.h5", "w") as f:
        f.create_dataset("data", shape=(5, 32, 32), dtype="int16")
    code, _, err = run_main(train.main, args(cfg, expts), capsys)
    one_line_error(code, err, "univ0.h5: dataset 'data' has shape (5, 32, 32), expected (n, 16, 16)")


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["nope", "0"], "unknown config tag 'nope'"),
        (["test", "0", "--max-steps", "0"], "--max-steps=0"),
    ],
)
def test_bad_command_line(argv, needle, capsys, tmp_path):
    code, _, err = run_main(train.main, [*argv, "--expts", str(tmp_path)], capsys)
    one_line_error(code, err, needle)


def test_unknown_key_in_config(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    doc = yaml.safe_load(cfg.read_text())
    doc["test"]["learning_rate"] = 0.1
    cfg.write_text(yaml.safe_dump(doc))
    code, _, err = run_main(train.main, args(cfg, expts), capsys)
    one_line_error(code, err, "tag 'test': unknown key 'learning_rate'")


def test_analyze_missing_run(capsys, tmp_path):
    code, _, err = run_main(analyze.main, ["demo", "7", "--expts", str(tmp_path)], capsys)
    one_line_error(code, err, "run7: no such run")


def test_dry_run_prints_resolved_options(capsys):
    code, out, _ = run_main(train.main, ["base", "0", "--dry-run"], capsys)
    assert code == 0
    assert yaml.safe_load(out)["base"]["DG_update_ratio"] == 2


def test_train_under_mirrored_on_two_logical_cpus(tiny_experiment):
    """The whole training command (callbacks, checkpoints, metrics) under MirroredStrategy."""
    cfg, expts = tiny_experiment
    doc = yaml.safe_load(cfg.read_text())
    doc["test"]["distribute"] = "mirrored"
    cfg.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "EXAGAN_CPU_DEVICES": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "exagan_tf.train", *args(cfg, expts, "--max-steps", "4")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((expts / "test" / "run0" / "run.json").read_text())
    assert meta["replicas"] == 2 and meta["strategy"] == "MirroredStrategy"
    assert "done: step 4" in proc.stdout
