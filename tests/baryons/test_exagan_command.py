"""`exagan train/analyze/generate` on the baryon `cvae_test` tag: expts/TAG/runRUN under the
working directory, the overrides in its config, rerunning resumes."""

import numpy as np
import yaml

from exagan_tf import cli


def test_train_resume_analyze_paint_through_exagan(tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"datadir={tiny_data}", "--set", "stages=[[1, 2, 0.001]]"]
    assert cli.main(["train", "cvae_test", "0", *sets]) == 0
    run = tmp_path / "expts" / "cvae_test" / "run0"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["datadir"] == str(tiny_data) and stored["stages"] == [[1, 2, 0.001]]
    assert (run / "models" / "decoder_final.keras").is_file()
    assert cli.main(["train", "cvae_test", "0", *sets]) == 0
    assert "nothing to do" in (run / "train.log").read_text()
    assert cli.main(["analyze", "cvae_test", "0", "--pairs", "4"]) == 0
    dm = np.random.default_rng(0).lognormal(size=(64, 64)).astype(np.float32)
    np.save(tmp_path / "dm.npy", dm)
    assert cli.main(["generate", "cvae_test", "0", "--dm", "dm.npy", "--z", "0",
                     "--out", "p.npy"]) == 0
    painted = np.load(tmp_path / "p.npy")
    assert painted.shape == dm.shape and np.all(np.isfinite(painted))
    capsys.readouterr()
