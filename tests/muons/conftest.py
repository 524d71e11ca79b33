"""Fixtures: a tiny simulated production (4 ROOT files, one rogue), its preprocessing and a
tiny trained VAE run."""

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


@pytest.fixture(scope="session")
def vae_run(preprocessed, tmp_path_factory):
    """(run directory, argv) of a 4-step ``vae_test`` run on mup_prompt with ``-x 10``."""
    from exagan_tf.muons import train

    data, _ = preprocessed
    expts = tmp_path_factory.mktemp("vae_expts")
    argv = ["vae", "vae_test", "0", "--category", "mup_prompt", "--datadir", str(data)]
    argv += ["--expts", str(expts), "-iE", "8", "-iD", "8", "-x", "10"]
    assert train.main(argv) == 0
    return expts / "muon_vae_test" / "run0_mup_prompt", argv
