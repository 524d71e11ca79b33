"""The GR simulator is modules of one job each: ``python -m exagan_tf.gr.simulate`` still runs,
every name is importable from ``simulate`` as before, no module is too long."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exagan_tf.gr import pairs, potentials, simulate

REPO = Path(__file__).resolve().parents[2]


def test_python_m_runs_the_simulator():
    out = subprocess.run([sys.executable, "-m", "exagan_tf.gr.simulate", "--help"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.startswith("usage: python -m exagan_tf.gr.simulate") and "--density-gauge" in out


def test_names_are_importable_from_simulate_and_are_the_same_objects():
    for module, names in (
        (potentials, ("A_S_FIDUCIAL", "BOX_SIZE", "DIFFERENCE_REDSHIFTS", "HUBBLE_DISTANCE",
                      "NGRID", "REDSHIFTS", "SIGMA8_FIDUCIAL", "Z_INIT", "Cosmology",
                      "conformal_hubble", "gradient_squared", "growth_factor_phi",
                      "newtonian_potential", "poisson_source", "relativistic_potential")),
        (pairs, ("THEORIES", "PairOptions", "cube_name", "growth_normalised_difference",
                 "simulate_pair", "write_dataset")),
    ):
        for name in names:
            assert getattr(simulate, name) is getattr(module, name), (module.__name__, name)
    assert callable(simulate.main) and callable(simulate.parse_args)


def test_no_module_over_600_lines():
    for path in (REPO / "exagan_tf" / "gr").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path
