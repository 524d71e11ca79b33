"""Preprocessing: categories, streaming min/max, blacklist, broadening, exact inversion,
weighted sampling."""

import json

import numpy as np
import pytest
from scipy import stats

from exagan_tf.errors import UserError
from exagan_tf.muons import preprocess as pp
from exagan_tf.muons import rootio, simulate


def test_split_categories():
    m = simulate.simulate_muons(4000, seed=2)
    cats = pp.split_categories(m)
    assert sum(len(w) for w, _ in cats.values()) == 4000
    assert cats["mup_prompt"][1].shape[1] == 4 and cats["mum_displaced"][1].shape[1] == 6
    prompt = (m["x"] == 0) & (m["y"] == 0)
    assert len(cats["mup_prompt"][0]) == np.sum(prompt & (m["id"] == -13))
    assert len(cats["mum_displaced"][0]) == np.sum(~prompt & (m["id"] == 13))
    assert pp.get_category(3).name == "mup_displaced"
    with pytest.raises(UserError, match="category 'tau'"):
        pp.get_category("tau")


def _raw_by_category(files):
    parts = [pp.split_categories(rootio.read_muons(f)) for f in files]
    return {
        c: (np.concatenate([p[c][0] for p in parts]), np.concatenate([p[c][1] for p in parts]))
        for c in pp.CATEGORIES
    }


def test_preprocess_ranges_inversion_and_weights(production, preprocessed):
    out, transforms = preprocessed
    files = sorted(production.glob("*.root"))[:3]
    raw = _raw_by_category(files)
    meta = json.loads((out / "transform.json").read_text())
    assert meta["blacklist"] == ["muons_0003.root"] and len(meta["files"]) == 3
    w_max = max(rootio.read_muons(f)["w"].max() for f in files)
    for name, tr in transforms.items():
        w, x = raw[name]
        np.testing.assert_allclose(np.asarray(tr.min_max_1)[:, 0], x.min(0))
        np.testing.assert_allclose(np.asarray(tr.min_max_1)[:, 1], x.max(0))
        feats, weights = pp.load_category(out, name)
        assert feats.shape == x.shape
        np.testing.assert_allclose(weights, w / w_max)
        assert tr.w_max == w_max and tr.count == len(w)
        np.testing.assert_allclose(feats.min(0), -1, atol=1e-6)
        np.testing.assert_allclose(feats.max(0), 1, atol=1e-6)
        np.testing.assert_allclose(feats, tr.forward(x), atol=1e-12)
        # exact inversion (float64), also of the stored values
        np.testing.assert_allclose(tr.inverse(tr.forward(x)), x, rtol=1e-12, atol=1e-9)
        span = np.ptp(x, axis=0)
        assert np.all(np.abs(tr.inverse(feats) - x) <= 1e-12 * span + 1e-9)
        reloaded = pp.load_transforms(out)[name]
        np.testing.assert_array_equal(reloaded.inverse(feats), tr.inverse(feats))


def test_broadening_formula(preprocessed):
    out, transforms = preprocessed
    tr = transforms["mup_displaced"]
    assert tr.broadened and not transforms["mup_prompt"].broadened
    u = tr.normalise(np.array([[0.0, 0.0, -7000, 0.1, 0.1, 50.0]]))
    m = np.asarray(tr.means)
    v = m + np.sign(u[0, :2] - m) * np.sqrt(np.abs(u[0, :2] - m))
    mm2 = np.asarray(tr.min_max_2)
    expected = 2 * (v - mm2[:, 0]) / (mm2[:, 1] - mm2[:, 0]) - 1
    np.testing.assert_allclose(
        tr.forward(np.array([[0.0, 0.0, -7000, 0.1, 0.1, 50.0]]))[0, :2], expected
    )
    # broadening widens the sharply peaked StartX: the central 50% covers more of [-1, 1]
    feats, _ = pp.load_category(out, "mup_displaced")
    iqr_broad = np.subtract(*np.quantile(feats[:, 0], [0.75, 0.25]))
    iqr_plain = np.subtract(*np.quantile(tr.inverse(feats)[:, 0], [0.75, 0.25]))
    iqr_plain *= 2 / np.ptp(np.asarray(tr.min_max_1)[0])
    assert iqr_broad > 3 * iqr_plain


def test_blacklist_excludes_rogue_file(production, tmp_path):
    tr = pp.preprocess([production], tmp_path / "all", progress=False)
    assert tr["mup_prompt"].min_max_1[0][0] < simulate.Z_TARGET_START - 50
    bl = tmp_path / "blacklist.txt"
    bl.write_text("# bad charm file\nmuons_0003.root\n")
    clean = pp.preprocess([production], tmp_path / "clean", pp.read_blacklist(bl), progress=False)
    assert clean["mup_prompt"].min_max_1[0][0] >= simulate.Z_TARGET_START
    with pytest.raises(UserError, match="refusing to overwrite"):
        pp.preprocess([production], tmp_path / "clean", progress=False)


def test_empty_category_and_nan_momenta(tmp_path):
    prompt_only = simulate.simulate_muons(500, seed=4, prompt_fraction=1.0)
    rootio.write_muons(tmp_path / "p" / "a.root", prompt_only)
    with pytest.raises(UserError, match="category 'mup_displaced' has 0 muons"):
        pp.preprocess([tmp_path / "p"], tmp_path / "out", progress=False)
    m = simulate.simulate_muons(500, seed=4)
    m["px"][3] = np.nan
    rootio.write_muons(tmp_path / "n" / "b.root", m)
    with pytest.raises(UserError, match="b.root: branch 'px' has 1 non-finite"):
        pp.preprocess([tmp_path / "n"], tmp_path / "out2", progress=False)
    with pytest.raises(UserError, match="no such file or folder"):
        pp.preprocess([tmp_path / "nothing"], tmp_path / "out3", progress=False)


def test_weighted_sampling_statistics():
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    s = pp.WeightedSampler(w, seed=0)
    n = 100_000
    counts = np.bincount(s.indices(n), minlength=5)
    assert counts[4] == 0
    assert stats.chisquare(counts[:4], n * w[:4] / w.sum()).pvalue > 1e-3
    x = np.arange(5, dtype=np.float32)[:, None]
    ds = pp.weighted_dataset(x, w, batch_size=1000, seed=3)
    drawn = np.concatenate([b.numpy()[:, 0] for b in ds.take(50)]).astype(int)
    c2 = np.bincount(drawn, minlength=5)
    assert c2[4] == 0 and stats.chisquare(c2[:4], 50_000 * w[:4] / w.sum()).pvalue > 1e-3
    again = np.concatenate([b.numpy()[:, 0] for b in pp.weighted_dataset(x, w, 1000, 3).take(50)])
    np.testing.assert_array_equal(drawn, again.astype(int))
    with pytest.raises(UserError, match="finite and >= 0"):
        pp.WeightedSampler(np.array([1.0, -1.0]))
    with pytest.raises(UserError, match="all weights are zero"):
        pp.WeightedSampler(np.zeros(3))
