"""Fixtures of the baryon-painting tests: a tiny simulated data folder and a config file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exagan_tf.baryons import simulate

REPO = Path(__file__).resolve().parents[2]
TINY = {"npart": 16, "box_size": 64.0, "npix": 32, "n_sheets": 6, "nsteps": 12,
        "redshifts": (0.0, 1.0, 2.0)}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A data folder from 16^3-particle universes: 32^2 maps, 3 redshifts, train + test."""
    out = tmp_path_factory.mktemp("baryons") / "data"
    universes = {split: simulate.simulate_maps(seed=i, method="eh",
                                               **{k: v for k, v in TINY.items()})
                 for i, split in enumerate(simulate.SPLITS)}
    attrs = {"box_size_mpc_h": TINY["box_size"], "npix": TINY["npix"],
             "pixel_mpc_h": TINY["box_size"] / TINY["npix"], "npart": TINY["npart"]}
    simulate.write_maps(out, universes, attrs, TINY["redshifts"])
    return out


@pytest.fixture
def tiny_config(tiny_data, tmp_path) -> tuple[Path, Path]:
    """(config file with the *_test tags pointing at tiny_data, expts folder)."""
    tags = yaml.safe_load((REPO / "experiments" / "baryons.yaml").read_text())
    out = {}
    for tag in ("cvae_test", "cgan_test", "cfm_test"):
        cfg = dict(tags[tag])
        cfg["datadir"] = str(tiny_data)
        out[tag] = cfg
    path = tmp_path / "baryons.yaml"
    path.write_text(yaml.safe_dump(out))
    return path, tmp_path / "expts"
