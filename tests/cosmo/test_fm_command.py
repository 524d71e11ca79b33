"""The flow-matching kind trains, resumes and analyzes through `exagan` like the DCGAN: the run
directory, monitor, best-by-chisq weights, a safe_mode .keras export and analyze's table."""

import json

import numpy as np
import yaml

from exagan_tf import cli
from exagan_tf.cosmo import curves
from exagan_tf.fileio import load_model_safe


def test_fm_tag_trains_and_analyzes_through_exagan(tiny_experiment, tmp_path, monkeypatch,
                                                    capsys):
    cfg_file, _ = tiny_experiment
    datadir = yaml.safe_load(cfg_file.read_text())["test"]["datadir"]
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"datadir={datadir}"]
    assert cli.main(["train", "fm_test", "0", *sets]) == 0
    run = tmp_path / "expts" / "fm_test" / "run0"
    assert json.loads((run / "run.json").read_text())["model_kind"] == "flow"
    log = (run / "train.log").read_text()
    assert "flow matching" in log and "chisq=" in log and "loss=" in log
    for name in ("g_best_chisq.weights.h5", "g_final.weights.h5", "velocity_final.keras"):
        assert (run / "models" / name).is_file(), name
    records = [r for r in curves.read_records(run / curves.METRICS_FILE)
               if r["kind"] == "checkpoint"]
    assert [r["step"] for r in records] == [4, 8, 12, 16, 20, 24, 28, 32]
    seconds = [r["train_seconds"] for r in records]
    assert all(0 < a < b for a, b in zip(seconds, seconds[1:]))
    # the DCGAN's reference and floors, in the log and beside the records
    assert "floor, independent universes (training vs validation" in log
    assert [r["kind"] for r in curves.read_records(run / curves.METRICS_FILE)].count("floors") == 1
    assert curves.main([str(run), "--metric", "peak_chisq_dof"]) == 0
    assert "fm_test/run0: flow, 8 checkpoint(s)" in capsys.readouterr().out
    net = load_model_safe(run / "models" / "velocity_final.keras")
    assert net.input_shape[0] == (None, 16, 16, 1)
    assert cli.main(["train", "fm_test", "0", *sets]) == 0  # the same command: nothing to do
    assert "nothing to do" in (run / "train.log").read_text()

    assert cli.main(["analyze", "fm_test", "0", "--n", "16", "--checkpoint", "final"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "analysis" / "final" / "metrics.json").read_text())
    rows = metrics["statistics"]
    assert {"model", "ceiling (untrained)", "classical (lognormal)"} <= set(rows)
    assert all(np.isfinite(rows["model"][k]) for k in ("pixel_ks", "hist_chisq_dof"))
    # the untrained field (v = 0) returns its noise: its pixels are far from the data's
    assert rows["ceiling (untrained)"]["pixel_ks"] > rows["classical (lognormal)"]["pixel_ks"]
    assert "classical (lognormal)" in out
    # the training checkpoint holds the same network as the final export (saved at the last step)
    assert cli.main(["analyze", "fm_test", "0", "--n", "16", "--checkpoint", "latest"]) == 0
    latest = json.loads((run / "analysis" / "latest" / "metrics.json").read_text())
    assert latest["weights"].startswith("latest checkpoint ckpt-")
    assert latest["statistics"]["model"] == rows["model"]
