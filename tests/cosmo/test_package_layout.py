"""The N-body code and the slicer are packages of one job per module: ``python -m`` still runs
them, the names other modules use are importable from where they were, no module is too long."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exagan_tf.cosmo import nbody
from exagan_tf.cosmo import slice_universes as su

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module, words", [
    ("exagan_tf.cosmo.nbody", "--mesh-factor"),
    ("exagan_tf.cosmo.slice_universes", "--redshift-index"),
])
def test_python_m_runs_the_package(module, words):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    assert out.startswith(f"usage: python -m {module}") and words in out


def test_names_used_elsewhere_are_reexported():
    # baryons.simulate and gr.simulate use these (private ones included), the tests the rest
    for name in ("BARYON_FRACTION", "DEFAULT_MESH_FACTOR", "DEFAULT_NSTEPS", "DEFAULT_Z_INIT",
                 "REDSHIFTS", "Simulation", "_efunc", "_lpt_component", "_lpt_potentials",
                 "_momentum_growth", "_omega_m_of_a", "_pm_force", "_power_table",
                 "_tophat_sigma", "_wavenumbers", "cic_deposit", "cic_interpolate",
                 "conservative_round", "draw_parameters", "gaussian_field", "growth_factor",
                 "growth_rate", "linear_power", "lpt_displacements", "main", "ngp_counts",
                 "power_spectrum_3d", "read_universe", "run_simulation", "simulate_universe",
                 "time_steps", "write_universe"):
        assert callable(getattr(nbody, name)) or getattr(nbody, name) is not None, name
    for name in ("SPLITS", "MANIFEST", "slice_universes", "slice_cube_tiles", "tile_positions",
                 "assign_splits", "n_validation", "list_shards", "read_manifest", "main",
                 "find_inputs", "inspect_universe", "BadUniverse", "UniverseInfo",
                 "file_sha256", "verify_shard", "shard_record"):
        assert hasattr(su, name), name


def test_no_module_over_600_lines():
    for folder in ("nbody", "slice_universes"):
        for path in (REPO / "exagan_tf" / "cosmo" / folder).glob("*.py"):
            assert len(path.read_text().splitlines()) <= 600, path
