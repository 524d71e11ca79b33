"""Fixtures: a tiny simulated production (4 ROOT files, one rogue) and its preprocessing."""

from __future__ import annotations

import pytest

from exagan_tf.muons import preprocess, simulate


@pytest.fixture(scope="session")
def production(tmp_path_factory):
    """Folder with muons_0000..0003.root (3000 muons each); muons_0003 is rogue."""
    out = tmp_path_factory.mktemp("muon_prod")
    simulate.write_production(out, 4, 3000, seed=7, rogue_files=(3,), progress=False)
    return out


@pytest.fixture(scope="session")
def preprocessed(production, tmp_path_factory):
    """(folder, transforms) of the production without the rogue file."""
    out = tmp_path_factory.mktemp("muon_pre") / "data"
    transforms = preprocess.preprocess(
        [production], out, blacklist=["muons_0003.root"], progress=False
    )
    return out, transforms
