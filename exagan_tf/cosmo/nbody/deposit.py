"""Mass assignment: cloud-in-cell (CIC) deposit and interpolation on periodic meshes, in chunks of
``_CHUNK`` particles to bound the temporary arrays, nearest-grid-point counts and conservative
rounding to int16 counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK = 1 << 21  # particles per CIC chunk: bounds the temporary index/weight arrays


def _cic_cells(pos: np.ndarray, nmesh: int,
               box_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIC set-up for particles ``pos`` (3, n) on a mesh padded to (nmesh + 1)^3.

    Mesh node j sits at j * box_size / nmesh. The padded mesh has an extra plane at index nmesh
    on each axis (the periodic image of plane 0), so the 8 corners of a particle are its base
    index plus 8 constant offsets, with no modulo in the inner loop.

    Returns:
        ``(base, frac, offsets)``: int64 (n,) flat base index into the padded mesh, float32 (3, n)
        fractional distances to the base node in cells, int64 (8,) corner offsets (x-major).
    """
    s = pos * np.float32(nmesh / box_size)
    base = np.minimum(s.astype(np.int32), nmesh - 1)  # s >= 0, so truncation is floor
    frac = s - base.astype(np.float32)  # float32 - int32 would promote to float64
    p = nmesh + 1
    flat = (base[0].astype(np.int64) * p + base[1]) * p + base[2]
    offsets = np.array([(ox * p + oy) * p + oz for ox in (0, 1) for oy in (0, 1) for oz in (0, 1)],
                       dtype=np.int64)
    return flat, frac, offsets


def _cic_weights(frac: np.ndarray) -> np.ndarray:
    """(8, n) float32 CIC weights in the corner order of :func:`_cic_cells`."""
    one = np.float32(1.0)
    wx, wy, wz = ((one - frac[c], frac[c]) for c in range(3))
    out = np.empty((8, frac.shape[1]), dtype=np.float32)
    i = 0
    for ox in (0, 1):
        for oy in (0, 1):
            wxy = wx[ox] * wy[oy]
            for oz in (0, 1):
                np.multiply(wxy, wz[oz], out=out[i])
                i += 1
    return out


def cic_deposit(pos: np.ndarray, nmesh: int, box_size: float) -> np.ndarray:
    """Cloud-in-cell mass assignment: number of particles per mesh node (float32, sums to n).

    Args:
        pos: particle positions (3, n) in Mpc/h, inside [0, box_size).
        nmesh: mesh cells per dimension; node j at j * box_size / nmesh.
    """
    p = nmesh + 1
    rho = None
    for start in range(0, pos.shape[1], _CHUNK):
        flat, frac, offsets = _cic_cells(pos[:, start:start + _CHUNK], nmesh, box_size)
        # One bincount per chunk over all 8 corners: bincount costs O(entries + mesh size), so
        # concatenating beats 8 calls that would each sweep the whole mesh.
        idx = (flat[None, :] + offsets[:, None]).ravel()
        part = np.bincount(idx, weights=_cic_weights(frac).ravel(), minlength=p**3)
        if rho is None:
            rho = part
        else:
            rho += part
        del idx, part
    if rho is None:
        return np.zeros((nmesh,) * 3, dtype=np.float32)
    rho = rho.reshape(p, p, p)
    # Fold the padding planes back onto their periodic images (plane nmesh is plane 0).
    rho[0] += rho[nmesh]
    rho[:nmesh, 0] += rho[:nmesh, nmesh]
    rho[:nmesh, :nmesh, 0] += rho[:nmesh, :nmesh, nmesh]
    return rho[:nmesh, :nmesh, :nmesh].astype(np.float32)


def _pad_periodic(fields: Sequence[np.ndarray]) -> np.ndarray:
    """Stack (m, m, m) fields into an (m+1, m+1, m+1, len) array padded with plane 0 at index m.

    Interleaving the components lets one gather fetch all of a node's components at once.
    """
    m = fields[0].shape[0]
    out = np.empty((m + 1, m + 1, m + 1, len(fields)), dtype=np.float32)
    for c, f in enumerate(fields):
        out[:m, :m, :m, c] = f
    out[m] = out[0]
    out[:, m] = out[:, 0]
    out[:, :, m] = out[:, :, 0]
    return out


def _cic_gather(padded: np.ndarray, pos: np.ndarray, box_size: float) -> np.ndarray:
    """CIC interpolation from a padded interleaved mesh (see :func:`_pad_periodic`) -> (c, n)."""
    nmesh = padded.shape[0] - 1
    ncomp = padded.shape[-1]
    # Viewing each node's components as one opaque record makes np.take move them in one go
    # (measured 1.7x faster than fancy indexing rows of the 2D array, for random indices).
    records = np.ascontiguousarray(padded).reshape(-1, ncomp).view(
        np.dtype((np.void, 4 * ncomp))).ravel()
    out = np.empty((ncomp, pos.shape[1]), dtype=np.float32)
    for start in range(0, pos.shape[1], _CHUNK):
        flat, frac, offsets = _cic_cells(pos[:, start:start + _CHUNK], nmesh, box_size)
        weights = _cic_weights(frac)
        acc = np.zeros((flat.size, ncomp), dtype=np.float32)
        for corner in range(8):
            values = np.take(records, flat + offsets[corner]).view(np.float32)
            acc += weights[corner][:, None] * values.reshape(-1, ncomp)
        out[:, start:start + flat.size] = acc.T
    return out


def cic_interpolate(fields: Sequence[np.ndarray], pos: np.ndarray, box_size: float) -> np.ndarray:
    """CIC interpolation of periodic mesh fields (each (m, m, m)) at particles ``pos`` (3, n).

    Returns:
        float32 array (len(fields), n).
    """
    return _cic_gather(_pad_periodic(fields), pos, box_size)


def ngp_counts(pos: np.ndarray, ngrid: int, box_size: float) -> np.ndarray:
    """Nearest-grid-point particle counts, (ngrid,)*3 int64; voxel i is centred on i * L/ngrid.

    Integers by construction; the sum is exactly the number of particles.
    """
    counts = np.zeros(ngrid**3, dtype=np.int64)
    for start in range(0, pos.shape[1], _CHUNK):
        cell = np.floor(pos[:, start:start + _CHUNK] * np.float32(ngrid / box_size) + 0.5)
        cell = cell.astype(np.int64) % ngrid
        counts += np.bincount((cell[0] * ngrid + cell[1]) * ngrid + cell[2], minlength=ngrid**3)
    return counts.reshape((ngrid,) * 3)


def conservative_round(values: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``values`` to integers summing exactly to ``total`` (largest remainder).

    Every value is rounded down, then the ``total - sum(floor)`` entries with the largest
    fractional parts get one more.
    """
    flat = values.reshape(-1).astype(np.float64)
    out = np.floor(flat).astype(np.int64)
    missing = int(total - out.sum())
    if missing < 0 or missing > flat.size:
        raise ValueError(f"cannot round values summing to {flat.sum()} onto total {total}")
    if missing:
        remainder = flat - out
        top = np.argpartition(-remainder, missing - 1)[:missing]
        out[top] += 1
    return out.reshape(values.shape)


def _to_int16(counts: np.ndarray) -> np.ndarray:
    top = int(counts.max())
    if top > np.iinfo(np.int16).max:
        raise ValueError(f"a voxel holds {top} particles, more than int16 can store")
    return counts.astype(np.int16)
