"""FairShip's own muon files: TNtuple 11/17 leaves with neutrinos, mixed folders, double
branches, empty trees, cbmsim simulation output, and generated files bound as
MuonBackGenerator binds them. Files are written by ``fairship_files`` (not by rootio)."""

import json

import numpy as np
import pytest
import uproot

from exagan_tf.errors import UserError
from exagan_tf.muons import fairship_bind, generate, models, rootio
from exagan_tf.muons import preprocess as pp

from . import fairship_files as ff


def _cats(muons):
    return {k: (len(w), float(w.sum())) for k, (w, _) in pp.split_categories(muons).items()}


def test_checksum_algorithm_reproduces_roots(tmp_path):
    """The TNtuple checksum's algorithm gives the checksums ROOT stored for TObject, TNamed
    and TTree (streamers uproot copies from ROOT-written files)."""
    path = ff.write_tntuple(tmp_path / "n.root", {"id": np.zeros(3)}, "id")
    with uproot.open(path) as f:
        stored = {c: f.file.streamer_named(c, v).member("fCheckSum")
                  for c, v in (("TObject", 1), ("TNamed", 1), ("TTree", 20), ("TNtuple", 2))}
    tobject = ff.root_checksum("TObject", [], [("fUniqueID", "unsigned int", ""),
                                               ("fBits", "unsigned int", "")])
    tnamed = ff.root_checksum("TNamed", [("TObject", tobject)],
                              [("fName", "TString", ""), ("fTitle", "TString", "")])
    long64 = [(m, "Long64_t", "") for m in ("fEntries", "fTotBytes", "fZipBytes",
                                           "fSavedBytes", "fFlushedBytes")]
    ints = [(m, "int", "") for m in ("fTimerInterval", "fScanField", "fUpdate",
                                     "fDefaultEntryOffsetLen", "fNClusterRange")]
    more = [(m, "Long64_t", "") for m in ("fMaxEntries", "fMaxEntryLoop", "fMaxVirtualSize",
                                         "fAutoSave", "fAutoFlush", "fEstimate")]
    rest = [("fClusterRangeEnd", "Long64_t*", "fNClusterRange"),
            ("fClusterSize", "Long64_t*", "fNClusterRange"),
            ("fIOFeatures", "ROOT::TIOFeatures", ""), ("fBranches", "TObjArray", ""),
            ("fLeaves", "TObjArray", ""), ("fAliases", "TList*", ""),
            ("fIndexValues", "TArrayD", ""), ("fIndex", "TArrayI", ""),
            ("fTreeIndex", "TVirtualIndex*", ""), ("fFriends", "TList*", ""),
            ("fUserInfo", "TList*", ""), ("fBranchRef", "TBranchRef*", "")]
    bases = [("TNamed", tnamed), ("TAttLine", 0x94074549), ("TAttFill", 0xFFD92A92),
             ("TAttMarker", 0x291D8BEC)]
    ttree = ff.root_checksum("TTree", bases, long64 + [("fWeight", "double", "")] + ints
                             + more + rest)
    assert (tobject, tnamed, ttree) == (stored["TObject"], stored["TNamed"], stored["TTree"])
    assert stored["TNtuple"] == ff.tntuple_checksum() == 0xB8A51CAB


@pytest.mark.parametrize("leaves", [11, 17])
def test_tntuple_with_neutrinos(tmp_path, leaves):
    cols, truth = ff.flux_columns(3000, 900, seed=5, leaves=leaves)
    varlist = ff.LEAVES_17 if leaves == 17 else ff.LEAVES_11
    path = ff.write_tntuple(tmp_path / "flux.root", cols, varlist, basket_entries=500)
    with uproot.open(path) as f:
        tree = f[rootio.TREE_NAME]
        assert tree.classname == "TNtuple" and tree.member("fNvar") == leaves
        assert min(b.num_baskets for b in tree.branches) >= 7
    muons, report = rootio.read_file(path)
    assert f"TNtuple pythia8-Geant4, {leaves} leaves" in report.layout
    assert report.entries == len(cols["id"]) and report.muons == len(truth["muons"]["z"])
    codes, counts = np.unique(truth["neutrinos"], return_counts=True)
    assert report.skipped == dict(zip(codes.tolist(), counts.tolist())) and sum(counts) > 800
    got, want = _cats(muons), _cats(truth["muons"])
    assert got == want and min(n for n, _ in want.values()) > 100
    np.testing.assert_array_equal(muons["z"], truth["muons"]["z"])
    assert report.ecut == 0.5
    if leaves == 17:  # the scoring-plane x, y would have made every muon displaced
        plane = {**muons, "x": cols["x"][np.abs(cols["id"]) == 13].astype(float),
                 "y": cols["y"][np.abs(cols["id"]) == 13].astype(float)}
        assert _cats(plane)["mup_prompt"][0] == 0 < got["mup_prompt"][0]


def test_mixed_folder_preprocess_summary(tmp_path, capsys):
    folder = tmp_path / "flux"
    paths = ff.write_fairship_folder(folder, n_files=2, muons_per_file=1500, seed=3)
    suite = ff.flux_columns(1500, 0, 9, 11)[1]
    rootio.write_muons(folder / "suite_ttree.root", suite["muons"])
    truth = [ff.flux_columns(1500, 450, 3 + i, 11 if i % 2 == 0 else 17)[1] for i in range(2)]
    truth.append(suite)
    ff.write_tntuple(folder / "empty.root", {k: np.zeros(0) for k in ff.LEAVES_11.split(":")},
                     ff.LEAVES_11)
    out = tmp_path / "data"
    assert pp.main([str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "transform.json").read_text())
    n_nu = sum(len(t["neutrinos"]) for t in truth)
    assert f"skipped {n_nu} non-muons by PDG id" in printed
    assert "1 x TNtuple pythia8-Geant4, 17 leaves, start = origin" in printed
    assert "1 x TTree pythia8-Geant4, 11 leaves" in printed and meta["summary"][0] in printed
    assert "note: empty.root: 'pythia8-Geant4' is empty (0 entries)" in printed
    assert meta["ecut"] == 1.0 and len(meta["inputs"]) == 4 == len(paths) + 2
    for name, tr in pp.load_transforms(out).items():
        counts = [_cats(t["muons"])[name] for t in truth]
        assert tr.count == sum(n for n, _ in counts)
        assert tr.weight_sum == pytest.approx(sum(s for _, s in counts), rel=1e-12)


def test_double_branches_read_with_a_note(tmp_path):
    cols, truth = ff.flux_columns(800, 100, seed=2, leaves=11)
    path = ff.write_tntuple(tmp_path / "d.root", cols, ff.LEAVES_11, dtype=np.float64)
    with uproot.open(path) as f:
        assert f[rootio.TREE_NAME].classname == "TNtupleD"
        assert f.file.streamer_named("TNtupleD", 1).member("fCheckSum") == ff.tntuple_checksum(
            "TNtupleD")
    muons, report = rootio.read_file(path)
    assert _cats(muons) == _cats(truth["muons"]) and report.layout.startswith("TNtupleD")
    assert any("not Float_t" in n and "'px'" in n for n in report.notes)
    with pytest.raises(UserError, match="branch 'id' holds TLeafD.*Float_t"):
        fairship_bind.bind(path)


def test_empty_tree_is_named_empty(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    ff.write_tntuple(folder / "empty.root", {k: np.zeros(0) for k in ff.LEAVES_17.split(":")},
                     ff.LEAVES_17)
    muons, report = rootio.read_file(folder / "empty.root")
    assert len(muons["z"]) == 0 and report.notes == ["'pythia8-Geant4' is empty (0 entries)"]
    with pytest.raises(SystemExit) as err:
        pp.main([str(folder), "--out", str(tmp_path / "out")])
    text = capsys.readouterr().err.strip()
    assert err.value.code == 2 and "\n" not in text and "empty.root: 'pythia8-Geant4' is " \
        "empty (0 entries)" in text and not (tmp_path / "out").exists()


def test_bad_fairship_files_one_line(tmp_path):
    cols, _ = ff.flux_columns(200, 10, seed=1, leaves=17)
    raw = ff.write_tntuple(tmp_path / "raw.root", cols, ff.LEAVES_17.rsplit(":", 2)[0])
    with pytest.raises(UserError, match="lacks \\['ecut', 'w'\\].*g4Ex_gap_mergeFiles.py adds"):
        rootio.read_file(raw)
    cols["id"][5] = 13.5
    half = ff.write_tntuple(tmp_path / "half.root", cols, ff.LEAVES_17)
    with pytest.raises(UserError, match="'id' holds 1 values that are not PDG codes"):
        rootio.read_file(half)
    with pytest.raises(SystemExit):
        generate.parse_args(["--data", "d", "--out", "o", "--leaves", "12"])


def _cbmsim_events(rng, n_events=12):
    """Events as FairShip's simulation stores them: track 0 the untracked Pythia particle,
    track 1 the muon (start at the target; x = y = 0 for prompt ones), secondaries, vetoPoints
    of muons (some muons hit two veto elements), electrons and photons."""
    events, truth = [], []
    for e in range(n_events):
        n_mu = int(rng.integers(1, 3))
        pdg = [int(rng.choice([211, 13, -13]))]
        start = [(0.0, 0.0, -7080.0)]
        w = [211.0]
        for _ in range(n_mu):
            prompt = rng.random() < 0.5
            pdg.append(int(rng.choice([13, -13])))
            z = float(rng.uniform(-7080.0, -7000.0))
            start.append((0.0, 0.0, z) if prompt else tuple(rng.normal(0, 5, 2)) + (z,))
            w.append(float(rng.uniform(1, 700)))
        pdg.append(11)
        start.append((1.0, 2.0, -6000.0))
        w.append(1.0)
        n = len(pdg)
        p = rng.normal(0, 1, (n, 3)) + [0, 0, 50]
        tracks = {"fPdgCode": pdg, "fMotherId": [-1] * n, "fPx": p[:, 0], "fPy": p[:, 1],
                  "fPz": p[:, 2], "fStartX": [s[0] for s in start],
                  "fStartY": [s[1] for s in start], "fStartZ": [s[2] for s in start], "fW": w}
        tid, ppdg = [], []
        for t in range(1, 1 + n_mu):
            hits = 2 if t == 1 and e % 3 == 0 else 1
            tid += [t] * hits
            ppdg += [pdg[t]] * hits
            truth.append({k: np.float32(v[t]) for k, v in tracks.items() if k != "fMotherId"})
        tid += [n - 1, n - 1]
        ppdg += [11, 22]
        zeros = np.zeros(len(tid))
        points = {"fTrackID": tid, "fPdgCode": ppdg, "fX": zeros, "fY": zeros,
                  "fZ": zeros + 2500.0}
        events.append({"tracks": tracks, "points": points})
    return events, truth


def test_cbmsim_muons_at_the_veto(tmp_path):
    events, truth = _cbmsim_events(np.random.default_rng(4), n_events=48)
    path = ff.write_cbmsim(tmp_path / "ship.conical.MuonBack-TGeant4.root", events)
    muons, report = rootio.read_file(path)
    assert report.layout.startswith("cbmsim") and report.entries == len(events)
    assert report.muons == len(truth) and report.skipped == {11: 48, 22: 48}
    assert any("muon vetoPoints from" in n for n in report.notes)
    want = {"x": "fStartX", "y": "fStartY", "z": "fStartZ", "px": "fPx", "w": "fW",
            "id": "fPdgCode"}
    for key, member in want.items():
        np.testing.assert_array_equal(muons[key], [t[member] for t in truth])
    prompt = sum(1 for t in truth if t["fStartX"] == 0 and t["fStartY"] == 0)
    cats = _cats(muons)
    assert cats["mup_prompt"][0] + cats["mum_prompt"][0] == prompt and 0 < prompt < len(truth)
    out = tmp_path / "data"
    pp.preprocess([path], out, progress=False)
    meta = json.loads((out / "transform.json").read_text())
    assert meta["ecut"] is None and meta["summary"][0].startswith("read 1 files: 1 x cbmsim")
    assert {k: t.count for k, t in pp.load_transforms(out).items()} == {
        k: n for k, (n, _) in cats.items()}
    events[2]["points"]["fTrackID"][0] = 9
    bad = ff.write_cbmsim(tmp_path / "bad.root", events)
    with pytest.raises(UserError, match="event 2: vetoPoint.fTrackID 9 is not one of its"):
        rootio.read_file(bad)


@pytest.mark.parametrize("leaves", [11, 17])
def test_generate_then_bind_as_fairship(preprocessed, tmp_path, leaves):
    _, transforms = preprocessed
    gens = {c: models.FoldedGenerator.from_keras(models.build_generator(cat.dim, 0.125))
            for c, cat in pp.CATEGORIES.items()}
    res = generate.generate_to_root(gens, transforms, 3000, tmp_path / "gen", per_file=2000,
                                    seed=3, progress=False, leaves=leaves, ecut=0.5)
    total = sum(res["counts"].values())
    bound = [fairship_bind.bind(f) for f in res["files"]]
    assert [int(b["leaves"]) for b in bound] == [leaves] * len(bound)
    t = {k: np.concatenate([b[k] for b in bound]) for k in bound[0] if bound[0][k].ndim}
    read = [rootio.read_muons(f) for f in res["files"]]
    m = {k: np.concatenate([r[k] for r in read]) for k in read[0]}
    assert len(t["pdg"]) == total
    prompt = (t["vx"] == 0) & (t["vy"] == 0)
    for c, cat in pp.CATEGORIES.items():
        sel = (t["pdg"] == cat.pdg) & (prompt if cat.prompt else ~prompt)
        assert sel.sum() == res["counts"][c]
    np.testing.assert_array_equal(t["first_pdg"], t["pdg"])  # pythiaid = id
    assert np.all(t["first_weight"] == 0) and np.all(t["tracked"] & ~t["first_tracked"])
    np.testing.assert_allclose(t["weight"], res["weight_per_muon"], rtol=1e-6)
    for k in ("vx", "vy", "vz"):
        np.testing.assert_array_equal(t[k], m[k[1]])
    np.testing.assert_allclose(t["e"] ** 2 - t["px"] ** 2 - t["py"] ** 2 - t["pz"] ** 2,
                               fairship_bind.MUON_MASS ** 2, atol=1e-6)
    assert np.all(m["ecut"] == 0.5)
    z = t["vz"][prompt & (t["pdg"] == -13)]
    lo, hi = transforms["mup_prompt"].min_max_1[0]
    assert z.min() >= lo - 1e-3 and z.max() <= hi + 1e-3


def test_array_branches_refused(tmp_path):
    cols, _ = ff.flux_columns(50, 0, seed=1, leaves=11)
    path = tmp_path / "arr.root"
    with uproot.recreate(path) as f:
        b = {k: v for k, v in cols.items()}
        b["px"] = np.repeat(b["px"][:, None], 3, axis=1)
        f.mktree(rootio.TREE_NAME, {k: (v.dtype, v.shape[1:]) for k, v in b.items()}).extend(b)
    with pytest.raises(UserError, match="branches \\['px'\\] are not one number per entry"):
        rootio.read_file(path)
