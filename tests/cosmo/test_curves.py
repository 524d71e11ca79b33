"""Statistics against training time: the train.log parser on lines as the trainer writes them,
metrics.jsonl records (replayed steps, floors), the training clock, and the curves command."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from exagan_tf.cosmo import curves
from exagan_tf.errors import UserError

# Lines of a DCGAN demo run's train.log, verbatim (two progress lines per checkpoint period)
DEMO_LOG = """\
17:07:48 run expts/demo/run0 | new | channels_last | 1 replica(s) | 1536 training images | steps 0->1200 in periods of 100
17:08:03 step 50/1200 d_fake_loss=0.0573 d_fake_prob=0.0211 d_loss=0.0640 d_real_loss=0.0706 d_real_prob=0.9755 g_extra_loss=1.2725 g_loss=2.8655 | 0.291 s/step 110.1 img/s | left 00:05:34
17:08:26 step 100/1200 d_fake_loss=0.0515 d_fake_prob=0.0152 d_loss=0.0568 d_real_loss=0.0620 d_real_prob=0.9853 g_extra_loss=0.7343 g_loss=3.8647 | 0.372 s/step 86.1 img/s | left 00:06:48
17:08:31 checkpoint 1 (step 100): chisq=314.1 chisq_pspect=1.451e+07 pk_frac_err=0.2478 pk_frac_err_mean=1.494 pixel_ks=0.8623 hist_chisq_dof=2.566e+04
17:08:49 step 150/1200 d_fake_loss=0.0536 d_fake_prob=0.0125 d_loss=0.0554 d_real_loss=0.0572 d_real_prob=0.9900 g_extra_loss=0.1128 g_loss=4.7669 | 0.402 s/step 79.7 img/s | left 00:07:01
17:09:06 step 200/1200 d_fake_loss=0.0604 d_fake_prob=0.0119 d_loss=0.0627 d_real_loss=0.0649 d_real_prob=0.9902 g_extra_loss=0.1135 g_loss=4.8478 | 0.386 s/step 82.9 img/s | left 00:06:26
17:09:12 checkpoint 2 (step 200): chisq=1129 chisq_pspect=1.097e+08 pk_frac_err=0.4879 pk_frac_err_mean=3.036 pixel_ks=0.8163 hist_chisq_dof=2.077e+04 | best chisq kept
"""
# ... a kill after step 230, and the same command again: resumed mid-period from a SIGTERM
# checkpoint at step 250 (the first fit call completes the period to 300, a second one goes on)
RESUMED = """\
18:00:00 reference: 384 validation images spread over 3 validation universe(s); independent floor from 6 training universe(s), 3 draw(s) of 384
18:00:00 floor, same universes (interleaved validation halves): chisq=24.29 chisq_pspect=3.782e+05 pk_frac_err=0.01934 pk_frac_err_mean=0.1304 pixel_ks=0.000824 hist_chisq_dof=0.4675 peak_chisq_dof=0.6968
18:00:00 floor, independent universes (training vs validation, median [min, max]): chisq=18.9 [16.31, 43.46] chisq_pspect=4.672e+05 [5.377e+04, 8.168e+05] pk_frac_err=0.03223 [0.01832, 0.03958] pk_frac_err_mean=0.1565 [0.0509, 0.1988] pixel_ks=0.00438 [0.003717, 0.004683] hist_chisq_dof=1.471 [1.259, 1.745] peak_chisq_dof=1.003 [0.7603, 1.239]
18:00:01 resumed expts/demo/run0 from ckpt-250 (step 250)
18:00:02 run expts/demo/run0 | resuming | channels_last | 1 replica(s) | 1536 training images | steps 250->1200 in periods of 100
18:00:22 step 300/1200 d_fake_loss=0.0606 g_loss=4.8171 | 0.400 s/step 78.9 img/s | left 00:06:05
18:00:30 checkpoint 3 (step 300): chisq=376.8 pk_frac_err=0.3638 pixel_ks=0.7343 hist_chisq_dof=2.502e+04 peak_chisq_dof=812.5
18:00:50 step 350/1200 d_fake_loss=0.0355 g_loss=5.4272 | 0.300 s/step 75.8 img/s | left 00:05:59
18:01:10 step 400/1200 d_fake_loss=0.0397 g_loss=5.3591 | 0.320 s/step 77.1 img/s | left 00:05:32
18:01:14 checkpoint 4 (step 400): chisq=323.5 pk_frac_err=0.2592 pixel_ks=0.617 hist_chisq_dof=1.613e+04 peak_chisq_dof=640.1
"""


def test_train_log_times_subtract_the_monitor_and_accumulate_over_resumes():
    parsed = curves.parse_train_log(DEMO_LOG + RESUMED)
    rows = {r["step"]: r for r in parsed["checkpoints"]}
    assert sorted(rows) == [100, 200, 300, 400]
    # 0.372 s/step over 100 steps; then 0.386 over 200 minus checkpoint 1's monitor (5 s)
    assert rows[100]["train_seconds"] == pytest.approx(37.2)
    assert rows[200]["train_seconds"] == pytest.approx(0.386 * 200 - 5)
    # resumed at 250: the first session's time at step 250 (0.386 s/step from its last line,
    # less the monitors of checkpoints 1 and 2: 5 s and 6 s)
    base = 0.386 * 250 - 5 - 6
    assert rows[300]["train_seconds"] == pytest.approx(base + 0.400 * 50)
    # second fit call of the session, from step 300; checkpoint 3's monitor was between calls
    assert rows[400]["train_seconds"] == pytest.approx(base + 0.400 * 50 + 0.320 * 100)
    assert rows[100]["stats"]["pixel_ks"] == 0.8623
    assert rows[200]["stats"]["hist_chisq_dof"] == 2.077e4  # "| best ... kept" is not a value
    assert rows[400]["stats"]["peak_chisq_dof"] == 640.1
    floors = parsed["floors"]
    assert floors["same"]["pixel_ks"] == 0.000824
    assert floors["independent"]["median"]["peak_chisq_dof"] == 1.003
    assert floors["independent"]["min"]["chisq_pspect"] == 5.377e4
    assert floors["independent"]["max"]["hist_chisq_dof"] == 1.745


def test_train_log_lines_written_by_the_trainer_parse(tmp_path):
    """The floor lines as :func:`yardsticks.log_floors` writes them with the run's formatter."""
    from exagan_tf.cosmo import yardsticks as ys
    from exagan_tf.runs import RunDir, setup_logging

    (tmp_path / "run0").mkdir()
    log = setup_logging(RunDir(tmp_path / "run0", False), "exagan_tf.test_curves")
    same = {"pixel_ks": 0.001, "peak_chisq_dof": 0.7}
    draws = [{"pixel_ks": 0.004, "peak_chisq_dof": 1.0},
             {"pixel_ks": 0.003, "peak_chisq_dof": 0.8},
             {"pixel_ks": 0.005, "peak_chisq_dof": 1.2}]
    floors = {ys.FLOOR_SAME: same, ys.FLOOR_INDEPENDENT: {"draws": draws, **ys.spread_of(draws)}}
    try:
        ys.log_floors(floors, ys.Yardsticks(np.zeros((384, 2, 2)), None, draws, True, 3, 6), log)
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
    parsed = curves.parse_train_log((tmp_path / "run0" / "train.log").read_text())
    assert parsed["floors"]["same"] == same
    assert parsed["floors"]["independent"]["median"] == {"pixel_ks": 0.004,
                                                         "peak_chisq_dof": 1.0}
    assert parsed["floors"]["independent"]["min"]["peak_chisq_dof"] == 0.8


def test_metrics_records_drop_replayed_steps_and_keep_one_floors(tmp_path):
    path = tmp_path / curves.METRICS_FILE
    for step, sec in ((4, 1.0), (8, 2.0), (12, 3.0)):
        curves.write_record(path, {"kind": "checkpoint", "step": step, "train_seconds": sec,
                                   "stats": {"pixel_ks": 0.5}})
    curves.write_record(path, {"kind": "floors", "same": {"pixel_ks": 0.01}, "independent": {}})
    # resumed from the checkpoint at step 8: step 12 is trained again
    curves.write_record(path, {"kind": "checkpoint", "step": 12, "train_seconds": 3.5,
                               "stats": {"pixel_ks": 0.4}})
    curves.write_record(path, {"kind": "floors", "same": {"pixel_ks": 0.02}, "independent": {}})
    recs = curves.read_records(path)
    assert [(r["step"], r["train_seconds"]) for r in recs if r["kind"] == "checkpoint"] == [
        (4, 1.0), (8, 2.0), (12, 3.5)]
    assert [r["same"] for r in recs if r["kind"] == "floors"] == [{"pixel_ks": 0.02}]
    assert not list(tmp_path.glob("*.tmp"))
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(UserError, match=r"metrics.jsonl:5: not a JSON record"):
        curves.read_records(path)


def test_train_clock_counts_steps_not_what_runs_between_them():
    pytest.importorskip("tensorflow")
    from exagan_tf.cosmo import train_clock

    clock = train_clock.TrainClock(train_clock.clock_variable())
    clock.seconds.assign(10.0)  # restored from a checkpoint
    for _ in range(2):
        clock.on_train_batch_begin(0)
        time.sleep(0.03)  # the step
        clock.on_train_batch_end(0)
        time.sleep(0.1)  # monitor, checkpoint writing
    assert 10.06 <= clock.total < 10.12


def exit_code(argv) -> int:
    try:
        return curves.main(argv)
    except SystemExit as exit_:
        return exit_.code


def write_run(root, name, kind, points, floors=None):
    run = root / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"model_kind": kind} if kind == "flow" else {}))
    for step, sec, ks in points:
        curves.write_record(run / curves.METRICS_FILE, {
            "kind": "checkpoint", "step": step, "train_seconds": sec, "time": 0.0,
            "stats": {"pixel_ks": ks, "peak_chisq_dof": 10 * ks}})
    if floors:
        curves.write_record(run / curves.METRICS_FILE, {"kind": "floors", **floors})
    return run


def test_curves_command_plots_runs_against_training_time(tmp_path, capsys):
    floors = {"same": {"pixel_ks": 0.001},
              "independent": {"median": {"pixel_ks": 0.004}, "min": {"pixel_ks": 0.003},
                              "max": {"pixel_ks": 0.005}}}
    gan = write_run(tmp_path / "demo", "run0", "dcgan", [(100, 30.0, 0.8), (200, 61.5, 0.2)],
                    floors)
    flow = write_run(tmp_path / "fm_demo", "run0", "flow", [(100, 300.0, 0.5)])
    old = tmp_path / "old" / "run1"
    old.mkdir(parents=True)
    (old / "train.log").write_text(DEMO_LOG)
    out = tmp_path / "curves.png"
    argv = [str(gan), str(flow), str(old), "--metric", "pixel_ks", "--out", str(out)]
    assert curves.main(argv) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 10_000
    assert "demo/run0: dcgan, 2 checkpoint(s), steps 100-200, 62 training seconds" in text
    assert "fm_demo/run0: flow" in text and "old/run1: dcgan" in text
    assert "from train.log (estimated)" in text
    rows = [line.split() for line in text.splitlines()
            if line.split()[0] in ("demo/run0", "fm_demo/run0")]
    assert rows == [["demo/run0", "dcgan", "100", "30.0", "0.8"],
                    ["demo/run0", "dcgan", "200", "61.5", "0.2"],
                    ["fm_demo/run0", "flow", "100", "300.0", "0.5"]]
    assert ["old/run1", "dcgan", "200", "72.2", "0.8163"] in [
        line.split() for line in text.splitlines()]
    # default metrics: those recorded; the figure is not overwritten without --force
    assert exit_code([str(gan), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert curves.main([str(gan), "--out", str(out), "--force"]) == 0
    assert "peak_chisq_dof" in capsys.readouterr().out


@pytest.mark.parametrize("setup, argv, needle", [
    (None, ["missing"], "no such run directory"),
    ("empty", ["empty"], "neither metrics.jsonl nor train.log"),
    ("run", ["run", "--metric", "pixel_kss"], "--metric pixel_kss: not recorded"),
])
def test_curves_command_refuses_bad_input(tmp_path, capsys, setup, argv, needle):
    if setup == "empty":
        (tmp_path / "empty").mkdir()
    elif setup == "run":
        write_run(tmp_path, "run", "dcgan", [(4, 1.0, 0.5)])
    assert exit_code([str(tmp_path / argv[0]), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
