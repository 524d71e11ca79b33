"""Tiny GR/Newton files and configs for the gr tests (16^3 cubes, a few seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exagan_tf.gr.simulate import PairOptions, write_dataset

REPO = Path(__file__).resolve().parents[2]
N_SEEDS = 6  # 4 train + 2 test in the tiny configs
TINY = PairOptions(ngrid=16, nsteps=6, amplification=1.0e4)


@pytest.fixture(scope="session")
def gr_files(tmp_path_factory) -> dict[str, Path]:
    """A pre-standardised and a raw file of the same 6 seeds (difference input, 16^3)."""
    root = tmp_path_factory.mktemp("grdata")
    files = {"std": root / "tiny.h5", "raw": root / "tiny_raw.h5"}
    write_dataset(files["std"], range(N_SEEDS), TINY, standardise=True)
    write_dataset(files["raw"], range(N_SEEDS), TINY, standardise=False)
    return files


def write_config(path: Path, datafile: Path, log_dir: Path, **changes) -> Path:
    """experiments/gr/test.yaml with the data and log_dir moved; ``changes``: section.key=value."""
    cfg = yaml.safe_load((REPO / "experiments" / "gr" / "test.yaml").read_text())
    cfg["data_params"]["datafile"] = str(datafile)
    cfg["train_params"]["log_dir"] = str(log_dir)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def make_config():
    """The :func:`write_config` helper (tests import no modules from conftest)."""
    return write_config
