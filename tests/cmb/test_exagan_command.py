"""`exagan train/analyze` on the CMB `tiny` tag: flags as --set keys, the run in
expts/TAG/runRUN (not the original's model-folder name), rerunning resumes."""

import yaml

from exagan_tf import cli


def test_train_resume_analyze_through_exagan(tiny_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"data-dir={tiny_data_dir}", "--set", "ndeg=1.25", "--set",
            "validation_split=0.25"]
    assert cli.main(["train", "tiny", "0", *sets]) == 0
    run = tmp_path / "expts" / "tiny" / "run0"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["data-dir"] == str(tiny_data_dir) and stored["validation-split"] == 0.25
    assert (run / "models" / "generator_final.keras").is_file()
    assert (run / "metrics.json").is_file()
    assert cli.main(["train", "tiny", "0", *sets]) == 0
    assert "already trained" in (run / "train.log").read_text()
    assert cli.main(["analyze", "tiny", "0", "--json"]) == 0

    # a folder written before --keep-checkpoints existed (no such key) still resumes
    stored.pop("keep-checkpoints")
    (run / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    assert cli.main(["train", "tiny", "0", *sets]) == 0
    assert (run / "command.txt").read_text().count("resume:") == 2
    capsys.readouterr()
