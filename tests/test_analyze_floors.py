"""analyze and the training monitor report both floors, labelled, on the same reference."""

from __future__ import annotations

import json

from exagan_tf import analyze, train
from exagan_tf.cosmo import yardsticks as ys
from tests.test_train import args, run_main


def test_monitor_and_analyze_report_both_floors(tiny_experiment, capsys):
    cfg, expts = tiny_experiment
    code, out, err = run_main(train.main, args(cfg, expts, "--max-steps", "4"), capsys)
    assert code == 0, err
    run = expts / "test" / "run0"
    log = (run / "train.log").read_text()
    # the test tag: n_eval 32 of one 64-image validation universe; 2 training universes
    assert "reference: 32 validation images spread over 1 validation universe(s)" in log
    assert f"{ys.FLOOR_SAME} (interleaved validation halves): chisq=" in log
    assert f"{ys.FLOOR_INDEPENDENT} (training vs validation, median [min, max]): " in log

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for name in ("floor_same_universes", "floor_independent_0", "floor_independent_2"):
        acc = EventAccumulator(str(run / "logs" / name), size_guidance={"tensors": 0}).Reload()
        assert {"pk_frac_err", "pixel_ks", "hist_chisq_dof"} <= set(acc.Tags()["tensors"]), name
        assert [e.step for e in acc.Tensors("pixel_ks")] == [4]

    code, out, err = run_main(
        analyze.main, ["test", "0", "--expts", str(expts), "--checkpoint", "final"], capsys
    )
    assert code == 0, err
    assert "indep. median" in out and "same univ." in out and "untrained" in out
    assert "3 draws from 2 training universe(s)" in out
    metrics = json.loads((run / "analysis" / "final" / "metrics.json").read_text())
    st = metrics["statistics"]
    assert set(st) == {"model", f"{ys.FLOOR_INDEPENDENT} (median)", ys.FLOOR_SAME,
                       "ceiling (untrained)", "classical (lognormal)"}
    draws = metrics["floor_independent_draws"]
    assert len(draws) == 3 and len({d["pixel_ks"] for d in draws}) == 3
    rng = metrics["floor_independent_range"]
    for key, median in st[f"{ys.FLOOR_INDEPENDENT} (median)"].items():
        assert rng["min"][key] <= median <= rng["max"][key]
        assert sorted(d[key] for d in draws)[1] == median
    y = metrics["yardsticks"]
    assert (y["images_per_set"], y["val_universes"], y["train_universes"]) == (32, 1, 2)
    assert y["independent_draws_disjoint"] and set(y["floors"]) == {ys.FLOOR_SAME,
                                                                   ys.FLOOR_INDEPENDENT}
    # the monitor's floors are analyze's (same reference, same draws)
    same_line = next(line for line in log.splitlines() if f"{ys.FLOOR_SAME} (" in line)
    assert f"pixel_ks={st[ys.FLOOR_SAME]['pixel_ks']:.4g}" in same_line

    code, out, err = run_main(
        analyze.main, ["test", "0", "--expts", str(expts), "--floor-draws", "0"], capsys
    )
    assert code == 2 and "--floor-draws=0: need at least one draw" in err
