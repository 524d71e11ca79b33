"""Tiles, two-tile combinations and the tf.data pipeline of the baryon-painting models.

As in the original, a sample is the sum of one tile of a *thin* slab (100 Mpc/h there) and one
tile of a *thick* slab (150 Mpc/h), at the same redshift, for dark matter and pressure alike.
With ``n_thin`` and ``n_thick`` tiles per redshift and ``n_z`` redshifts there are
``n_z * n_thin * n_thick`` samples, of which only ``n_z * min(n_thin, n_thick)`` are
independent (each tile used once): 11 * 176 * 176 = 340,736 and 11 * 176 = 1,936 in the
original (:func:`combination_counts`). Training draws pairs at random; evaluation uses fixed
independent pairs (:func:`independent_pairs`).

Arrays are image stacks ``(n, H, W)``; model inputs add a channel axis in the configured data
format: condition = [T(dm), z channel] (2 channels), target = T(pressure) (1 channel).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from exagan_tf.baryons import simulate
from exagan_tf.baryons.transforms import Transform
from exagan_tf.errors import UserError


def combination_counts(n_thin: int, n_thick: int, n_z: int) -> dict[str, int]:
    """Samples formed from two-tile combinations: all of them, and the independent ones."""
    return {"total": n_z * n_thin * n_thick, "independent": n_z * min(n_thin, n_thick)}


def tile_maps(maps: np.ndarray, tile: int) -> np.ndarray:
    """Cut ``(..., npix, npix)`` maps into ``(..., (npix // tile)**2, tile, tile)`` tiles.

    Tiles are numbered row-major; UserError if ``tile`` does not divide the map size.
    """
    maps = np.asarray(maps)
    npix = maps.shape[-1]
    if tile < 1 or npix % tile or maps.shape[-2] != npix:
        raise UserError(f"tile size {tile} does not divide the {maps.shape[-2]}x{npix} maps; "
                        f"choose a divisor of {npix}")
    m = npix // tile
    lead = maps.shape[:-2]
    t = maps.reshape(*lead, m, tile, m, tile)
    t = np.moveaxis(t, -3, -2)  # (..., m, m, tile, tile)
    return t.reshape(*lead, m * m, tile, tile)


@dataclasses.dataclass
class TileSet:
    """Tiles of one split: ``thin[field]`` and ``thick[field]`` are (nz, n_tiles, T, T) for
    field in dm / pressure / pressure_mean (simulated maps only); ``redshifts`` (nz,)."""

    redshifts: np.ndarray
    thin: dict
    thick: dict

    @property
    def tile(self) -> int:
        """Tile side in pixels."""
        return int(self.thin["dm"].shape[-1])

    def counts(self) -> dict[str, int]:
        """:func:`combination_counts` of this set."""
        return combination_counts(self.thin["dm"].shape[1], self.thick["dm"].shape[1],
                                  len(self.redshifts))

    def redshift_index(self, z: float) -> int:
        """Index of redshift ``z`` in this set (UserError if absent)."""
        hit = np.flatnonzero(np.isclose(self.redshifts, z, atol=1e-6))
        if hit.size == 0:
            raise UserError(f"redshift {z:g} is not in the data ({self.redshifts.tolist()})")
        return int(hit[0])


def load_tiles(datadir: str | Path, split: str, tile: int) -> TileSet:
    """Read a split of the simulated maps and cut it into ``tile``-pixel tiles."""
    maps = simulate.read_maps(datadir, split)
    parts = {}
    for kind in simulate.KINDS:
        parts[kind] = {}
        for f in ("dm", "pressure", "pressure_mean"):
            if f not in maps[kind]:  # imported maps have no noise-free truth
                continue
            t = tile_maps(maps[kind][f], tile)  # (nz, n_slabs, tiles per slab, T, T)
            parts[kind][f] = t.reshape(t.shape[0], -1, tile, tile).astype(np.float32)
    return TileSet(np.asarray(maps["redshifts"], dtype=np.float64), parts["thin"], parts["thick"])


def independent_pairs(n_thin: int, n_thick: int, seed: int = 0) -> np.ndarray:
    """``(min(n_thin, n_thick), 2)`` pairs (thin index, thick index), each tile at most once."""
    rng = np.random.default_rng(seed)
    n = min(n_thin, n_thick)
    return np.stack([rng.permutation(n_thin)[:n], rng.permutation(n_thick)[:n]], axis=1)


def pair_fields(tiles: TileSet, iz: int, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """Summed thin + thick tiles of the given pairs at redshift index ``iz``: dm, pressure,
    pressure_mean (when the maps have it), each (n_pairs, T, T) float64 in physical units."""
    a, b = pairs[:, 0], pairs[:, 1]
    return {f: tiles.thin[f][iz, a].astype(np.float64) + tiles.thick[f][iz, b]
            for f in ("dm", "pressure", "pressure_mean") if f in tiles.thin}


def add_channel(images: np.ndarray, data_format: str) -> np.ndarray:
    """(n, H, W) -> (n, H, W, 1) or (n, 1, H, W)."""
    return images[..., None] if data_format == "channels_last" else images[:, None]


def condition(dm: np.ndarray, z: float | np.ndarray, transform: Transform,
              data_format: str) -> np.ndarray:
    """The model condition [T(dm), z channel]: (n, H, W, 2) or (n, 2, H, W) float32.

    ``z`` is one redshift or one per image.
    """
    dm = np.asarray(dm, dtype=np.float64)
    z = np.broadcast_to(np.asarray(z, dtype=np.float64), dm.shape[:1])
    t = transform.forward_dm(dm, z)
    zc = np.broadcast_to(transform.redshift_channel(z)[:, None, None], dm.shape)
    axis = -1 if data_format == "channels_last" else 1
    return np.stack([t, zc], axis=axis).astype(np.float32)


def dihedral(images: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Apply symmetry ``k`` in 0..7 of the square (rotation by k % 4 quarter turns, then a
    transpose if k >= 4) to each image of (n, H, W); periodic tiles keep their statistics."""
    out = np.empty_like(images)
    for i, ki in enumerate(k):
        img = np.rot90(images[i], int(ki) % 4)
        out[i] = img.T if ki >= 4 else img
    return out


def batches(
    tiles: TileSet,
    transform: Transform,
    batch_size: int,
    *,
    seed: int,
    redshift_indices: Sequence[int] | None = None,
    augment: bool = True,
    data_format: str = "channels_last",
    target_first: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless random two-tile batches ``(condition, target)`` (or ``(target, condition)``).

    Each sample draws a redshift (from ``redshift_indices``), a thin and a thick tile, each
    transformed by an independent random symmetry of the square when ``augment``, sums dark
    matter and pressure and applies the transforms. ``target_first`` gives the VAE's (x, y)
    order: pressure first.
    """
    rng = np.random.default_rng(seed)
    zi = np.arange(len(tiles.redshifts)) if redshift_indices is None else np.asarray(
        redshift_indices)
    n_thin, n_thick = tiles.thin["dm"].shape[1], tiles.thick["dm"].shape[1]
    while True:
        iz = zi[rng.integers(0, zi.size, batch_size)]
        a = rng.integers(0, n_thin, batch_size)
        b = rng.integers(0, n_thick, batch_size)
        fields = {}
        ka = rng.integers(0, 8 if augment else 1, batch_size)
        kb = rng.integers(0, 8 if augment else 1, batch_size)
        for f in ("dm", "pressure"):
            fields[f] = (dihedral(tiles.thin[f][iz, a], ka).astype(np.float64)
                         + dihedral(tiles.thick[f][iz, b], kb))
        z = tiles.redshifts[iz]
        cond = condition(fields["dm"], z, transform, data_format)
        target = add_channel(transform.forward_pressure(fields["pressure"], z),
                             data_format).astype(np.float32)
        yield (target, cond) if target_first else (cond, target)


def make_dataset(tiles: TileSet, transform: Transform, batch_size: int, *, seed: int,
                 redshift_indices=None, augment: bool = True,
                 data_format: str = "channels_last", target_first: bool = False):
    """:func:`batches` as a prefetched ``tf.data.Dataset`` of float32 tuples."""
    import tensorflow as tf

    t = tiles.tile
    c_shape = (batch_size, t, t, 2) if data_format == "channels_last" else (batch_size, 2, t, t)
    p_shape = (batch_size, t, t, 1) if data_format == "channels_last" else (batch_size, 1, t, t)
    specs = (tf.TensorSpec(c_shape, tf.float32), tf.TensorSpec(p_shape, tf.float32))
    if target_first:
        specs = specs[::-1]

    def gen():
        yield from batches(tiles, transform, batch_size, seed=seed,
                           redshift_indices=redshift_indices, augment=augment,
                           data_format=data_format, target_first=target_first)

    return tf.data.Dataset.from_generator(gen, output_signature=specs).prefetch(2)
