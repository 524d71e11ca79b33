"""`exagan train/analyze` on the muon `gan_test` tag: the category is a config key, the run is
expts/TAG/runRUN, the analysis prints the FOM beside its floor and the untrained network."""

import yaml

from exagan_tf import cli


def test_train_resume_analyze_through_exagan(preprocessed, tmp_path, monkeypatch, capsys):
    data, _ = preprocessed
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"datadir={data}", "--set", "category=mum_prompt"]
    assert cli.main(["train", "gan_test", "0", *sets]) == 0
    run = tmp_path / "expts" / "gan_test" / "run0"
    assert yaml.safe_load((run / "config.yaml").read_text())["category"] == "mum_prompt"
    assert (run / "models" / "generator_final.keras").is_file()
    assert cli.main(["train", "gan_test", "0", *sets]) == 0
    assert "nothing to do" in (run / "train.log").read_text()
    capsys.readouterr()
    assert cli.main(["analyze", "gan_test", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == ["floor", "untrained", "trained"]
