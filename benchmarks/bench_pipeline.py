"""Shard reading: images per second the ExaGAN tf.data pipeline delivers (128^2, batch 64).

Writes temporary shards in the slice_universes layout (int16 counts, chunks of 64 images), then
drains the training pipeline (read, shuffle, s(x) transform, batch, prefetch). The aim is at least
3,000 images/s on 2 CPU cores, so reading never starves a GPU step (about 50-100 images/s/GPU for
the base model). A plain h5py read of the same files runs alongside as the baseline.

    python benchmarks/bench_pipeline.py [--images 8192] [--img-dim 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import exagan_tf  # noqa: E402,F401


def write_temp_shards(folder: Path, n_images: int, img_dim: int, n_files: int = 4) -> list[Path]:
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    files = []
    for i in range(n_files):
        path = folder / f"shard{i}.h5"
        counts = rng.poisson(rng.lognormal(0, 1.2, (n_images // n_files, img_dim, img_dim)))
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=counts.astype("int16"), chunks=(64, img_dim, img_dim))
        files.append(path)
    return files


def run(n_images: int = 8192, img_dim: int = 128, batch: int = 64, passes: int = 2) -> dict:
    import h5py

    from exagan_tf.cosmo.data import make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        files = write_temp_shards(Path(tmp), n_images, img_dim)
        t0 = time.perf_counter()
        total = 0
        for path in files:
            with h5py.File(path, "r") as f:
                total += f["data"][:].shape[0]
        h5_rate = total / (time.perf_counter() - t0)

        ds = make_dataset(files, img_dim, batch, 4.0, "channels_last", seed=0)
        it = iter(ds)
        next(it)  # start-up
        nb = passes * n_images // batch
        t0 = time.perf_counter()
        for _ in range(nb):
            next(it)
        rate = nb * batch / (time.perf_counter() - t0)
    return {"pipeline_img_s": rate, "h5py_bulk_read_img_s": h5_rate, "img_dim": img_dim,
            "batch": batch, "ratio_to_bulk_read": rate / h5_rate}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=8192)
    p.add_argument("--img-dim", type=int, default=128)
    a = p.parse_args(argv)
    r = run(a.images, a.img_dim)
    print(f"tf.data shard pipeline {r['img_dim']}^2: {r['pipeline_img_s']:.0f} img/s "
          f"(plain h5py bulk read {r['h5py_bulk_read_img_s']:.0f} img/s, "
          f"ratio {r['ratio_to_bulk_read']:.2f})")
    return r


if __name__ == "__main__":
    main()
