"""Targeted generation in the dangerous region: weighted KS, importance weights, enrichment and
fidelity against a VAE stand-in whose answers are known, the reference file, errors."""

import json

import numpy as np
import pytest
from scipy.stats import ks_2samp

from exagan_tf.errors import UserError
from exagan_tf.muons import dangerous as dg
from exagan_tf.muons.preprocess import FEATURES_4, CategoryTransform

# prompt muons: StartZ [-7084.5, -6460] cm, Px, Py [-8, 8] GeV/c, Pz [0, 400] GeV/c
TRANSFORM = CategoryTransform(
    "mup_prompt", FEATURES_4, [[-7084.5, -6460.0], [-8.0, 8.0], [-8.0, 8.0], [0.0, 400.0]]
)


class LinearVAE:
    """A VAE stand-in with latent = data space: decoder t = a z (+ shift on Pz), encoder its
    inverse with posterior sigma 0.1. Its prior samples are t ~ N(0, a^2): with a = 0.1,
    p_T = 0.8 |z_xy| GeV/c, so the dangerous fraction is P(|z_xy| > 3.75) = exp(-3.75^2 / 2)
    (p > 100 GeV/c needs z_Pz > -5, certain to 3e-7)."""

    def __init__(self, a=0.1, pz_shift=0.0):
        self.a, self.shift = a, np.array([0.0, 0.0, 0.0, pz_shift])

    def encode(self, u):
        t = 2.0 * np.asarray(u, np.float64) - 1.0
        return t / self.a, np.full(t.shape, np.log(0.01))

    def decode(self, z):
        return (self.a * np.asarray(z, np.float64) + self.shift + 1.0) / 2.0


MODEL_FRACTION = np.exp(-(3.75**2) / 2)


def real_dangerous(n=60, seed=3):
    """Raw dangerous muons (pT 3.2-4.4 GeV/c, pz 150-250 GeV/c) and weights over 2 decades."""
    rng = np.random.default_rng(seed)
    pt, phi = rng.uniform(3.2, 4.4, n), rng.uniform(0, 2 * np.pi, n)
    x = np.stack(
        [
            rng.uniform(-7080, -6500, n),
            pt * np.cos(phi),
            pt * np.sin(phi),
            rng.uniform(150, 250, n),
        ],
        axis=1,
    )
    return x, rng.choice([0.109, 10.9], n)


def test_weighted_ks():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.0, size=200)
    assert dg.weighted_ks(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    # integer weights = repeated entries, ties included
    ai = rng.integers(0, 5, 50).astype(float)
    wa = rng.integers(1, 4, 50)
    assert dg.weighted_ks(ai, b, wa) == pytest.approx(
        ks_2samp(np.repeat(ai, wa), b).statistic, abs=1e-12
    )
    assert dg.weighted_ks(a, a, np.ones(300), 7 * np.ones(300)) == 0.0
    with pytest.raises(UserError, match="positive weight"):
        dg.weighted_ks(a, b, np.zeros(300))


def test_importance_weights():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(1000, 3))
    # proposal = the prior itself: every weight is 1
    r = dg.importance_weights(z, np.zeros((1, 3)), np.zeros((1, 3)), np.ones(1), chunk=64)
    np.testing.assert_allclose(r, 1.0, rtol=1e-12)
    # two components in 1-D, by hand
    zz = np.array([[0.5], [-2.0]])
    mean, logvar, pi = np.array([[1.0], [-1.0]]), np.log([[0.25], [4.0]]), np.array([0.3, 0.7])

    def npdf(x, m, v):
        return np.exp(-((x - m) ** 2) / (2 * v)) / np.sqrt(2 * np.pi * v)

    q = 0.3 * npdf(zz[:, 0], 1.0, 0.25) + 0.7 * npdf(zz[:, 0], -1.0, 4.0)
    expect = npdf(zz[:, 0], 0.0, 1.0) / q
    np.testing.assert_allclose(dg.importance_weights(zz, mean, logvar, pi), expect, rtol=1e-12)


def model_dangerous(vae, n_keep, seed):
    """Dangerous muons drawn from the stand-in's own distribution (the case real = model),
    weights independent of the kinematics."""
    rng = np.random.default_rng(seed)
    raw = TRANSFORM.inverse(2 * vae.decode(rng.standard_normal((1_000_000, 4))) - 1)
    x = raw[dg.is_dangerous("mup_prompt", raw)][:n_keep]
    return x, rng.choice([0.109, 10.9], len(x))


def test_targeted_generation_enrichment_and_weights():
    vae = LinearVAE()
    x, w = model_dangerous(vae, 300, seed=4)
    n, real_fraction = 100_000, 2e-4
    r = dg.targeted_generation(vae, TRANSFORM, x, w, real_fraction, n=n, seed=0)
    assert r["n_real_dangerous"] == 300 and r["n_seeds"] == 150 and r["n_held_out"] == 150
    assert r["seeds_clipped"] == 0
    # prior sampling hits the region at the model's rate, about 88 of 100k
    assert abs(r["prior_count"] - n * MODEL_FRACTION) < 4 * np.sqrt(n * MODEL_FRACTION)
    # the weights r: E_q[r] = 1, bounded by 1 / prior_mix, and the weighted targeted muons
    # estimate the model's rate without bias
    assert r["is_mean_weight"] == pytest.approx(1.0, abs=0.01)
    assert abs(r["model_fraction_is"] - MODEL_FRACTION) < 4 * r["model_fraction_is_error"]
    # latents drawn near the seeds land in the region most of the time (10% from the prior)
    assert 0.6 < r["targeted_fraction"] < 0.9
    assert r["enrichment"] == pytest.approx(r["targeted_fraction"] / real_fraction)
    assert r["enrichment_vs_prior"] == pytest.approx(r["targeted_fraction"] / r["prior_fraction"])
    assert r["enrichment_vs_prior"] > 300
    # real = model: what is generated there matches the held-out real muons about as well as
    # two real samples (150 each, weights over two decades) match each other
    for k in ("StartZ", "Px", "Py", "Pz", "p", "pT"):
        assert 0 < r["ks_floor"][k] < 0.35, k
        assert r["ks_gen_unweighted"][k] < r["ks_floor"][k] + 0.12, k
    # a decoder that puts Pz 50 GeV/c too high is caught by both fidelity numbers
    bad = dg.targeted_generation(LinearVAE(pz_shift=0.25), TRANSFORM, x, w, real_fraction, n=20_000)
    assert bad["ks_gen"]["Pz"] > 0.6 and bad["ks_gen_unweighted"]["Pz"] > 0.6
    assert bad["gen_mean_p"] > bad["real_mean_p"] + 30
    assert bad["ks_gen_unweighted"]["StartZ"] < 0.3  # the other features stay right
    with pytest.raises(UserError, match="prior_mix"):
        dg.targeted_generation(vae, TRANSFORM, x, w, real_fraction, n=10, prior_mix=1.0)


def test_targeted_generation_errors():
    x, w = real_dangerous(6)
    with pytest.raises(UserError, match="at least 4"):
        dg.targeted_generation(LinearVAE(), TRANSFORM, x[:3], w[:3], 1e-4, n=10)
    safe = x.copy()
    safe[:, 1:3] = 0.1  # pT 0.14 GeV/c: not dangerous, dropped
    with pytest.raises(UserError, match="0 real dangerous"):
        dg.targeted_generation(LinearVAE(), TRANSFORM, safe, w, 1e-4, n=10)
    with pytest.raises(UserError, match="expected"):
        dg.targeted_generation(LinearVAE(), TRANSFORM, x[:, :3], w, 1e-4, n=10)
    with pytest.raises(UserError, match="real_fraction"):
        dg.targeted_generation(LinearVAE(), TRANSFORM, x, w, 0.0, n=10)


def test_reference_simulate_save_load(tmp_path):
    ref = dg.simulate_reference(30_000, seed=5, chunk=11_000)
    assert sum(v["count"] for v in ref.values()) == 30_000
    for c, v in ref.items():
        assert len(v["x"]) == len(v["w"]) and dg.is_dangerous(c, v["x"]).all()
    path = tmp_path / "ref.npz"
    dg.save_reference(path, ref, 30_000, 5)
    with pytest.raises(UserError, match="already exists"):
        dg.save_reference(path, ref, 30_000, 5)
    back = dg.load_reference(path, "mum_prompt")
    np.testing.assert_array_equal(back["x"], ref["mum_prompt"]["x"])
    assert back["count"] == ref["mum_prompt"]["count"]
    assert back["fraction"] == pytest.approx(
        ref["mum_prompt"]["w"].sum() / ref["mum_prompt"]["weight_sum"]
    )
    with pytest.raises(UserError, match="no such reference"):
        dg.load_reference(tmp_path / "none.npz", 1)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(UserError, match="not a dangerous-region reference"):
        dg.load_reference(tmp_path / "other.npz", 1)


def test_evaluate_cli_on_trained_vae(preprocessed, vae_run, tmp_path, capsys):
    _, transforms = preprocessed
    run, _ = vae_run
    # a reference of real dangerous muons inside this small production's range
    tr = transforms["mup_prompt"]
    mm = np.asarray(tr.min_max_1)
    x, w = real_dangerous(20)
    x[:, 0] = np.clip(x[:, 0], *mm[0])
    ref = {
        c: {
            "x": np.zeros((0, 4 if "prompt" in c else 6)),
            "w": np.zeros(0),
            "count": 0,
            "weight_sum": 0.0,
        }
        for c in ("mum_prompt", "mup_displaced", "mum_displaced")
    }
    ref["mup_prompt"] = {"x": x, "w": w, "count": 100_000, "weight_sum": w.sum() * 1e4}
    dg.save_reference(tmp_path / "ref.npz", ref, 100_000, 0)
    cli = ["evaluate", str(run), "--reference", str(tmp_path / "ref.npz"), "--n", "3000"]
    cli += ["--out", str(tmp_path / "dangerous.json")]
    assert dg.main(cli) == 0
    out = json.loads((tmp_path / "dangerous.json").read_text())
    assert out["real_fraction"] == pytest.approx(1e-4)
    assert out["n_real_dangerous"] == 20 and out["n"] == 3000
    assert out["enrichment"] == pytest.approx(out["targeted_fraction"] / 1e-4)
    assert "enrichment" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:  # never overwritten
        dg.main(cli)
    assert err.value.code == 2 and "already exists" in capsys.readouterr().err
    ref["mup_prompt"] = {"x": np.zeros((0, 4)), "w": np.zeros(0), "count": 10, "weight_sum": 1.0}
    dg.save_reference(tmp_path / "none.npz", ref, 10, 0)
    with pytest.raises(SystemExit):
        dg.main(["evaluate", str(run), "--reference", str(tmp_path / "none.npz")])
    assert "0 real dangerous muons" in capsys.readouterr().err
