"""End to end: train tiny GAN and VAE runs through the shared loops, resume, generate to ROOT;
CLI errors. (The dangerous region: test_dangerous.py.)"""

import json

import numpy as np
import pytest
import uproot

from exagan_tf.muons import generate, models, rootio, train
from exagan_tf.muons import preprocess as pp


@pytest.fixture(scope="module")
def gan_run(preprocessed, tmp_path_factory):
    data, _ = preprocessed
    expts = tmp_path_factory.mktemp("expts")
    argv = [
        "gan",
        "gan_test",
        "0",
        "--category",
        "1",
        "--datadir",
        str(data),
        "--expts",
        str(expts),
        "-nG",
        "0.125",
        "-l",
        "1e-3",
    ]
    assert train.main(argv) == 0
    return expts / "muon_gan_test" / "run0_mup_prompt", argv


def test_gan_run_outputs_and_resume(gan_run, capsys):
    run, argv = gan_run
    for name in (
        "config.yaml",
        "fom_floor.json",
        "fom_untrained.json",
        "train.log",
        "models/g_best_rchi2.weights.h5",
        "models/g_best_nonoverlap.weights.h5",
        "models/g_best_auc_gap.weights.h5",
        "models/generator_final.keras",
    ):
        assert (run / name).exists(), name
    untrained = json.loads((run / "fom_untrained.json").read_text())
    floor = json.loads((run / "fom_floor.json").read_text())
    assert untrained["auc"] > floor["auc"]
    # the floor: copies of the training muons against the held-out sample, 3 draws
    assert floor["draws"] == 3 and floor["auc_min"] <= floor["auc"] <= floor["auc_max"]
    final = json.loads((run / "models" / "final.json").read_text())
    for rec in (untrained, final):  # the memorisation check beside the AUC
        assert rec["nn_ratio"] > 0 and 0 <= rec["nn_close"] <= 1
    log = (run / "train.log").read_text()
    assert "FOM floor (copies of training muons vs held-out muons, 3 draws" in log
    assert "nn_close=" in log
    assert "node_factor_G: 0.125" in (run / "config.yaml").read_text()
    assert any(p.name.startswith("events") for p in (run / "logs").iterdir())
    assert train.main(argv) == 0  # resumes: already trained
    assert "nothing to do" in (run / "train.log").read_text()
    with pytest.raises(SystemExit) as err:
        train.main([*argv[:-2], "-l", "2e-3"])
    assert err.value.code == 2
    assert "different config" in capsys.readouterr().err


def test_generate_to_root(gan_run, preprocessed, tmp_path):
    run, _ = gan_run
    data, transforms = preprocessed
    kind, cfg, g = train.load_trained(run, "best_rchi2")
    folded = models.FoldedGenerator.from_keras(g)
    gens = {c: folded for c in pp.CATEGORIES if pp.CATEGORIES[c].prompt}
    gens.update(
        {
            c: models.FoldedGenerator.from_keras(models.build_generator(6, 0.125))
            for c in pp.CATEGORIES
            if not pp.CATEGORIES[c].prompt
        }
    )
    res = generate.generate_to_root(
        gens, transforms, 5000, tmp_path / "gen", per_file=2000, batch=1024, seed=1, progress=False
    )
    total = sum(res["counts"].values())
    assert abs(total - 5000) < 5 * np.sqrt(5000) and len(res["files"]) == -(-total // 2000)
    means = generate.category_means(transforms, 5000, "weight")
    for c, m in means.items():
        assert abs(res["counts"][c] - m) < 5 * np.sqrt(m) + 1
    back = [rootio.read_muons(f) for f in res["files"]]
    assert sum(len(b["z"]) for b in back) == total
    with uproot.open(res["files"][0]) as f:
        assert f[rootio.TREE_NAME].classname == "TTree"
    allm = {k: np.concatenate([b[k] for b in back]) for k in back[0]}
    prompt = (allm["x"] == 0) & (allm["y"] == 0)
    n_prompt = res["counts"]["mup_prompt"] + res["counts"]["mum_prompt"]
    assert prompt.sum() == n_prompt
    # inverse transform: generated prompt StartZ inside the category's range
    tr = transforms["mup_prompt"]
    z = allm["z"][prompt & (allm["id"] == -13)]
    assert z.min() >= tr.min_max_1[0][0] - 1e-3 and z.max() <= tr.min_max_1[0][1] + 1e-3
    np.testing.assert_allclose(allm["w"], res["weight_per_muon"], rtol=1e-6)


def test_both_generation_engines_write_the_same_muons(gan_run, preprocessed, tmp_path):
    """``generate --engine keras`` (the default) and ``--engine numpy`` (batch norm folded)."""
    run, _ = gan_run
    data, transforms = preprocessed
    _, _, g = train.load_trained(run, "final")
    prompt = {c: t for c, t in transforms.items() if pp.CATEGORIES[c].prompt}
    got = {}
    for engine, gen in (("keras", g), ("numpy", models.FoldedGenerator.from_keras(g))):
        res = generate.generate_to_root({c: gen for c in prompt}, prompt, 3000,
                                        tmp_path / engine, seed=2, progress=False)
        got[engine] = rootio.read_muons(res["files"][0])
    assert len(got["keras"]["pz"]) > 2000
    for key in ("px", "py", "pz", "z"):
        np.testing.assert_allclose(got["keras"][key], got["numpy"][key], rtol=1e-4, atol=1e-4)
    assert generate.parse_args(["--data", "d", "--out", "o"]).engine == "keras"


def test_vae_train(vae_run):
    run, _ = vae_run
    for name in ("fom_floor.json", "fom_untrained.json", "models/decoder_best_rchi2.weights.h5"):
        assert (run / name).exists(), name
    kind, cfg, vae = train.load_trained(run, "final")
    assert kind == "vae" and cfg.xent_factor == 10 and cfg.dropout == 0.0
    dec = vae.decoder
    assert not any(la.__class__.__name__ == "Dropout" for la in dec.layers)
    x, _ = pp.load_category(cfg.datadir, "mup_prompt", max_rows=64)
    out = vae.reconstruct(((x + 1) / 2).astype("float32"))
    assert out.shape == (64, 4) and np.all((out > 0) & (out < 1))
    untrained = json.loads((run / "fom_untrained.json").read_text())
    floor = json.loads((run / "fom_floor.json").read_text())
    assert untrained["auc"] > floor["auc"]


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        train.main(["gan", "gan_test", "0", "--datadir", str(tmp_path / "none")])
    assert err.value.code == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["gan", "vae_test", "0"])
    assert "not a gan tag" in capsys.readouterr().err
    assert train.main(["gan", "gan_test", "0", "--dry-run", "-nG", "2"]) == 0
    assert "node_factor_G: 2" in capsys.readouterr().out
