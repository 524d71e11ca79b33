"""Friends-of-friends haloes in a periodic box: groups, their periodic centres of mass.

Groups are the connected components of the graph of particle pairs closer than the linking
length (Davis et al. 1985), found with a periodic k-d tree (``scipy.spatial.cKDTree``, built once
per snapshot and shared with the atmospheres of :mod:`exagan_tf.baryons.gas`) and
``scipy.sparse.csgraph.connected_components``. A centre of mass unwraps every member to the image
nearest its group's first member, so groups across the box edge keep their centre inside.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from scipy.spatial import cKDTree


def particle_tree(pos: np.ndarray, box_size: float) -> cKDTree:
    """Periodic k-d tree of (3, n) positions [Mpc/h] (float64, wrapped into the box); its
    ``data`` are the points in particle order. Built once per snapshot for the FoF groups and
    the atmospheres."""
    points = np.mod(np.ascontiguousarray(np.asarray(pos, dtype=np.float64).T), box_size)
    return cKDTree(points, boxsize=box_size)


def min_image(d: np.ndarray, box_size: float) -> np.ndarray:
    """Periodic separations wrapped to [-box_size / 2, box_size / 2)."""
    return np.mod(d + 0.5 * box_size, box_size) - 0.5 * box_size


def fof_groups(pos: np.ndarray, box_size: float, linking: float,
               tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Friends-of-friends groups of particles in a periodic box.

    Args:
        pos: (3, n) positions [Mpc/h] in [0, box_size).
        box_size: box side [Mpc/h].
        linking: linking length [Mpc/h]: particles closer than this are friends.
        tree: :func:`particle_tree` of ``pos``, when the caller has built it already.

    Returns:
        ``(labels, sizes)``: the group index of every particle (n,) and the members per group.
    """
    tree = particle_tree(pos, box_size) if tree is None else tree
    pairs = tree.query_pairs(linking, output_type="ndarray")
    n = tree.n
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return labels, np.bincount(labels)


def halo_centres(pos: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                 box_size: float) -> np.ndarray:
    """Periodic centres of mass (n_groups, 3) [Mpc/h] of the FoF groups ``groups``.

    Each member is unwrapped to the periodic image nearest its group's first member before
    averaging, so a group straddling the box edge has its centre inside the group.
    """
    pos = np.asarray(pos, dtype=np.float64)
    slot = np.full(int(labels.max()) + 1, -1, np.int64)
    slot[groups] = np.arange(groups.size)
    member = np.flatnonzero(slot[labels] >= 0)
    g = slot[labels[member]]
    first = np.full(groups.size, -1, np.int64)
    order = np.argsort(g, kind="stable")
    uniq, start = np.unique(g[order], return_index=True)
    first[uniq] = member[order[start]]
    ref = pos[:, first[g]]
    d = min_image(pos[:, member] - ref, box_size)
    n = np.bincount(g, minlength=groups.size).astype(np.float64)
    centre = np.stack([np.bincount(g, weights=d[c], minlength=groups.size) / n
                       for c in range(3)], axis=1)
    return np.mod(pos[:, first].T + centre, box_size)

