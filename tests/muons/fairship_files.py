"""Files in FairShip's own layouts, written independently of ``exagan_tf.muons.rootio``'s writer.

* :func:`write_tntuple` writes a real ``TNtuple`` (class version 2), the class FairShip's
  ``g4Ex_gap.py``, ``g4Ex_gap_mergeFiles.py`` and ``g4Ex_gap_mergeMbias.py`` create with
  ``ROOT.TNtuple("pythia8-Geant4", title, "id:px:py:...")``. uproot's public writing API makes
  only ``TTree`` objects, so its cascade writer is extended here: ROOT streams a TNtuple as a
  byte-count + version 2 header, the whole TTree (v20) and ``fNvar`` (Int_t, the number of
  columns); every column is one branch holding one ``Float_t`` leaf. The file also carries
  the TNtuple ``TStreamerInfo`` ROOT writes beside it: a ``TStreamerBase`` of TTree (v20) and
  the ``fNvar`` element, with the class checksum ROOT's ``TClass::GetCheckSum`` gives
  (0xb8a51cab; the same algorithm reproduces the stored TObject, TNamed and TTree checksums,
  checked in ``test_fairship_io.py``). Baskets are flushed every ``basket_entries`` entries so
  that a file has several baskets, as ROOT's 32 kB buffers give for large ntuples.
* :func:`write_cbmsim` writes FairShip's simulation output the way a reader meets it: a
  ``cbmsim`` tree whose ``MCTrack`` (``ShipMCTrack``) and ``vetoPoint`` TClonesArrays are split
  into one jagged branch per data member, named as ROOT names split members
  (``MCTrack.fPdgCode``, ``MCTrack.fStartX``, ``vetoPoint.fTrackID``, ...) with the element
  counts in ``MCTrack_`` and ``vetoPoint_``. Members are written with their on-disk types:
  ``Int_t`` as int32 and ``Double32_t`` (no range given) as 4-byte floats.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import uproot
import uproot.writing._cascadetree as cascadetree

TNTUPLE_VERSION = 2
TNTUPLED_VERSION = 1  # TNtupleD: the same layout with Double_t columns
TTREE_VERSION = 20
TTREE_CHECKSUM = 0x7264E07F  # stored in uproot's TTree v20 streamer (written by ROOT)
TNTUPLE_CHECKSUM = 0xB8A51CAB  # TClass::GetCheckSum of TNtuple v2 (see tntuple_checksum)

LEAVES_11 = "id:px:py:pz:x:y:z:pythiaid:parentid:w:ecut"
LEAVES_17 = "id:px:py:pz:x:y:z:opx:opy:opz:ox:oy:oz:pythiaid:parentid:w:ecut"


def root_checksum(name: str, bases, members) -> int:
    """ROOT's class checksum (``TClass::GetCheckSum``, latest kind, no enums or arrays):
    id = id*3 + c over the class name, each base name then the base's checksum, each
    persistent member's name, type name and ``[counter]`` range; unsigned 32-bit."""
    mask = 0xFFFFFFFF

    def fold(value: int, text: str) -> int:
        for c in text:
            value = (value * 3 + ord(c)) & mask
        return value

    value = fold(0, name)
    for base, checksum in bases:
        value = (fold(value, base) * 3 + checksum) & mask
    for member, typename, counter in members:
        value = fold(fold(fold(value, member), typename), counter)
    return value


def tntuple_checksum(classname: str = "TNtuple") -> int:
    """TNtuple v2 / TNtupleD v1: base TTree, one persistent member ``Int_t fNvar`` (``fArgs``
    is transient)."""
    return root_checksum(classname, [("TTree", TTREE_CHECKSUM)], [("fNvar", "int", "")])


class _NtupleCascade(cascadetree.Tree):
    """uproot's TTree cascade, streamed as ROOT streams a TNtuple (TTree inside, then fNvar)."""

    classname, version = "TNtuple", TNTUPLE_VERSION

    def _build_out(self):
        out = super()._build_out()
        body = b"".join(out)
        nvar = np.array([len(self._branch_data)], ">i4").tobytes()
        header = uproot.serialization.numbytes_version(len(body) + len(nvar), self.version)
        shift = len(header)
        self._metadata_start += shift
        for datum in self._branch_data:
            for key in ("metadata_start", "basket_metadata_start"):
                if key in datum:
                    datum[key] += shift
        return [header, body, nvar]

    def write_anew(self, sink):
        raw = b"".join(self._build_out())
        self._key = self._directory.add_object(
            sink, self.classname, self._name, self._title, raw, len(raw), replaces=self._key,
            big=True,
        )


def _tstring(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def _versioned(body: bytes, version: int) -> bytes:
    return uproot.serialization.numbytes_version(len(body), version) + body


def _object_any(classname: str, body: bytes) -> bytes:
    """A pointer to a new class in a TBuffer: byte count, kNewClassTag, class name, object."""
    content = b"\xff\xff\xff\xff" + classname.encode() + b"\x00" + body
    return struct.pack(">I", 0x40000000 | len(content)) + content


def _tnamed(name: str, title: str, bits: int) -> bytes:
    return _versioned(b"\x00\x01" + struct.pack(">II", 0, bits) + _tstring(name) + _tstring(title), 1)


def _element(name, title, ftype, size, max_index, typename) -> bytes:
    """TStreamerElement v4: TNamed, fType, fSize, fArrayLength, fArrayDim, fMaxIndex[5],
    fTypeName."""
    body = _tnamed(name, title, 0x03000000) + struct.pack(">iiii", ftype, size, 0, 0)
    return _versioned(body + struct.pack(">5I", *max_index) + _tstring(typename), 4)


def tntuple_streamer_bytes(classname: str = "TNtuple", version: int = TNTUPLE_VERSION) -> bytes:
    """The TNtuple v2 (or TNtupleD v1) TStreamerInfo as it sits in a file's list of streamers (object, then
    the empty option string TList writes after each object)."""
    base = _object_any("TStreamerBase", _versioned(
        _element("TTree", "Tree descriptor (the main ROOT I/O class)", 0, 0,
                 (0, TTREE_CHECKSUM, 0, 0, 0), "BASE") + struct.pack(">i", TTREE_VERSION), 3))
    nvar = _object_any("TStreamerBasicType", _versioned(
        _element("fNvar", "Number of columns", 3, 4, (0, 0, 0, 0, 0), "int"), 2))
    array = _object_any("TObjArray", _versioned(
        b"\x00\x01" + struct.pack(">II", 0, 0) + b"\x00" + struct.pack(">ii", 2, 0) + base + nvar,
        3))
    info = _tnamed(classname, "", 0x03010000) + struct.pack(">Ii", tntuple_checksum(classname),
                                                          version)
    return _object_any("TStreamerInfo", _versioned(info + array, 9)) + b"\x00"


def write_tntuple(
    path: str | Path,
    columns: dict[str, np.ndarray],
    varlist: str,
    title: str = "muon/nu flux",
    basket_entries: int = 500,
    dtype=np.float32,
) -> Path:
    """A ROOT file holding the TNtuple ``pythia8-Geant4`` with the columns of ``varlist``.

    ``dtype=np.float64`` writes a TNtupleD (class version 1: the same layout, Double_t
    columns) to test the double-precision path."""
    names = varlist.split(":")
    data = {n: np.ascontiguousarray(columns[n], dtype=dtype) for n in names}
    n = len(data[names[0]])
    path = Path(path)
    if not hasattr(cascadetree.Tree, "_build_out"):  # the layout hook of uproot >= 5.7
        raise RuntimeError(f"writing a TNtuple needs uproot >= 5.7 (have {uproot.__version__})")
    original = cascadetree.Tree
    with uproot.recreate(path) as f:
        double = np.dtype(dtype) == np.float64
        cascadetree.Tree = type("Cascade", (_NtupleCascade,), {
            "classname": "TNtupleD" if double else "TNtuple",
            "version": TNTUPLED_VERSION if double else TNTUPLE_VERSION})
        try:
            tree = f.mktree("pythia8-Geant4", {k: dtype for k in names}, title=title)
        finally:
            cascadetree.Tree = original
        kind = ("TNtupleD", TNTUPLED_VERSION) if double else ("TNtuple", TNTUPLE_VERSION)
        raw = uproot.writing._cascade.RawStreamerInfo(None, tntuple_streamer_bytes(*kind), *kind)
        f.file._cascading.streamers.update_streamers(f.file.sink, [raw])
        for start in range(0, n, basket_entries):
            tree.extend({k: v[start : start + basket_entries] for k, v in data.items()})
    return path


def write_cbmsim(path: str | Path, events: list[dict], basket_events: int = 3) -> Path:
    """``cbmsim`` with split ``MCTrack`` and ``vetoPoint`` branches.

    ``events``: per event a dict with ``tracks`` (dict of ShipMCTrack members: fPdgCode,
    fMotherId, fPx, fPy, fPz, fStartX, fStartY, fStartZ, fW; equal-length lists) and
    ``points`` (dict of vetoPoint members: fTrackID, fPdgCode, fX, fY, fZ, fPx, fPy, fPz)."""
    import awkward as ak

    ints = {"fPdgCode", "fMotherId", "fTrackID", "fProcID", "fDetectorID"}

    def record(kind: str, rows: list[dict]):
        fields = {}
        for name in rows[0][kind]:
            dt = np.int32 if name in ints else np.float32
            fields[name] = ak.Array([np.asarray(r[kind][name], dtype=dt) for r in rows])
        return ak.zip(fields)

    path = Path(path)
    with uproot.recreate(path) as f:
        tree = None
        for start in range(0, len(events), basket_events):
            part = events[start : start + basket_events]
            data = {"MCTrack": record("tracks", part), "vetoPoint": record("points", part)}
            if tree is None:
                tree = f.mktree(
                    "cbmsim",
                    {k: v.type for k, v in data.items()},
                    title="/cbmroot",
                    counter_name=lambda counted: counted + "_",
                    field_name=lambda outer, inner: f"{outer}.{inner}",
                )
            tree.extend(data)
    return path


NEUTRINOS = (12, -12, 14, -14, 16)
SCORING_Z_M = -64.40  # the end of the hadron absorber in simulate.py's frame (metres)


def flux_columns(n_muons: int, n_neutrinos: int, seed: int, leaves: int, ecut: float = 0.5):
    """Columns (metres, GeV/c, float32) of a muon/neutrino flux file in FairShip's layout, and
    the truth: {"muons": start arrays in cm as FairShip takes them, "neutrinos": PDG ids}.

    Muons come from ``simulate.simulate_muons`` (their start). With 17 leaves the origin
    columns hold the start and ``x y z px py pz`` the scoring plane (straight line to
    z = -64.40 m, 10% momentum loss), so a reader taking ``x y`` as the start would put every
    prompt muon among the displaced ones. ``pythiaid``/``parentid`` follow g4Ex_gap: a pi or K
    parent is the Pythia particle (mother unknown: 0); otherwise the muon is, the parent its
    mother."""
    from exagan_tf.muons import simulate

    rng = np.random.default_rng(seed)
    mu = simulate.simulate_muons(n_muons, seed=seed)
    n = len(mu["z"])
    parent = mu["parentid"]
    decayed = np.isin(np.abs(parent), (211, 321))
    ox, oy, oz = mu["x"] / 100.0, mu["y"] / 100.0, mu["z"] / 100.0
    scale = (SCORING_Z_M - oz) / mu["pz"]
    plane = {"x": ox + scale * mu["px"], "y": oy + scale * mu["py"],
             "z": np.full(n, SCORING_Z_M), "px": 0.9 * mu["px"], "py": 0.9 * mu["py"],
             "pz": 0.9 * mu["pz"]}
    origin = {"x": ox, "y": oy, "z": oz, "px": mu["px"], "py": mu["py"], "pz": mu["pz"]}
    cols = {"id": mu["id"], "pythiaid": np.where(decayed, parent, mu["id"]),
            "parentid": np.where(decayed, 0.0, parent), "w": mu["w"], "ecut": np.full(n, ecut)}
    if leaves == 17:
        cols.update({k: plane[k] for k in plane})
        cols.update({"o" + k: origin[k] for k in origin})
    else:
        cols.update(origin)
    nu = rng.choice(NEUTRINOS, n_neutrinos)
    nu_cols = {"id": nu.astype(float), "pythiaid": nu.astype(float),
               "parentid": rng.choice([211.0, 321.0, 411.0], n_neutrinos),
               "w": rng.uniform(0.01, 100.0, n_neutrinos), "ecut": np.full(n_neutrinos, ecut)}
    for k in ("x", "y", "ox", "oy"):
        nu_cols[k] = rng.normal(0.0, 0.5, n_neutrinos)
    for k in ("z", "oz"):
        nu_cols[k] = np.full(n_neutrinos, SCORING_Z_M)
    for k in ("px", "py", "opx", "opy"):
        nu_cols[k] = rng.normal(0.0, 0.3, n_neutrinos)
    for k in ("pz", "opz"):
        nu_cols[k] = rng.uniform(1.0, 100.0, n_neutrinos)
    names = (LEAVES_17 if leaves == 17 else LEAVES_11).split(":")
    order = rng.permutation(n + n_neutrinos)
    out = {k: np.concatenate([cols[k], nu_cols[k]])[order].astype(np.float32) for k in names}
    start = ("o" if leaves == 17 else "")
    f32 = {k: out[start + k] for k in ("x", "y", "z", "px", "py", "pz")}
    is_mu = np.abs(out["id"]) == 13
    truth = {k: f32[k][is_mu].astype(np.float64) * (100.0 if k in "xyz" else 1.0)
             for k in f32}
    truth.update(w=out["w"][is_mu].astype(np.float64), id=out["id"][is_mu].astype(np.float64))
    return out, {"muons": truth, "neutrinos": out["id"][~is_mu].astype(int)}


def write_fairship_folder(out: str | Path, n_files: int = 4, muons_per_file: int = 3000,
                          neutrino_fraction: float = 0.3, seed: int = 0) -> list[Path]:
    """A folder of FairShip flux files: TNtuples alternating 11 and 17 leaves, neutrinos
    mixed in, 500 entries per basket, ecut 0.5 and 1.0 GeV alternating."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_files):
        leaves = 11 if i % 2 == 0 else 17
        cols, _ = flux_columns(muons_per_file, int(muons_per_file * neutrino_fraction),
                               seed + i, leaves, ecut=0.5 + 0.5 * (i % 2))
        varlist = LEAVES_11 if leaves == 11 else LEAVES_17
        paths.append(write_tntuple(out / f"pythia8_Geant4_{i}_{leaves}leaves.root", cols,
                                   varlist))
    return paths
