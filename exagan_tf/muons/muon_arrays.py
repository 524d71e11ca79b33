"""The muon arrays every FairShip reader returns (cm and GeV/c), their checks, and the report
of what one file held; shared by the ``pythia8-Geant4`` reader (:mod:`exagan_tf.muons.rootio`)
and the ``cbmsim`` reader (:mod:`exagan_tf.muons.cbmsim`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from exagan_tf.errors import UserError

MUON = 13


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
