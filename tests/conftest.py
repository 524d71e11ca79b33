"""Shared fixtures: tiny ExaGAN shards and a config file pointing at them."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def lognormal_counts(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Heavy-tailed, spatially correlated int16 counts that look like N-body slices."""
    white = rng.standard_normal((n, dim, dim))
    k = np.fft.fftfreq(dim)
    kk = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    smooth = np.fft.ifft2(np.fft.fft2(white) * np.exp(-((kk / 0.15) ** 2))).real
    smooth /= smooth.std()
    return rng.poisson(np.exp(1.2 * smooth)).astype(np.int16)


def write_shards(
    root: Path,
    dataname: str,
    dim: int,
    n_per: int = 64,
    n_train: int = 2,
    n_val: int = 1,
    seed: int = 0,
) -> Path:
    """Write train/val shards in the slice_universes layout under root/dataname."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("val", n_val)):
        folder = root / dataname / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            with h5py.File(folder / f"univ{i}.h5", "w") as f:
                f.create_dataset("data", data=lognormal_counts(rng, n_per, dim))
    return root / dataname


@pytest.fixture
def tiny_experiment(tmp_path):
    """(config file, expts folder) for the `test` tag with data in tmp_path."""
    data = tmp_path / "data"
    write_shards(data, "test", 16)
    tags = yaml.safe_load((REPO / "experiments" / "exagan.yaml").read_text())
    cfg = dict(tags["test"])
    cfg["datadir"] = str(data)
    path = tmp_path / "exagan.yaml"
    path.write_text(yaml.safe_dump({"test": cfg}))
    return path, tmp_path / "expts"
