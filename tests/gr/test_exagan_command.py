"""`exagan train/analyze` on the GR `gr_test` tag: the run is expts/TAG/runRUN (the config's
log_dir and name), overrides by bare or dotted key, the test-seed evaluation in analysis/."""

import json

import yaml

from exagan_tf import cli


def test_train_analyze_through_exagan(gr_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"datafile={gr_files['std']}", "--set", "train_params.steps_per_epoch=2"]
    assert cli.main(["train", "gr_test", "0", *sets]) == 0
    run = tmp_path / "expts" / "gr_test" / "run0"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["train_params"]["steps_per_epoch"] == 2
    assert stored["train_params"]["log_dir"] == "expts/gr_test"
    assert stored["model_params"]["name"] == "run0"
    metrics = json.loads((run / "analysis" / "epoch1" / "metrics.json").read_text())
    capsys.readouterr()
    assert cli.main(["analyze", "gr_test", "0"]) == 0
    assert json.loads(capsys.readouterr().out) == metrics
