"""ROOT files: TTree layout, exact round trip, clear errors on bad files."""

import numpy as np
import pytest
import uproot

from exagan_tf.errors import UserError
from exagan_tf.muons import rootio, simulate


@pytest.fixture
def muons():
    return simulate.simulate_muons(2000, seed=11)


def test_round_trip_is_identical_ttree(tmp_path, muons):
    path = rootio.write_muons(tmp_path / "m.root", muons)
    written = rootio.to_branches(muons)
    with uproot.open(path) as f:
        tree = f[rootio.TREE_NAME]
        assert tree.classname == "TTree"  # not an RNTuple
        assert tree.num_entries == 2000
        assert all(tree[b].typename == "float" for b in rootio.BRANCHES)
        assert sorted(tree.keys()) == sorted(rootio.BRANCHES)
    back = rootio.read_branches(path)
    for b in rootio.BRANCHES:
        assert back[b].dtype == np.float32
        np.testing.assert_array_equal(back[b], written[b])
    # positions stored in metres, read back in cm
    assert -71.0 < back["z"].min() and back["z"].max() < -64.0
    cm = rootio.read_muons(path)
    np.testing.assert_allclose(cm["z"], muons["z"], rtol=1e-6)
    np.testing.assert_array_equal(cm["id"], muons["id"])


def test_never_overwrites(tmp_path, muons):
    path = rootio.write_muons(tmp_path / "m.root", muons)
    with pytest.raises(UserError, match="already exists"):
        rootio.write_muons(path, muons)


def test_missing_tree_branches_and_rntuple(tmp_path):
    p1 = tmp_path / "other.root"
    with uproot.recreate(p1) as f:
        f.mktree("other", {"a": np.float32}).extend({"a": np.zeros(3, np.float32)})
    with pytest.raises(UserError, match="no tree 'pythia8-Geant4' and no 'cbmsim'.*other"):
        rootio.read_muons(p1)
    p2 = tmp_path / "nobranch.root"
    with uproot.recreate(p2) as f:
        t = f.mktree(rootio.TREE_NAME, {"x": np.float32, "px": np.float32})
        t.extend({"x": np.zeros(3, np.float32), "px": np.zeros(3, np.float32)})
    with pytest.raises(UserError, match="lacks .*MuonBackGenerator binds"):
        rootio.read_muons(p2)
    p3 = tmp_path / "rntuple.root"
    with uproot.recreate(p3) as f:
        f[rootio.TREE_NAME] = {b: np.zeros(3, np.float32) for b in rootio.BRANCHES}
    with pytest.raises(UserError, match="expected a TNtuple or TTree"):
        rootio.read_muons(p3)


def test_nan_momenta_and_not_root(tmp_path, muons):
    muons = dict(muons)
    muons["pz"] = muons["pz"].copy()
    muons["pz"][17] = np.nan
    path = rootio.write_muons(tmp_path / "nan.root", muons)
    with pytest.raises(UserError, match="branch 'pz' has 1 non-finite values.*muon 17"):
        rootio.read_muons(path)
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(UserError, match="not a readable ROOT file"):
        rootio.read_muons(junk)
    with pytest.raises(UserError, match="no such ROOT file"):
        rootio.read_muons(tmp_path / "absent.root")
