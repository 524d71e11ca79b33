"""Paint pressure onto dark matter: tiles, and maps larger than a tile with tapered blending.

``python -m exagan_tf.baryons.paint RUN_DIR --dm MAP --z Z --out OUT``: a dark-matter map
(``.npy``, or ``.h5`` with ``--key``; projected density / its mean, as the training data) and a
redshift in, a pressure map (eV cm^-3 Mpc, ``.npy``) out.

A map larger than a tile is cut into tiles that overlap by ``overlap`` pixels (default half a
tile); each painted tile is multiplied by a separable sin^2 taper (the Hann window shifted by half
a pixel, so no weight is exactly zero), and the map is the weighted sum divided by the summed
weights. Every pixel is thus a smooth partition-of-unity blend, the tile edges (where a
convolutional painter sees zero padding) carry almost no weight, and no grid of seams appears
in the power spectrum (tested against painting the whole map at once). A stochastic painter
(the CVAE's latent draw, the CFM) paints each tile with its own draw, so the blend averages two
or four draws where tiles overlap: there its scatter is lower than within one tile.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from exagan_tf.baryons import data as bdata
from exagan_tf.baryons.transforms import Transform
from exagan_tf.errors import UserError, cli_errors


def check_dm(dm: np.ndarray, name: str = "dark-matter map") -> np.ndarray:
    """Finite, non-negative, 2-D (or a stack of 2-D) maps as float64; UserError otherwise."""
    if np.asarray(dm).dtype.kind not in "iuf":
        raise UserError(f"{name}: values of type {np.asarray(dm).dtype}; expected numbers")
    dm = np.asarray(dm, dtype=np.float64)
    if dm.ndim not in (2, 3):
        raise UserError(f"{name}: shape {dm.shape}; expected (H, W) or (n, H, W)")
    if not np.all(np.isfinite(dm)):
        bad = int(np.sum(~np.isfinite(dm)))
        raise UserError(f"{name}: {bad} NaN or infinite pixels; expected finite values")
    if np.any(dm < 0):
        raise UserError(f"{name}: minimum {dm.min():g} < 0; expected a non-negative projected "
                        "density (particle number / mean)")
    return dm


class Painter:
    """A trained CVAE, CGAN or CFM with its transform: dark-matter tiles -> pressure tiles.

    Args:
        kind: "cvae", "cgan" or "cfm".
        nets: CVAE: {"decoder", "prior"}; CGAN: {"generator"}; CFM: {"velocity"} (Keras
            models).
        transform: the run's :class:`Transform`.
        tile: tile side in pixels.
        data_format: the networks' data format.
        latent: CVAE only: "sample" decodes a draw z ~ p(z | y) (a realisation, as the
            original paints), "mean" decodes the prior mean (deterministic; its prediction-truth
            correlation is the higher of the two when the latent carries information).
        fm_steps: CFM only: Heun steps of the flow's ODE (:mod:`exagan_tf.baryons.cfm`).
        fm_scale: CFM only: the flow's data are ``fm_scale * T(pressure)``.

    ``seed`` (of :meth:`tiles`, :meth:`paint_map`) draws the CVAE's latents and the CFM's
    starting noise: the same seed paints the same map, other seeds other draws.
    """

    LATENTS = ("sample", "mean")

    def __init__(self, kind: str, nets: dict, transform: Transform, tile: int,
                 data_format: str = "channels_last", latent: str = "sample", fm_steps: int = 8,
                 fm_scale: float = 1.0):
        if latent not in self.LATENTS:
            raise UserError(f"latent {latent!r}: expected one of {self.LATENTS}")
        if int(fm_steps) < 1:
            raise UserError(f"ODE steps {fm_steps}: expected at least 1")
        self.kind, self.nets, self.transform = kind, nets, transform
        self.tile, self.data_format, self.latent = int(tile), data_format, latent
        self.fm_steps, self.fm_scale = int(fm_steps), float(fm_scale)

    def _check_tiles(self, dm: np.ndarray) -> np.ndarray:
        dm = check_dm(dm, "dark-matter tiles")
        if dm.ndim == 2:
            dm = dm[None]
        if dm.shape[1:] != (self.tile, self.tile):
            raise UserError(f"dark-matter tiles: shape {dm.shape[1:]}; this painter was trained "
                            f"on {self.tile}x{self.tile} tiles (use paint_map for larger maps)")
        return dm

    def transformed(self, dm_tiles: np.ndarray, z, seed: int = 0,
                    batch_size: int = 32) -> np.ndarray:
        """T(pressure) predicted for (n, tile, tile) dark-matter tiles at redshift(s) z."""
        import tensorflow as tf

        dm = self._check_tiles(dm_tiles)
        cond = bdata.condition(dm, z, self.transform, self.data_format)
        if self.kind == "cfm":
            from exagan_tf.baryons.cfm import paint_transformed

            return paint_transformed(self.nets["velocity"], cond, self.fm_scale, self.fm_steps,
                                     seed, batch_size)
        rng = np.random.default_rng(seed)
        out = []
        for i in range(0, len(cond), batch_size):
            c = tf.constant(cond[i:i + batch_size])
            if self.kind == "cgan":
                p = self.nets["generator"](c, training=False)
            else:
                mean, logvar = self.nets["prior"](c, training=False)
                eps = rng.standard_normal(tuple(mean.shape)).astype(np.float32)
                zl = mean + tf.exp(0.5 * logvar) * eps if self.latent == "sample" else mean
                p = self.nets["decoder"]([zl, c], training=False)
            p = np.asarray(p, dtype=np.float64)
            out.append(p[..., 0] if self.data_format == "channels_last" else p[:, 0])
        return np.concatenate(out, axis=0)

    def tiles(self, dm_tiles: np.ndarray, z, seed: int = 0) -> np.ndarray:
        """Pressure (eV cm^-3 Mpc) for (n, tile, tile) dark-matter tiles at redshift(s) z."""
        t = self.transformed(dm_tiles, z, seed)
        n = t.shape[0]
        z = np.broadcast_to(np.asarray(z, dtype=np.float64), (n,))
        return np.maximum(self.transform.inverse_pressure(t, z), 0.0)

    def paint_map(self, dm_map: np.ndarray, z: float, overlap: int | None = None,
                  seed: int = 0) -> np.ndarray:
        """Pressure map for a dark-matter map of any size >= one tile (tapered blending)."""
        return paint_map(lambda tiles: self.tiles(tiles, z, seed), dm_map, self.tile, overlap)


def taper(tile: int) -> np.ndarray:
    """(tile, tile) separable weight sin^2(pi (i + 1/2) / tile): smooth, > 0, peaked in the
    centre; two copies offset by half a tile sum to a constant along each axis."""
    w = np.sin(np.pi * (np.arange(tile) + 0.5) / tile) ** 2
    return np.outer(w, w)


def tile_origins(size: int, tile: int, step: int) -> list[int]:
    """Tile start positions covering [0, size): multiples of ``step`` and a last one flush with
    the edge."""
    if size < tile:
        raise UserError(f"map side {size} is smaller than the {tile}-pixel tile")
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def paint_map(paint_tiles: Callable[[np.ndarray], np.ndarray], dm_map: np.ndarray, tile: int,
              overlap: int | None = None) -> np.ndarray:
    """Paint ``dm_map`` (H, W) tile by tile with ``paint_tiles`` ((n, t, t) -> (n, t, t)).

    Args:
        paint_tiles: the painter for a stack of tiles.
        dm_map: the dark-matter map, H and W >= tile.
        tile: tile side.
        overlap: pixels shared by neighbouring tiles (default tile // 2; 0 = plain tiling).
    """
    dm_map = check_dm(dm_map)
    if dm_map.ndim != 2:
        raise UserError(f"dark-matter map: shape {dm_map.shape}; expected one (H, W) map")
    overlap = tile // 2 if overlap is None else int(overlap)
    if not 0 <= overlap < tile:
        raise UserError(f"overlap {overlap}: expected 0 <= overlap < tile ({tile})")
    h, w = dm_map.shape
    step = tile - overlap
    rows, cols = tile_origins(h, tile, step), tile_origins(w, tile, step)
    origins = [(r, c) for r in rows for c in cols]
    tiles = np.stack([dm_map[r:r + tile, c:c + tile] for r, c in origins])
    painted = np.asarray(paint_tiles(tiles), dtype=np.float64)
    weight = taper(tile) if overlap else np.ones((tile, tile))
    out = np.zeros((h, w))
    norm = np.zeros((h, w))
    for (r, c), p in zip(origins, painted):
        out[r:r + tile, c:c + tile] += weight * p
        norm[r:r + tile, c:c + tile] += weight
    return out / norm


# ------------------------------------------------------------------------------ from a run


def load_painter(run_dir: str | Path, weights: str = "final", latent: str = "sample",
                 fm_steps: int | None = None) -> Painter:
    """Rebuild the painter of a trained run directory (config.yaml, models/).

    Args:
        run_dir: ``expts/<TAG>/run<N>``.
        weights: "final", a best-model key (e.g. "pk_auto_err") kept during training, or
            "untrained": the run's networks initialised with the run's seed, no weights loaded
            (the run's transform).
        latent: the CVAE's latent, "sample" or "mean" (see :class:`Painter`).
        fm_steps: the CFM's ODE steps (None: the run's ``fm_steps``).
    """
    import yaml

    from exagan_tf.baryons.config import BaryonConfig
    from exagan_tf.config import config_from_dict

    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.exists():
        raise UserError(f"{run_dir}: no config.yaml; not a trained run directory")
    cfg = config_from_dict(BaryonConfig, yaml.safe_load(cfg_file.read_text()), str(cfg_file))
    tf_file = run_dir / "models" / "transform.json"
    if not tf_file.exists():
        raise UserError(f"{tf_file}: missing; train the run first")
    try:
        transform = Transform.from_dict(json.loads(tf_file.read_text()))
    except (ValueError, KeyError, TypeError, UserError) as err:  # JSONDecodeError: ValueError
        what = f"no key {err}" if isinstance(err, KeyError) else str(err).splitlines()[0]
        raise UserError(f"{tf_file}: not a transform of this suite ({what})") from None
    meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() \
        else {}
    data_format = "channels_last" if cfg.model == "cfm" else meta.get("data_format",
                                                                      "channels_last")
    from exagan_tf.baryons.models import build_networks

    if weights == "untrained":
        import keras

        keras.utils.set_random_seed(cfg.seed)
    nets = build_networks(cfg, data_format)
    tag = "final" if weights == "final" else f"best_{weights}"
    for name, net in nets.items():
        if weights == "untrained":
            break
        path = run_dir / "models" / f"{name}_{tag}.weights.h5"
        if not path.exists():
            raise UserError(f"{path}: missing; train the run to the end (or choose --weights)")
        net.load_weights(path)
    return Painter(cfg.model, nets, transform, cfg.tile_size, data_format, latent,
                   cfg.fm_steps if fm_steps is None else fm_steps, cfg.fm_scale)


def _read_map(path: Path, key: str | None) -> np.ndarray:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:
            raise UserError(f"{path}: not a NumPy array file ({err})") from None
    if path.suffix in (".h5", ".hdf5"):
        from exagan_tf.fileio import open_h5

        with open_h5(path) as f:
            if key is None or key not in f:
                raise UserError(f"{path}: give --key, one of {list(f.keys())}")
            return f[key][()]
    raise UserError(f"{path}: expected a .npy or .h5 file")


@cli_errors
def main(argv=None) -> int:
    """Paint a pressure map from a dark-matter map with a trained run."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.baryons.paint",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="trained run directory, e.g. expts/cgan_demo/run0")
    p.add_argument("--dm", required=True, help="dark-matter map (.npy, or .h5 with --key)")
    p.add_argument("--key", default=None, help="dataset name inside an .h5 file")
    p.add_argument("--z", type=float, required=True, help="redshift of the map")
    p.add_argument("--out", required=True, help="output pressure map (.npy)")
    p.add_argument("--overlap", type=int, default=None, help="tile overlap (default tile/2)")
    p.add_argument("--seed", type=int, default=0,
                   help="the draw: the CVAE's latents, the CFM's starting noise")
    p.add_argument("--steps", type=int, default=None,
                   help="CFM: Heun steps of the ODE (default: the run's fm_steps)")
    p.add_argument("--latent", choices=Painter.LATENTS, default="sample",
                   help="CVAE: decode a latent draw (sample) or the prior mean (mean)")
    p.add_argument("--weights", default="final", help="final or a best-model key")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out}: already exists; refusing to overwrite it")
    if out.suffix != ".npy":
        raise UserError(f"{out}: expected a .npy output path")
    dm = check_dm(_read_map(Path(args.dm), args.key))
    painter = load_painter(args.run_dir, args.weights, args.latent, args.steps)
    painter.transform.check_redshift(args.z)
    pressure = painter.paint_map(dm, args.z, args.overlap, args.seed)
    from exagan_tf.fileio import atomic_path

    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.save(f, pressure.astype(np.float32))
    print(f"painted {dm.shape[0]}x{dm.shape[1]} pixels at z={args.z:g} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
