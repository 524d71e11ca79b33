"""The command line end to end: training steps, the command file, resume, refusals, errors."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import yaml

from exagan_tf.cmb import evaluate
from exagan_tf.cmb.config import CMBConfig
from exagan_tf.cmb.main import main, parse_args, reproduce_command, run_config

EXPERIMENTS = "experiments/cmb/experiments.yaml"


def tiny_argv(data_dir, out_dir, *extra):
    return ["--experiment", f"{EXPERIMENTS}:tiny", "--data-dir", str(data_dir),
            "--output-dir", str(out_dir), "--ndeg", "1.25", "-vs", "0.25", *extra]


@pytest.fixture(scope="module")
def trained(tiny_data_dir, tmp_path_factory, request):
    """One tiny adversarial astroencoder run (q,u -> e, 1 epoch of 4 steps)."""
    out = tmp_path_factory.mktemp("cmb_runs")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(request.config.rootpath)
    argv = tiny_argv(tiny_data_dir, out, "--spectra-weight", "1.0")
    assert main(argv) == 0
    yield out / "astroencoder_qu-e_noise0", argv
    monkeypatch.undo()


def test_training_writes_the_model_folder(trained):
    folder, _ = trained
    for name in ("command", "config.yaml", "command.txt", "train.log", "metrics.json",
                 "spectra.png", "models/generator_final.keras", "models/g_best_residual_ratio"
                 ".weights.h5"):
        assert (folder / name).exists(), name
    assert list((folder / "checkpoints").glob("ckpt-4*"))  # 18 maps / batch 4 = 4 steps
    assert list((folder / "logs").glob("events.out.tfevents*"))
    log = (folder / "train.log").read_text()
    assert "step 4/4" in log and "g_extra_loss" in log and "d_loss" in log
    metrics = json.loads((folder / "metrics.json").read_text())
    e = metrics["channels"]["e"]
    assert metrics["n_val"] == 6 and e["baseline_name"].startswith("analytic E")
    assert len(e["model"]["r"]) == len(e["ell_edges"]) - 1
    assert all(np.isfinite(e["model"]["residual_ratio"]))
    assert "ell band" in evaluate.format_table(metrics)


def test_command_file_reproduces_the_configuration(trained):
    folder, argv = trained
    words = shlex.split((folder / "command").read_text())
    assert words[:3] == ["python", "-m", "exagan_tf.cmb.main"]
    assert "--experiment" not in words and "--no-generator-use-bias" in words
    assert run_config(parse_args(words[3:])) == run_config(parse_args(argv))
    assert reproduce_command(parse_args(words[3:])) == " ".join(shlex.quote(w) for w in words)
    stored = yaml.safe_load((folder / "config.yaml").read_text())
    assert stored["spectra-weight"] == 1.0 and stored["filters"] == 4 and "epochs" not in stored


def test_same_config_resumes_other_config_is_refused(trained, capsys):
    folder, argv = trained
    # the same flags resume: nothing left to train, the evaluation is redone
    assert main(argv) == 0
    assert "resume:" in (folder / "command.txt").read_text().splitlines()[-1]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--lambda", "10"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "different configuration" in err and "'lambda'" in err


def test_evaluate_cli_and_table(trained, capsys):
    folder, _ = trained
    assert evaluate.main([str(folder)]) == 0
    assert "channel e" in capsys.readouterr().out
    assert evaluate.main(["--table", str(folder.parent), "--untrained-seeds", "2"]) == 0
    table = capsys.readouterr().out
    assert "| astroencoder (qu, astroencoder_qu-e_noise0) |" in table
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
    assert rows[1:5] == [
        "| floor: the unlensed E shifted by the patch-mean deflection",
        "| baseline: analytic E from lensed q, u",
        "| astroencoder (qu, astroencoder_qu-e_noise0)",
        "| untrained astroencoder (qu, astroencoder_qu-e_noise0, seeds 483–484)"]
    # the untrained row: the generator of the flags in the folder's `command`, at seeds 483, 484
    words = shlex.split((folder / "command").read_text())
    args = CMBConfig.from_args(parse_args(words[3:]))
    assert args.seed == 483 and args.spectra_weight == 1.0
    runs = evaluate.untrained_metrics(args, [483, 484])
    row = next(line for line in table.splitlines() if line.startswith("| untrained"))
    first = row.split(" | ")[1]

    def span(key):  # one value when the seeds agree to 3 decimals, else the range
        lo, hi = (f"{f(r['e']['model'][key][0] for r in runs.values()):.3f}" for f in (min, max))
        return lo if lo == hi else f"{lo}{' to ' if '-' in lo + hi else '–'}{hi}"

    assert first == f"{span('residual_ratio')} ({span('r')})"
    assert "–" in first or " to " in first  # two seeds, two networks
    floor = evaluate.baseline_budget(args.data_dir, 0.0, 0.25, 483, None,
                                     only=("mean-deflection floor",))
    assert f"| {floor['rows']['mean-deflection floor'][0]:.3f} (" in table


@pytest.mark.parametrize(
    "flags, message",
    [
        (["-i", "qx"], "unknown channel letter 'x'"),
        (["-o", "z"], "unknown channel letter 'z'"),
        (["-vs", "1.5"], r"expected a fraction in \(0, 1\)"),
        (["-vs", "0"], r"expected a fraction in \(0, 1\)"),
        (["--data-dir", "/nonexistent/cmb"], "no such directory"),
        (["--gpus", "12"], "GPU 1 does not exist"),
        (["--gpus", "1a"], "expected distinct GPU digits"),
        (["-gdrop", "1.0"], r"expected \[0, 1\)"),
        (["-i", "qu", "-o", "u"], "repeats an input channel"),
        (["--experiment", f"{EXPERIMENTS}:Test9"], "unknown tag 'Test9'"),
    ],
)
def test_bad_input_is_one_line_error(tiny_data_dir, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exc:
        main(tiny_argv(tiny_data_dir, tmp_path, *flags))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert __import__("re").search(message, err), err


def test_original_experiments_are_runnable_configurations():
    for tag, (inputs, outputs, arch, epochs, lam, residuals) in {
        "Test0": ("qu", "e", "astroencoder", 150, 100.0, True),
        "Test1": ("qu", "k", "astroencoder", 100, 100.0, True),
        "Test2": ("quek", "b", "pix2pix", 250, 10.0, False),
    }.items():
        a = parse_args(["--experiment", f"{EXPERIMENTS}:{tag}"])
        assert (a.inputs, a.outputs, a.architecture, a.epochs, a.lambda_) == (
            inputs, outputs, arch, epochs, lam)
        assert a.no_generator_use_bias and not a.no_adversarial and not a.no_skip_connections
        assert a.no_residuals is (not residuals) and a.noise == 0.0
        cpu = parse_args(["--experiment", f"{EXPERIMENTS}:{tag}_cpu"])
        assert (cpu.inputs, cpu.outputs, cpu.architecture, cpu.lambda_) == (
            inputs, outputs, arch, lam)
        assert cpu.data_dir == "data/cmb" and cpu.filters < 64


def test_delensing_configuration_trains_and_reloads(tiny_data_dir, tmp_path, monkeypatch,
                                                    request):
    """The Delens_cpu flags on the tiny maps: e and kappa evaluated, the saved generator (with
    its stages and skip) reloads under safe_mode and reproduces metrics.json."""
    monkeypatch.chdir(request.config.rootpath)
    argv = tiny_argv(tiny_data_dir, tmp_path, "-i", "quEB", "-o", "ek", "--analytic-skip",
                     "--kappa-stage", "--no-adversarial", "-gdrop", "0")
    assert main(argv) == 0
    folder = tmp_path / "astroencoder_quEB-ek_noise0"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["channels"]) == {"e", "k"}
    assert metrics["channels"]["k"]["baseline_name"] == "zero"
    words = shlex.split((folder / "command").read_text())
    assert "--kappa-stage" in words and "--analytic-skip" in words
    again = evaluate.evaluate_model(folder)
    for c in "ek":
        assert np.allclose(again["channels"][c]["model"]["residual_ratio"],
                           metrics["channels"][c]["model"]["residual_ratio"], rtol=1e-4)
    # untrained, the skip makes the e output the analytic E: its row is the baseline's
    table = evaluate.collect_table(tmp_path, floor=False)
    e_part = table.split("### E (e)")[1].split("###")[0].splitlines()
    cells = {line.split(" | ")[0]: line.split(" | ", 1)[1] for line in e_part if line[:2] == "| "}
    assert cells["| untrained astroencoder (quEB, astroencoder_quEB-ek_noise0, seed 483)"] == \
        cells["| baseline: analytic E from lensed q, u"]


def test_delens_tag():
    a = parse_args(["--experiment", f"{EXPERIMENTS}:Delens_cpu"])
    assert (a.inputs, a.outputs, a.architecture) == ("quEB", "ek", "astroencoder")
    assert a.analytic_skip and a.kappa_stage and a.no_adversarial
    assert a.generator_dropout_ratio == 0.0 and a.learning_rate == 1e-3
