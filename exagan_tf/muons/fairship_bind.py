"""Read a ``pythia8-Geant4`` file as FairShip's ``MuonBackGenerator`` binds it (a check).

Mirrors ``MuonBackGenerator::Init`` and ``ReadEvent`` (ShipSoft/FairShip ``shipgen/``) with the
defaults of ``Init(fileName)`` (no phi randomisation, no beam smearing, first event 0):

* ``SetBranchAddress`` with ``Float_t`` addresses on ``id parentid pythiaid ecut w`` and on
  ``x y z px py pz`` when ``GetListOfLeaves()->GetSize() < 17``, else ``ox oy oz opx opy
  opz``. ROOT refuses an address whose type differs from the branch's, so a branch that is not
  a single ``Float_t`` leaf is an error here (a Double_t branch would leave the variable unset).
* Entries with ``abs(int(id)) != 13`` are skipped (C++ ``int()`` truncates towards zero).
* Per muon, ``e = sqrt(px^2 + py^2 + pz^2 + m_mu^2)`` and two ``AddTrack`` calls, vertex
  ``(vx, vy, vz) * 100`` cm: first PDG ``int(pythiaid)``, not tracked, time ``pythiaid``,
  weight ``parentid``; then PDG ``int(id)``, tracked, time 0, weight ``w``.

:func:`bind` returns those tracks as arrays, so a test or a user can check that written files
give FairShip the muons that were meant (``python -m exagan_tf.muons.fairship_bind FILE``
prints a summary).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons import rootio

MUON_MASS = 0.1056583755  # GeV, PDG 2022 (TDatabasePDG's value agrees to 1e-8)


def bind(path: str | Path) -> dict[str, np.ndarray]:
    """The tracks MuonBackGenerator would add for each muon of ``path`` (see module notes).

    Keys: ``entry`` (tree entry of each muon), ``first_pdg``, ``first_time``,
    ``first_weight``, ``first_tracked`` (the untracked Pythia-particle track), ``pdg``,
    ``weight``, ``tracked`` (the muon), and shared ``px py pz`` (GeV/c), ``e`` (GeV), ``vx vy
    vz`` (cm); ``leaves`` (the leaf count), ``entries``."""
    path = Path(path)
    with rootio._open(path) as f:
        tree = rootio._muon_tree(f, path)
        if tree is None:
            raise UserError(f"{path}: a cbmsim file; bind() reads pythia8-Geant4 files")
        n_leaves = rootio._leaf_count(tree)
        starts = rootio.start_leaves(n_leaves)
        bound = rootio.BOUND + starts
        have = set(tree.keys())
        missing = [b for b in bound if b not in have]
        if missing:
            raise UserError(f"{path}: SetBranchAddress would find no branch {missing}")
        for b in bound:
            leaves = tree[b].member("fLeaves")
            kind = leaves[0].classname if len(leaves) else "none"
            if len(leaves) != 1 or kind != "TLeafF":
                raise UserError(f"{path}: branch '{b}' holds {kind} (x{len(leaves)}); "
                                "SetBranchAddress with a Float_t address needs one TLeafF")
        cols = rootio._guarded(path, lambda: {b: tree[b].array(library="np") for b in bound})
        entries = int(tree.num_entries)
    ids = cols["id"].astype(np.float32)
    keep = np.abs(np.trunc(ids)) == 13
    vx, vy, vz, px, py, pz = (cols[b][keep].astype(np.float32) for b in starts)
    pxd, pyd, pzd = (a.astype(np.float64) for a in (px, py, pz))
    pythiaid = cols["pythiaid"][keep].astype(np.float32)
    return {
        "entry": np.flatnonzero(keep),
        "entries": np.array(entries),
        "leaves": np.array(n_leaves),
        "first_pdg": np.trunc(pythiaid).astype(np.int64),
        "first_time": pythiaid.astype(np.float64),
        "first_weight": cols["parentid"][keep].astype(np.float64),
        "first_tracked": np.zeros(int(keep.sum()), dtype=bool),
        "pdg": np.trunc(ids[keep]).astype(np.int64),
        "weight": cols["w"][keep].astype(np.float64),
        "tracked": np.ones(int(keep.sum()), dtype=bool),
        "px": pxd,
        "py": pyd,
        "pz": pzd,
        "e": np.sqrt(pxd**2 + pyd**2 + pzd**2 + MUON_MASS**2),
        "vx": vx.astype(np.float64) * 100.0,
        "vy": vy.astype(np.float64) * 100.0,
        "vz": vz.astype(np.float64) * 100.0,
    }


@cli_errors
def main(argv=None) -> int:
    """CLI: print what MuonBackGenerator would take from each file."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.muons.fairship_bind",
                                description="Read pythia8-Geant4 files as MuonBackGenerator.")
    p.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    for name in args.files:
        t = bind(name)
        n = len(t["pdg"])
        prompt = (t["vx"] == 0) & (t["vy"] == 0)
        print(f"{name}: {int(t['leaves'])} leaves, {int(t['entries'])} entries -> {n} muons "
              f"(mu- {int(np.sum(t['pdg'] == 13))}, mu+ {int(np.sum(t['pdg'] == -13))}; "
              f"start at x = y = 0: {int(prompt.sum())}); weight sum {t['weight'].sum():.6g}; "
              f"first-track PDG codes {sorted(set(t['first_pdg'].tolist()))[:6]}; "
              f"start z {t['vz'].min() if n else 0:.1f} to {t['vz'].max() if n else 0:.1f} cm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
