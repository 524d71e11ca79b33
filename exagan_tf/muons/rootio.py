"""ROOT I/O of muon files in the layout FairShip's ``MuonBackGenerator`` reads, with uproot.

Layout (one TTree per file, named ``pythia8-Geant4``; every branch ``Float_t``, one entry per
muon):

============  ==================================================================
``id``        PDG id of the muon (+13 mu-, -13 mu+)
``parentid``  PDG id of the parent (211 pi+, 321 K+, 113 rho0, 411 D+, ...)
``pythiaid``  PDG id of the original Pythia particle (here = parentid)
``ecut``      energy cut of the simulation (GeV)
``w``         weight of the muon (protons on target it stands for)
``x y z``     start position in **metres** (the reader multiplies by 100 to get cm)
``px py pz``  momentum at the start position (GeV/c)
============  ==================================================================

The tree has 11 leaves (< 17), which is the branch set ``MuonBackGenerator::Init`` binds
(``x``, ``y``, ``z``, ``px``, ...). uproot >= 5.7 writes an RNTuple when given a plain dict, so the
tree is created explicitly with ``mktree`` and filled with ``extend``; LZ4 compression.
In memory, this package works in cm (as MCTrack's ``GetStartZ``): :func:`read_muons` and
:func:`write_muons` convert.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path

TREE_NAME = "pythia8-Geant4"
BRANCHES = ("id", "parentid", "pythiaid", "ecut", "w", "x", "y", "z", "px", "py", "pz")
POSITIONS = ("x", "y", "z")
ECUT_GEV = 0.5


def _uproot():
    try:
        import uproot
    except ImportError:  # pragma: no cover - depends on the installation
        raise UserError(
            "reading/writing ROOT files needs uproot: pip install 'exagan-tf[root]'"
        ) from None
    return uproot


def to_branches(muons: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Muon arrays in cm (keys x y z px py pz w id [parentid]) -> float32 branches in metres."""
    n = len(muons["z"])
    for key in ("x", "y", "z", "px", "py", "pz", "w", "id"):
        if key not in muons:
            raise UserError(f"muon arrays: missing '{key}' (have {sorted(muons)})")
        if len(muons[key]) != n:
            raise UserError(f"muon arrays: '{key}' has {len(muons[key])} entries, expected {n}")
    parent = muons.get("parentid", np.zeros(n))
    out = {
        "id": muons["id"],
        "parentid": parent,
        "pythiaid": muons.get("pythiaid", parent),
        "ecut": np.full(n, ECUT_GEV),
        "w": muons["w"],
        "x": np.asarray(muons["x"]) / 100.0,
        "y": np.asarray(muons["y"]) / 100.0,
        "z": np.asarray(muons["z"]) / 100.0,
        "px": muons["px"],
        "py": muons["py"],
        "pz": muons["pz"],
    }
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def write_branches(
    path: str | Path,
    branches: dict[str, np.ndarray],
    chunk: int = 1_000_000,
    overwrite: bool = False,
) -> Path:
    """Write float32 ``branches`` (the layout above, metres) as a TTree, atomically."""
    uproot = _uproot()
    path = Path(path)
    missing = [b for b in BRANCHES if b not in branches]
    if missing:
        raise UserError(f"{path}: branches {missing} missing from what is to be written")
    n = len(branches["z"])
    with atomic_path(path, overwrite=overwrite) as tmp:
        with uproot.recreate(tmp, compression=uproot.LZ4(1)) as f:
            tree = f.mktree(TREE_NAME, {b: np.float32 for b in BRANCHES}, title="muons")
            for start in range(0, max(n, 1), chunk):
                tree.extend({b: branches[b][start : start + chunk] for b in BRANCHES})
    return path


def write_muons(path: str | Path, muons: dict[str, np.ndarray], overwrite: bool = False) -> Path:
    """Write muon arrays (cm, GeV/c) to ``path`` as the ``pythia8-Geant4`` TTree."""
    return write_branches(path, to_branches(muons), overwrite=overwrite)


def read_branches(path: str | Path) -> dict[str, np.ndarray]:
    """The float32 branches of the ``pythia8-Geant4`` TTree of ``path``, as stored (metres).

    A missing file, a file that is not ROOT, a file shorter than its header says (truncated), a
    missing tree, an object that is not a TTree, or missing branches are one-line
    :class:`UserError` s.
    """
    uproot = _uproot()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such ROOT file")
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises many types for corrupt input
        raise UserError(f"{path}: not a readable ROOT file ({type(err).__name__})") from None
    with f:
        end = getattr(getattr(f, "file", None), "fEND", None)  # the header's end of file
        if isinstance(end, int) and path.stat().st_size < end:
            raise UserError(f"{path}: ROOT file truncated ({path.stat().st_size} of {end} bytes)")
        try:
            return _tree_branches(f, path)
        except UserError:
            raise
        except Exception as err:  # a truncated or damaged file fails only when its baskets are read
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise UserError(
                f"{path}: ROOT file corrupt or truncated ({type(err).__name__}: {reason:.80})"
            ) from None


def _tree_branches(f, path: Path) -> dict[str, np.ndarray]:
    """The branches of the muon TTree of the open ROOT file ``f`` (see :func:`read_branches`)."""
    if TREE_NAME not in f:
        keys = ", ".join(sorted({k.split(";")[0] for k in f.keys()})) or "none"
        raise UserError(f"{path}: no TTree '{TREE_NAME}' (objects in the file: {keys})")
    tree = f[TREE_NAME]
    if getattr(tree, "classname", "") != "TTree":
        raise UserError(
            f"{path}: '{TREE_NAME}' is a {getattr(tree, 'classname', type(tree).__name__)}, "
            "expected a TTree"
        )
    have = set(tree.keys())
    missing = [b for b in BRANCHES if b not in have]
    if missing:
        raise UserError(
            f"{path}: TTree '{TREE_NAME}' lacks branches {missing} (has {sorted(have)})"
        )
    return {b: np.asarray(tree[b].array(library="np")) for b in BRANCHES}


def read_muons(path: str | Path, check_finite: bool = True) -> dict[str, np.ndarray]:
    """Muon arrays of ``path`` in cm and GeV/c (float64): x y z px py pz w id parentid.

    With ``check_finite``, NaN or infinite momenta, positions or weights, negative weights and
    PDG ids other than +-13 are a UserError naming the file, the branch and the first bad entry.
    """
    b = read_branches(path)
    out = {k: b[k].astype(np.float64) for k in ("px", "py", "pz", "w", "id", "parentid")}
    for k in POSITIONS:
        out[k] = b[k].astype(np.float64) * 100.0
    if check_finite:
        for k in ("px", "py", "pz", "x", "y", "z", "w"):
            bad = np.flatnonzero(~np.isfinite(out[k]))
            if bad.size:
                raise UserError(
                    f"{path}: branch '{k}' has {bad.size} non-finite values "
                    f"(first at entry {bad[0]}: {out[k][bad[0]]})"
                )
        negative = np.flatnonzero(out["w"] < 0)
        if negative.size:
            raise UserError(
                f"{path}: branch 'w' has {negative.size} negative weights "
                f"(first at entry {negative[0]}: {out['w'][negative[0]]}); expected w >= 0"
            )
        ids = np.unique(np.abs(out["id"]))
        if ids.size and not np.array_equal(ids, [13.0]):
            raise UserError(f"{path}: branch 'id' holds PDG ids {ids.tolist()}, expected +-13")
    return out
