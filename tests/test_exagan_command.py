"""`exagan train` / `exagan analyze` on the ExaGAN `test` tag: the run is expts/TAG/runRUN under
the working directory, --set is recorded in its config (so rerunning resumes), it trains the
same numbers as `python -m exagan_tf.train` with the same values, and `make train` runs
`exagan train`."""

import subprocess

import yaml

from exagan_tf import cli
from exagan_tf import train as exagan_train
from tests.conftest import REPO


def _losses(run):
    return [line.split(" ", 1)[1].split(" | ")[0] for line in (run / "train.log").read_text()
            .splitlines() if " step " in line and "/" in line.split(" step ")[1][:6]]


def test_train_resume_analyze_through_exagan(tiny_experiment, tmp_path, monkeypatch, capsys):
    cfg_file, expts = tiny_experiment
    datadir = yaml.safe_load(cfg_file.read_text())["test"]["datadir"]
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"datadir={datadir}", "--set", "Nepochs=1", "--set", "batchsize=32"]
    assert cli.main(["train", "test", "0", *sets]) == 0
    run = tmp_path / "expts" / "test" / "run0"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["datadir"] == datadir and (stored["Nepochs"], stored["batchsize"]) == (1, 32)
    assert "exagan_tf.cli train test 0 --set" in (run / "command.txt").read_text()
    assert (run / "models" / "generator_final.keras").is_file()
    assert cli.main(["train", "test", "0", *sets]) == 0  # the same command resumes
    assert "nothing to do" in (run / "train.log").read_text()
    assert cli.main(["analyze", "test", "0", "--n", "16"]) == 0
    assert (run / "analysis" / "best_chisq" / "metrics.json").is_file()

    # the design card's entry point with the same values trains the same losses
    cfg = yaml.safe_load(cfg_file.read_text())
    cfg["test"].update(Nepochs=1, batchsize=32)
    cfg_file.write_text(yaml.safe_dump(cfg))
    assert exagan_train.main(["test", "1", "--config-file", str(cfg_file), "--expts",
                              str(expts)]) == 0
    assert _losses(run) and _losses(run) == _losses(expts / "test" / "run1")
    # a run the entry point made resumes through exagan with the same values (one rule)
    assert cli.main(["train", "test", "1", "--expts", str(expts), *sets]) == 0
    assert "nothing to do" in (expts / "test" / "run1" / "train.log").read_text()
    capsys.readouterr()


def test_make_train_and_analyze_run_exagan_for_every_system():
    for tag in ("demo", "cvae_demo", "gan_demo", "gr_demo", "Test0_cpu"):
        out = subprocess.run(["make", "-n", "train", "analyze", f"CONFIG={tag}", "RUN=3",
                              "VENV=/nonexistent"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
        assert f"-m exagan_tf.cli train {tag} 3" in out, out
        assert f"-m exagan_tf.cli analyze {tag} 3" in out, out
