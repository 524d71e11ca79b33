"""ROOT I/O of muon files in FairShip's layouts, with uproot.

Read from FairShip's own sources (``shipgen/MuonBackGenerator.{h,cxx}``,
``muonShieldOptimization/g4Ex_gap.py``, ``g4Ex_gap_mergeFiles.py``, ``g4Ex_gap_mergeMbias.py``):

* The muon-background files hold a **TNtuple** ``pythia8-Geant4``, every leaf ``Float_t``, one
  entry per particle crossing the scoring plane behind the hadron absorber (muons and
  neutrinos: ``g4Ex_gap`` writes the "muon/nu flux"), positions in **metres**, momenta in GeV/c:

  - 11 leaves ``id:px:py:pz:x:y:z:pythiaid:parentid:w:ecut`` (older productions, the charm
    file of ``g4Ex_gap_mergeMbias``);
  - 17 leaves ``id:px:py:pz:x:y:z:opx:opy:opz:ox:oy:oz:pythiaid:parentid:w:ecut`` (since 2016:
    ``g4Ex_gap`` writes the first 15, ``g4Ex_gap_mergeFiles`` appends ``w`` and ``ecut``).
    ``x y z px py pz`` are then at the scoring plane and ``o*`` at the track's origin.

* ``MuonBackGenerator::Init`` binds ``Float_t`` addresses to ``id parentid pythiaid ecut w``
  and, when the tree has **fewer than 17 leaves**, to ``x y z px py pz``, otherwise to
  ``ox oy oz opx opy opz``: that is the muon's start, and so the start this reader takes
  (:func:`start_leaves`). ``ReadEvent`` skips every entry with ``abs(int(id)) != 13``; this
  reader skips them too and counts them per PDG id (:class:`FileReport`).
* ``pythiaid`` and ``parentid``: ``g4Ex_gap`` packs the PDG id of the particle Pythia made and
  of its Pythia mother into the Geant4 track weight, so ``pythiaid`` is the Pythia particle the
  muon descends from (the muon itself when it was decayed inside Pythia; the pion, kaon, ...
  when Geant4 decayed it: Pythia keeps 211 321 130 310 3122 3112 3312 stable) and ``parentid``
  that particle's mother. ``ReadEvent`` adds **two** tracks per muon: first an untracked one
  with PDG code ``int(pythiaid)``, the muon's momentum and start, time ``pythiaid`` and weight
  ``parentid``; then the muon (``id``, tracked, weight ``w``). ``ecut`` is bound but unused: it
  records the kinetic-energy cut (GeV) of the production. :func:`fairship_ids` fills
  ``pythiaid``/``parentid`` that way from a direct parent; with no parent known they are
  ``id`` (a valid PDG code for the first track, as FairShip's own charm ntuple writes it) and 0.

Writing: uproot's writing API creates TTrees (``mktree``) and no TNtuple class. MuonBackGenerator
does ``(TTree*) Get("pythia8-Geant4")``, counts ``GetListOfLeaves()`` and binds branches by
name, so a TTree with the same ``Float_t`` branches in the same order is read exactly as the
TNtuple (TNtuple adds only ``fNvar``, the column count, to TTree). Written files are that TTree,
11 leaves by default or 17 (origin = start, scoring-plane columns equal to the start). uproot
>= 5.7 writes an RNTuple when given a plain dict, so the tree is created with ``mktree`` and
filled with ``extend``; LZ4 compression. In memory this package works in cm (as MCTrack's
``GetStartZ``): :func:`read_file` and :func:`to_branches` convert.

FairShip's simulation output (``cbmsim``) is read by :mod:`exagan_tf.muons.cbmsim`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path

TREE_NAME = "pythia8-Geant4"
LEAVES_11 = ("id", "px", "py", "pz", "x", "y", "z", "pythiaid", "parentid", "w", "ecut")
LEAVES_17 = ("id", "px", "py", "pz", "x", "y", "z", "opx", "opy", "opz", "ox", "oy", "oz",
             "pythiaid", "parentid", "w", "ecut")
BRANCHES = LEAVES_11
BOUND = ("id", "parentid", "pythiaid", "ecut", "w")  # always bound by MuonBackGenerator
POSITIONS = ("x", "y", "z")
G4_DECAYED = (211, 321, 130, 310, 3122, 3112, 3312)  # stable in g4Ex_gap's Pythia
MUON = 13


def _uproot():
    try:
        import uproot
    except ImportError:  # pragma: no cover - depends on the installation
        raise UserError(
            "reading/writing ROOT files needs uproot: pip install 'exagan-tf[root]'"
        ) from None
    return uproot


def start_leaves(n_leaves: int) -> tuple[str, ...]:
    """The leaves MuonBackGenerator takes as the muon's start x y z px py pz (metres, GeV/c)."""
    if n_leaves < 17:
        return ("x", "y", "z", "px", "py", "pz")
    return ("ox", "oy", "oz", "opx", "opy", "opz")


def fairship_ids(pdg: np.ndarray, parent: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(pythiaid, parentid) as FairShip's production fills them, from each muon's direct parent.

    A parent Pythia keeps stable (pi, K, K0, Lambda, Sigma-, Xi-) was decayed by Geant4: it is
    the Pythia particle (``pythiaid``) and its own mother is not known here (``parentid`` 0).
    Any other parent decayed inside Pythia: the muon is the Pythia particle and the parent its
    mother. No parent (``None`` or 0): ``pythiaid`` = the muon's id, ``parentid`` = 0."""
    pdg = np.asarray(pdg, dtype=np.float64)
    if parent is None:
        return pdg.copy(), np.zeros_like(pdg)
    parent = np.asarray(parent, dtype=np.float64)
    in_geant4 = np.isin(np.abs(parent), G4_DECAYED)
    pythiaid = np.where(in_geant4, parent, pdg)
    parentid = np.where(in_geant4, 0.0, parent)
    return pythiaid, parentid


def to_branches(
    muons: dict[str, np.ndarray], leaves: int = 11, ecut: float = 0.0
) -> dict[str, np.ndarray]:
    """Muon arrays in cm (x y z px py pz w id; optional pythiaid, parentid, ecut) -> float32
    branches in metres, in FairShip's leaf order (``leaves`` 11 or 17; with 17 the origin
    columns are the start and the scoring-plane columns repeat it).

    ``pythiaid`` given: it and ``parentid`` are written as they are (a read-back file keeps
    them); otherwise ``parentid`` is taken as the direct parent (:func:`fairship_ids`)."""
    if leaves not in (11, 17):
        raise UserError(f"leaves={leaves}: FairShip's pythia8-Geant4 layouts have 11 or 17")
    n = len(muons["z"])
    for key in ("x", "y", "z", "px", "py", "pz", "w", "id"):
        if key not in muons:
            raise UserError(f"muon arrays: missing '{key}' (have {sorted(muons)})")
        if len(muons[key]) != n:
            raise UserError(f"muon arrays: '{key}' has {len(muons[key])} entries, expected {n}")
    if "pythiaid" in muons:
        pythiaid, parentid = muons["pythiaid"], muons.get("parentid", np.zeros(n))
    else:
        pythiaid, parentid = fairship_ids(muons["id"], muons.get("parentid"))
    out = {
        "id": muons["id"],
        "px": muons["px"],
        "py": muons["py"],
        "pz": muons["pz"],
        "x": np.asarray(muons["x"]) / 100.0,
        "y": np.asarray(muons["y"]) / 100.0,
        "z": np.asarray(muons["z"]) / 100.0,
        "pythiaid": pythiaid,
        "parentid": parentid,
        "w": muons["w"],
        "ecut": muons.get("ecut", np.full(n, ecut)),
    }
    if leaves == 17:
        for k in ("x", "y", "z", "px", "py", "pz"):
            out["o" + k] = out[k]
    order = LEAVES_17 if leaves == 17 else LEAVES_11
    return {k: np.ascontiguousarray(out[k], dtype=np.float32) for k in order}


def write_branches(
    path: str | Path,
    branches: dict[str, np.ndarray],
    chunk: int = 1_000_000,
    overwrite: bool = False,
) -> Path:
    """Write float32 ``branches`` (11 or 17 FairShip leaves, metres) as the ``pythia8-Geant4``
    TTree, atomically; 17 leaves when the origin columns are present."""
    uproot = _uproot()
    path = Path(path)
    order = LEAVES_17 if "ox" in branches else LEAVES_11
    missing = [b for b in order if b not in branches]
    if missing:
        raise UserError(f"{path}: branches {missing} missing from what is to be written")
    n = len(branches["z"])
    with atomic_path(path, overwrite=overwrite) as tmp:
        with uproot.recreate(tmp, compression=uproot.LZ4(1)) as f:
            tree = f.mktree(TREE_NAME, {b: np.float32 for b in order}, title="muon flux")
            for start in range(0, max(n, 1), chunk):
                tree.extend({b: branches[b][start : start + chunk] for b in order})
    return path


def write_muons(
    path: str | Path, muons: dict[str, np.ndarray], overwrite: bool = False, leaves: int = 11,
    ecut: float = 0.0,
) -> Path:
    """Write muon arrays (cm, GeV/c) to ``path`` as the ``pythia8-Geant4`` tree."""
    return write_branches(path, to_branches(muons, leaves, ecut), overwrite=overwrite)


@dataclasses.dataclass
class FileReport:
    """What one file held: its layout, entries, muons kept, entries skipped per PDG id, notes."""

    path: str
    layout: str
    entries: int = 0
    muons: int = 0
    skipped: dict[int, int] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    ecut: float | None = None  # largest ecut of the muons kept (None: no ecut leaf)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["skipped"] = {str(k): v for k, v in sorted(self.skipped.items())}
        return d


def _open(path: Path):
    """The open uproot file of ``path``, or a one-line UserError."""
    uproot = _uproot()
    if not path.is_file():
        raise UserError(f"{path}: no such ROOT file")
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises many types for corrupt input
        raise UserError(f"{path}: not a readable ROOT file ({type(err).__name__})") from None
    end = getattr(getattr(f, "file", None), "fEND", None)  # the header's end of file
    if isinstance(end, int) and path.stat().st_size < end:
        f.close()
        raise UserError(f"{path}: ROOT file truncated ({path.stat().st_size} of {end} bytes)")
    return f


def _guarded(path: Path, fn, *args):
    """``fn(*args)``, with damage that shows only when baskets are read as one-line errors."""
    try:
        return fn(*args)
    except UserError:
        raise
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UserError(
            f"{path}: ROOT file corrupt or truncated ({type(err).__name__}: {reason:.80})"
        ) from None


def _muon_tree(f, path: Path):
    """The ``pythia8-Geant4`` TNtuple/TTree of ``f`` (or None when the file has ``cbmsim``)."""
    keys = {k.split(";")[0] for k in f.keys()}
    if TREE_NAME not in keys:
        if "cbmsim" in keys:
            return None
        names = ", ".join(sorted(keys)) or "none"
        raise UserError(f"{path}: no tree '{TREE_NAME}' and no 'cbmsim' (objects: {names})")
    tree = f[TREE_NAME]
    kind = getattr(tree, "classname", type(tree).__name__)
    if kind not in ("TTree", "TNtuple", "TNtupleD"):
        raise UserError(f"{path}: '{TREE_NAME}' is a {kind}, expected a TNtuple or TTree")
    return tree


def _leaf_count(tree) -> int:
    """``GetListOfLeaves()->GetSize()``: the leaves of every branch."""
    return sum(len(b.member("fLeaves")) for b in tree.itervalues(recursive=True))


def _read_tree(tree, path: Path) -> tuple[dict[str, np.ndarray], FileReport]:
    """The stored columns of a ``pythia8-Geant4`` tree (as stored) and its report."""
    n_leaves = _leaf_count(tree)
    starts = start_leaves(n_leaves)
    have = set(tree.keys())
    needed = [b for b in BOUND + starts if b not in have]
    if needed:
        hint = ""
        if {"w", "ecut"} & set(needed) and "opx" in have:
            hint = "; g4Ex_gap's raw output: g4Ex_gap_mergeFiles.py adds w and ecut"
        raise UserError(
            f"{path}: '{TREE_NAME}' ({n_leaves} leaves) lacks {needed}, which "
            f"MuonBackGenerator binds (has {sorted(have)}){hint}"
        )
    layout = f"{tree.classname} {TREE_NAME}, {n_leaves} leaves, start = " + (
        "x y z px py pz" if n_leaves < 17 else "origin ox oy oz opx opy opz")
    report = FileReport(str(path), layout, entries=int(tree.num_entries))
    if report.entries == 0:
        report.notes.append(f"'{TREE_NAME}' is empty (0 entries)")
        return {}, report
    cols = list(dict.fromkeys(BOUND + starts + tuple(b for b in LEAVES_17 if b in have)))
    types = {b: tree[b].typename for b in cols}
    other = {b: t for b, t in types.items() if t != "float"}
    if other:
        kinds = sorted(set(other.values()))
        report.notes.append(
            f"branches {sorted(other)} are {'/'.join(kinds)}, not Float_t: read as double "
            "here, but MuonBackGenerator binds Float_t addresses and ROOT refuses them"
        )
    unreadable = [b for b in cols if getattr(tree[b].interpretation, "inner_shape", None) != ()
                  or np.dtype(tree[b].interpretation.numpy_dtype).kind not in "iuf"]
    if unreadable:
        raise UserError(f"{path}: branches {unreadable} are not one number per entry "
                        f"({', '.join(tree[b].typename for b in unreadable)})")
    return {b: np.asarray(tree[b].array(library="np")) for b in cols}, report


def read_branches(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of the ``pythia8-Geant4`` tree of ``path`` as stored (metres)."""
    path = Path(path)
    with _open(path) as f:
        tree = _muon_tree(f, path)
        if tree is None:
            raise UserError(f"{path}: a cbmsim file; it has no '{TREE_NAME}' columns")
        return _guarded(path, _read_tree, tree, path)[0]


def _select_muons(cols: dict[str, np.ndarray], report: FileReport, path: Path,
                  starts: tuple[str, ...], check_finite: bool) -> dict[str, np.ndarray]:
    """Muons (abs(id) = 13) of the stored columns in cm and GeV/c; others counted by PDG id."""
    ids = cols["id"].astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(ids) | (ids != np.round(ids)))
    if bad.size:
        raise UserError(f"{path}: branch 'id' holds {bad.size} values that are not PDG codes "
                        f"(first at entry {bad[0]}: {ids[bad[0]]})")
    keep = np.abs(ids) == MUON
    codes, counts = np.unique(ids[~keep].astype(np.int64), return_counts=True)
    report.skipped = {int(c): int(k) for c, k in zip(codes, counts)}
    report.muons = int(keep.sum())
    x, y, z, px, py, pz = (cols[b][keep].astype(np.float64) for b in starts)
    out = {"x": x * 100.0, "y": y * 100.0, "z": z * 100.0, "px": px, "py": py, "pz": pz}
    for k in ("w", "id", "pythiaid", "parentid", "ecut"):
        out[k] = cols[k][keep].astype(np.float64)
    if report.muons:
        report.ecut = float(out["ecut"].max())
    if check_finite:
        check_muons(out, path)
    return out


def check_muons(out: dict[str, np.ndarray], path) -> None:
    """NaN or infinite momenta, positions or weights and negative weights are a UserError
    naming the file, the branch and the first bad muon."""
    for k in ("px", "py", "pz", "x", "y", "z", "w"):
        bad = np.flatnonzero(~np.isfinite(out[k]))
        if bad.size:
            raise UserError(f"{path}: branch '{k}' has {bad.size} non-finite values "
                            f"(first at muon {bad[0]}: {out[k][bad[0]]})")
    negative = np.flatnonzero(out["w"] < 0)
    if negative.size:
        raise UserError(f"{path}: branch 'w' has {negative.size} negative weights "
                        f"(first at muon {negative[0]}: {out['w'][negative[0]]}); "
                        "expected w >= 0")


def empty_muons() -> dict[str, np.ndarray]:
    """Muon arrays with no muon."""
    keys = ("x", "y", "z", "px", "py", "pz", "w", "id", "pythiaid", "parentid", "ecut")
    return {k: np.zeros(0) for k in keys}


def read_file(path: str | Path, check_finite: bool = True
              ) -> tuple[dict[str, np.ndarray], FileReport]:
    """(muons in cm and GeV/c, report) of a FairShip file: ``pythia8-Geant4`` (TNtuple or
    TTree, 11 or 17 leaves, the start as MuonBackGenerator takes it) or ``cbmsim`` (muons that
    reached the veto, :mod:`exagan_tf.muons.cbmsim`). Non-muons are skipped and counted.

    A missing file, a file that is not ROOT, a truncated file, a missing tree, an object that
    is not a tree, missing branches, ids that are not PDG codes and, with ``check_finite``,
    NaN/infinite or negative values of muons are one-line :class:`UserError` s."""
    path = Path(path)
    with _open(path) as f:
        tree = _muon_tree(f, path)
        if tree is None:
            from exagan_tf.muons import cbmsim

            return _guarded(path, cbmsim.read_cbmsim, f["cbmsim"], path, check_finite)
        cols, report = _guarded(path, _read_tree, tree, path)
        if not cols:
            return empty_muons(), report
        starts = start_leaves(_leaf_count(tree))
    return _select_muons(cols, report, path, starts, check_finite), report


def read_muons(path: str | Path, check_finite: bool = True) -> dict[str, np.ndarray]:
    """Muon arrays of ``path`` in cm and GeV/c (float64): x y z px py pz w id pythiaid
    parentid ecut (see :func:`read_file`)."""
    return read_file(path, check_finite)[0]
