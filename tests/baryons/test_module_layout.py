"""The baryon simulator is modules of one job each: ``python -m exagan_tf.baryons.simulate``
still runs, every name is importable from ``simulate`` as before, no module is too long."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exagan_tf.baryons import gas, haloes, mapfiles, projection, simulate, snapshots

REPO = Path(__file__).resolve().parents[2]


def test_python_m_runs_the_simulator():
    out = subprocess.run([sys.executable, "-m", "exagan_tf.baryons.simulate", "--help"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.startswith("usage: python -m exagan_tf.baryons.simulate") and "--shock-radius" in out


def test_names_are_importable_from_simulate_and_are_the_same_objects():
    for module, names in (
        (gas, ("GasModel", "PaintedParticles", "paint_particles", "atmosphere_temperature",
               "virial_temperature", "bound_gas_fraction", "diffuse_temperature", "hubble_e",
               "radius_200m", "scatter_field", "ngp_lookup", "particle_mass", "compton_y",
               "MPC", "MSUN", "RHO_CRIT0_H2")),
        (haloes, ("fof_groups", "halo_centres", "min_image", "particle_tree")),
        (snapshots, ("REDSHIFTS", "evolve_particles")),
        (projection, ("KINDS", "SHEETS_PER_KIND", "deposit_2d", "smoothed_deposit_2d",
                      "slab_layout", "project_slab")),
        (mapfiles, ("MAPS_FILE", "STATS_FILE", "SPLITS", "UniverseMaps", "map_statistics",
                    "merge_universes", "write_maps", "read_maps", "read_stats",
                    "data_missing_message")),
    ):
        for name in names:
            assert getattr(simulate, name) is getattr(module, name), (module.__name__, name)
    for name in ("FIDUCIAL", "simulate_maps", "check_options", "main"):
        assert hasattr(simulate, name), name


def test_no_module_over_600_lines():
    for path in (REPO / "exagan_tf" / "baryons").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path
