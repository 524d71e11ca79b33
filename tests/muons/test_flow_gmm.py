"""The muon spline flow and the weighted Gaussian mixture: weighted fits recover known weighted
densities, mixture parameters round-trip through their file, tiny runs train end to end and
generate into ROOT."""

import json

import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.muons import generate, gmm, rootio, train
from exagan_tf.muons import preprocess as pp


def test_weighted_em_recovers_weighted_component_shares():
    """Two equal-count clusters weighted 3 : 1 (and a weight gradient inside the first): the
    weighted mixture has shares 0.75 / 0.25 and the first cluster's mean is pulled to where
    the weight is; unweighted EM would give 0.5 / 0.5 and the cluster's centre."""
    rng = np.random.default_rng(0)
    a = rng.normal([-2.0, 0.0], 0.5, (4000, 2))
    b = rng.normal([2.0, 1.0], 0.3, (4000, 2))
    x = np.concatenate([a, b])
    wa = 3.0 * np.exp(2.0 * a[:, 1]) / np.exp(2.0 * a[:, 1]).mean()  # mean 3, tilted in y
    w = np.concatenate([wa, np.ones(4000)])
    gm, iters, hist = gmm.fit_weighted_mixture(x, w, components=2, init_rows=2000, seed=0)
    first = int(np.argmin(gm.means_[:, 0]))
    assert gm.weights_[first] == pytest.approx(0.75, abs=0.01)
    # weights exp(2y) on N(0, 0.5^2) in y shift the mean by 2 * 0.25 = 0.5
    assert gm.means_[first, 1] == pytest.approx(0.5, abs=0.05)
    assert gm.covariances_[first, 1, 1] == pytest.approx(0.25, rel=0.1)
    assert np.all(np.diff(hist) > -1e-9)  # EM never lowers the weighted likelihood
    assert iters < 200


def test_mixture_parameters_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3000, 3))
    gm, _, _ = gmm.fit_weighted_mixture(x, rng.uniform(0.1, 2, 3000), components=4,
                                        max_iter=5, init_rows=1000)
    path = tmp_path / "gmm.npz"
    gmm.save_mixture(path, gm, "mup_displaced", ("a", "b", "c"))
    back = gmm.load_mixture(path)
    np.testing.assert_array_equal(back.means, gm.means_)
    np.testing.assert_array_equal(back.covariances, gm.covariances_)
    np.testing.assert_allclose(back.score_samples(x[:50]), gm.score_samples(x[:50]), rtol=1e-12)
    assert back.category == "mup_displaced" and back.features == ("a", "b", "c")
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no pickle
        assert set(f.files) == {"weights", "means", "covariances", "category", "features"}
    # sampling follows the mixture: mean and covariance of many draws
    s = back.sample(200_000, seed=3)
    mean = back.weights @ back.means
    np.testing.assert_allclose(s.mean(0), mean, atol=0.01)
    with pytest.raises(UserError, match="already exists"):
        gmm.save_mixture(path, gm, "mup_displaced", ("a", "b", "c"))


def test_mixture_file_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(UserError, match="not an .npz"):
        gmm.load_mixture(bad)
    part = tmp_path / "part.npz"
    np.savez(part, weights=np.ones(2) / 2, means=np.zeros((2, 3)))
    with pytest.raises(UserError, match="no array 'covariances'"):
        gmm.load_mixture(part)
    odd = tmp_path / "odd.npz"
    np.savez(odd, weights=np.ones(2) / 2, means=np.zeros((2, 3)),
             covariances=-np.ones((2, 3, 3)), category=np.str_("x"), features=np.array(["a"]))
    with pytest.raises(UserError, match="not positive definite"):
        gmm.load_mixture(odd)


@pytest.fixture(scope="module")
def flow_run(preprocessed, tmp_path_factory):
    data, _ = preprocessed
    expts = tmp_path_factory.mktemp("flow_expts")
    argv = ["flow", "flow_test", "0", "--category", "mup_displaced", "--datadir", str(data),
            "--expts", str(expts)]
    assert train.main(argv) == 0
    return expts / "muon_flow_test" / "run0_mup_displaced", argv


def test_flow_run_outputs_and_resume(flow_run):
    run, argv = flow_run
    for name in ("fom_floor.json", "fom_untrained.json", "models/flow_best_rchi2.weights.h5",
                 "models/flow_final.keras", "models/final.json"):
        assert (run / name).exists(), name
    final = json.loads((run / "models" / "final.json").read_text())
    assert final["step"] == 4 and 0.0 <= final["auc"] <= 1.0 and final["train_seconds"] > 0
    assert train.main(argv) == 0
    assert "nothing to do" in (run / "train.log").read_text()
    kind, cfg, flow = train.load_trained(run, "best_rchi2")
    kind_f, _, flow_f = train.load_trained(run, "final")
    assert kind == kind_f == "flow" and cfg.layers == 2
    x, _ = pp.load_category(cfg.datadir, "mup_displaced", max_rows=32)
    np.testing.assert_allclose(flow.log_prob(x).numpy(), flow_f.log_prob(x).numpy(), atol=1e-5)


def test_generate_to_root_from_a_flow_and_a_mixture(flow_run, preprocessed, tmp_path):
    from exagan_tf.muons.flow import FlowGenerator

    run, _ = flow_run
    _, transforms = preprocessed
    _, _, flow = train.load_trained(run, "final")
    x, w = pp.load_category(preprocessed[0], "mup_prompt")
    gm, _, _ = gmm.fit_weighted_mixture(x, w, components=3, max_iter=3, init_rows=500)
    gmm.save_mixture(tmp_path / "g.npz", gm, "mup_prompt", pp.FEATURES_4)
    mixture = gmm.load_mixture(tmp_path / "g.npz")
    gens = {"mup_displaced": FlowGenerator(flow), "mup_prompt": mixture}
    trs = {c: transforms[c] for c in gens}
    res = generate.generate_to_root(gens, trs, 4000, tmp_path / "gen", per_file=1500,
                                    batch=1024, seed=1, progress=False)
    total = sum(res["counts"].values())
    assert abs(total - 4000) < 5 * np.sqrt(4000)
    back = [rootio.read_muons(f) for f in res["files"]]
    allm = {k: np.concatenate([b[k] for b in back]) for k in back[0]}
    assert len(allm["z"]) == total
    prompt = (allm["x"] == 0) & (allm["y"] == 0)
    assert prompt.sum() == res["counts"]["mup_prompt"]
    disp = transforms["mup_displaced"]
    z = allm["z"][~prompt]
    lo, hi = disp.min_max_1[2]
    assert z.min() >= lo - 1e-3 and z.max() <= hi + 1e-3 and np.std(z) > 0
    # the flow's muons are its inverse map of the same noise: the untrained-size flow of the
    # test run is close to the identity, so the generated features spread like normal noise
    u = disp.forward(np.stack([allm[k][~prompt] for k in ("x", "y", "z", "px", "py", "pz")], 1))
    assert 0.3 < np.std(u[:, 3]) < 1.0


def test_gmm_run(preprocessed, tmp_path):
    data, _ = preprocessed
    argv = ["gmm", "gmm_test", "0", "--category", "mum_prompt", "--datadir", str(data),
            "--expts", str(tmp_path)]
    assert train.main(argv) == 0
    run = tmp_path / "muon_gmm_test" / "run0_mum_prompt"
    final = json.loads((run / "models" / "final.json").read_text())
    assert {"auc", "rchi2", "train_seconds", "loglik"} <= set(final)
    kind, cfg, mixture = train.load_trained(run)
    assert kind == "gmm" and cfg.components == 3 and mixture.means.shape == (3, 4)
    assert train.main(argv) == 0  # fitted: left as it is
    assert "already fitted" in (run / "train.log").read_text()


def test_flow_latents_invert_exactly(flow_run):
    """The dangerous-region adapter: encode gives the exact base point, decode returns the
    muon (in [0, 1]), and the proposal width is the fixed kernel."""
    from exagan_tf.muons.flow import KERNEL, FlowLatents

    run, _ = flow_run
    _, cfg, flow = train.load_trained(run, "final")
    x, _ = pp.load_category(cfg.datadir, cfg.category, max_rows=64)
    u01 = ((np.clip(x, -0.99, 0.99) + 1) / 2).astype(np.float32)
    latents = FlowLatents(flow)
    z, logvar = latents.encode(u01)
    np.testing.assert_allclose(latents.decode(z), u01, atol=2e-4)
    np.testing.assert_allclose(logvar, 2 * np.log(KERNEL))
