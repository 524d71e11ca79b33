"""Fixtures of the CMB tests: a tiny simulated data set (16^2 maps)."""

from __future__ import annotations

import pytest

from exagan_tf.cmb import simulate as sim

#: 16^2 maps over 1.25 deg: the 4.7 arcmin pixels of the CPU runs, on a tiny patch
TINY = sim.SimParams(npix=16, ndeg=1.25, pad=2, r=0.1, beam_arcmin=1.0)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A data directory holding cmb_maps.h5 with 24 maps of 16^2."""
    folder = tmp_path_factory.mktemp("cmb_data")
    sim.write_dataset(folder / "cmb_maps.h5", 24, TINY, seed=5, log=lambda s: None)
    return folder
