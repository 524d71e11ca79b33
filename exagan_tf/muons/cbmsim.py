"""Muons that reached the veto, from FairShip's simulation output (the ``cbmsim`` tree).

This is the path of the original preprocessing (``create_fragments_from_production_files``):
for every event of ``cbmsim`` it looped over ``vetoPoint`` and, for each point with
``PdgCode()`` = +-13, took the ``MCTrack`` at the point's ``GetTrackID()``; the category came
from the point's PDG code and from ``StartX() == 0 and StartY() == 0`` of that track, the
features from the track's ``GetStartX/Y/Z`` (cm), ``GetPx/Py/Pz`` (GeV/c) and ``GetWeight``.

Layout (FairShip ``shipdata/ShipMCTrack.h``, ``veto/vetoPoint.h`` on ``FairMCPoint``): both
are ``TClonesArray`` branches, split by ROOT into one branch per data member named
``MCTrack.fPdgCode`` (Int_t), ``MCTrack.fMotherId`` (Int_t), ``MCTrack.fPx/fPy/fPz``,
``MCTrack.fStartX/fStartY/fStartZ/fStartT``, ``MCTrack.fW`` (Double32_t, 4 bytes on disk) ...
and ``vetoPoint.fTrackID`` (Int_t), ``vetoPoint.fPdgCode`` (Int_t), ``vetoPoint.fX`` ...; a
split branch of a TClonesArray is a jagged array per event, which uproot reads without the
classes' dictionaries. The reader finds the branches by these names at any depth (ROOT nests
them under ``MCTrack``/``vetoPoint``).

Vectorised over the whole file: the points of every event are flattened, the muon points
kept, ``event offset + fTrackID`` indexes the flattened tracks. A muon that crosses several
veto elements leaves several points; it is one muon (the unique (event, track) pairs), which
is what "muons that reached the veto" means (the original's loop counted some of the repeats
once and some twice, depending on their order). Points of other particles are counted per
PDG id in the report. A point whose ``fTrackID`` is outside its event's tracks is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError

TRACK_MEMBERS = ("fPdgCode", "fStartX", "fStartY", "fStartZ", "fPx", "fPy", "fPz", "fW")
POINT_MEMBERS = ("fPdgCode", "fTrackID")


def _branch(tree, name: str, path: Path):
    """The (possibly nested) branch called ``name``."""
    for branch in tree.itervalues(recursive=True):
        if branch.name == name or branch.name.split("/")[-1] == name:
            return branch
    top = sorted(tree.keys(recursive=False))
    raise UserError(f"{path}: cbmsim has no branch '{name}' (FairShip's split TClonesArray "
                    f"member; top-level branches: {top[:12]})")


def _jagged(tree, name: str, path: Path):
    """(flat values float64 or int64, counts per event) of a split TClonesArray member."""
    import awkward as ak

    arr = _branch(tree, name, path).array(library="ak")
    if arr.ndim != 2:
        raise UserError(f"{path}: cbmsim branch '{name}' is not one array per event "
                        f"(type {arr.type})")
    counts = np.asarray(ak.num(arr), dtype=np.int64)
    return np.asarray(ak.to_numpy(ak.flatten(arr))), counts


def read_cbmsim(tree, path: Path, check_finite: bool = True):
    """(muons in cm and GeV/c, :class:`~exagan_tf.muons.rootio.FileReport`) of a cbmsim tree:
    one entry per muon track with a vetoPoint, ``id`` = the point's PDG code."""
    from exagan_tf.muons import rootio

    events = int(tree.num_entries)
    report = rootio.FileReport(str(path), "cbmsim (MCTrack + vetoPoint, muons at the veto)",
                               entries=events)
    if events == 0:
        report.notes.append("'cbmsim' is empty (0 events)")
        return rootio.empty_muons(), report
    point = {m: _jagged(tree, f"vetoPoint.{m}", path) for m in POINT_MEMBERS}
    track = {m: _jagged(tree, f"MCTrack.{m}", path) for m in TRACK_MEMBERS}
    n_tracks = track["fPdgCode"][1]
    for m, (_, counts) in track.items():
        if not np.array_equal(counts, n_tracks):
            raise UserError(f"{path}: MCTrack.{m} has other per-event counts than "
                            "MCTrack.fPdgCode")
    pdg, n_points = point["fPdgCode"]
    tid = point["fTrackID"][0].astype(np.int64)
    if not np.array_equal(point["fTrackID"][1], n_points):
        raise UserError(f"{path}: vetoPoint.fTrackID and vetoPoint.fPdgCode differ in length")
    pdg = pdg.astype(np.int64)
    event = np.repeat(np.arange(events), n_points)
    muon = np.abs(pdg) == rootio.MUON
    codes, counts = np.unique(pdg[~muon], return_counts=True)
    report.skipped = {int(c): int(k) for c, k in zip(codes, counts)}
    pdg, tid, event = pdg[muon], tid[muon], event[muon]
    bad = np.flatnonzero((tid < 0) | (tid >= n_tracks[event]))
    if bad.size:
        i = bad[0]
        raise UserError(f"{path}: event {event[i]}: vetoPoint.fTrackID {tid[i]} is not one of "
                        f"its {n_tracks[event[i]]} MCTracks ({bad.size} such muon points)")
    offsets = np.concatenate([[0], np.cumsum(n_tracks)[:-1]])
    index, first = np.unique(offsets[event] + tid, return_index=True)
    pdg = pdg[first]
    get = {m: track[m][0][index].astype(np.float64) for m in TRACK_MEMBERS}
    out = {"x": get["fStartX"], "y": get["fStartY"], "z": get["fStartZ"], "px": get["fPx"],
           "py": get["fPy"], "pz": get["fPz"], "w": get["fW"], "id": pdg.astype(np.float64)}
    n = len(index)
    out.update(pythiaid=np.zeros(n), parentid=np.zeros(n), ecut=np.zeros(n))
    report.muons = n
    if muon.sum() > n:
        report.notes.append(f"{int(muon.sum())} muon vetoPoints from {n} muon tracks "
                            "(a muon crossing several veto elements counted once)")
    mismatch = int(np.sum(get["fPdgCode"] != pdg))
    if mismatch:
        report.notes.append(f"{mismatch} muons whose MCTrack.fPdgCode differs from the "
                            "vetoPoint's; the category follows the vetoPoint, as originally")
    if check_finite:
        rootio.check_muons(out, path)
    return out, report
