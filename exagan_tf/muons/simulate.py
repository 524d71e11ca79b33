"""A weighted muon source for a 400 GeV proton beam on the SHiP target, written as ROOT files.

The original training data (Pythia8 + Geant4, ~3.4e8 muons, 66 files) cannot be had. This module
keeps the task's nature with a small, documented physics model; every number is stated here.

Coordinates: SHiP frame, z along the beam, positions in cm (written to ROOT in metres, as the
FairShip ``MuonBackGenerator`` expects), momenta in GeV/c. PDG ids: mu- = +13, mu+ = -13.
Files are FairShip's 11-leaf ``pythia8-Geant4`` layout (:mod:`exagan_tf.muons.rootio`):
``pythiaid``/``parentid`` as FairShip's production fills them from each muon's parent
(``rootio.fairship_ids``: a pi or K parent was decayed by Geant4 and is the Pythia particle;
vector mesons and charm decayed inside Pythia, so the muon is, with the meson as its mother),
``ecut`` 0 (this source applies no kinetic-energy cut, only the absorber's range).

Geometry (``target_layers``)
    The target starts at z0 = -7084.5 cm: 18 slabs, 8 of molybdenum then 10 of tungsten, with
    0.5 cm water gaps between them, 144.5 cm in all (slab thicknesses ``MO_SLABS_CM`` and
    ``W_SLABS_CM``, 136 cm of metal + 17 x 0.5 cm of water). A 500 cm iron hadron absorber
    follows directly (to z = -6440 cm). Nuclear interaction lengths and minimum-ionising
    stopping powers from the PDG tables (Atomic and Nuclear Properties):
    Mo lambda_I = 14.96 cm, 13.0 MeV/cm; W 9.946 cm, 22.1 MeV/cm; water 83.3 cm, 1.99 MeV/cm;
    Fe 16.77 cm, 11.4 MeV/cm.

Interaction points
    A hadron crossing layers of constant lambda_I has optical depth T(z) = sum dz_i / lambda_i,
    piecewise linear in z; its first interaction is at z = T^-1(T(z_start) + tau), tau ~ Exp(1)
    (``interaction_z``). Interactions in the water gaps are lambda_Mo/lambda_water ~ 1/5.6 as
    dense as in the neighbouring metal, which gives StartZ its discrete slab fine structure.

Prompt muons (x = y = 0)
    Produced at the proton's first interaction point on the beam axis (the beam is not smeared,
    as in the original, so prompt muons have StartX = StartY = 0 exactly):
    * light vector mesons (rho0, omega, phi -> mu+ mu-, fractions 0.4/0.4/0.2), one muon of
      either charge kept; weight ``W_MAX`` = 768.75 (protons on target per simulated event);
    * charm (D -> mu X), simulated with a x100 enhanced cross-section, so weight W_MAX / 100;
      mu+ fraction 0.45 (leading-particle effect). The semileptonic decay is approximated by a
      two-body decay with the muon's rest-frame momentum p* ~ (M_D/2) Beta(2, 3).
    Parent Feynman-x: dN/dx_F ~ (1 - x_F)^n (valence counting) with x_F = p_z / 400 GeV;
    parent transverse momentum: dN/dp_T ~ p_T exp(-p_T / T) (a Gamma(2, T) law, mean 2T).
    n and T per parent are in ``PARENTS`` (charm harder in both than the vector mesons).

Displaced muons (pi / K decays in flight)
    pi+-, K+- are produced at the primary vertex (probability 0.6) or at a secondary cascade
    interaction one further interaction length downstream, off-axis by the angle of an
    intermediate hadron (p_T/p ~ Gamma(2, 0.01)). The parent flies until absorbed; decays are
    forced: the decay point is drawn from the absorption law exp(-T) (``interaction_z``), and
    the importance weight is the ratio of the decay rate to the absorption rate there,
    lambda_I(z_d) / (beta gamma c tau), times the branching ratio and a production multiplicity
    ``DISPLACED_MULTIPLICITY`` = 5000 (charged pi/K with p > 5 GeV per vector-meson muon: a
    rho/omega/phi -> mu mu branching of ~1e-4 against ~1 such hadron per interaction).
    Decays in the water gaps weigh lambda_water/lambda_W ~ 8 times more than in tungsten.
    StartX = x_p + (z_d - z_p) p_x/p_z of the parent: sharply peaked at 0 with long tails.

Decay kinematics (``two_body_decay``)
    Isotropic in the parent's rest frame with momentum p*, boosted along the parent:
    p_lab = p* + [(gamma - 1)(p* . n) + gamma beta E*] n. For pi -> mu nu the lab muon energy is
    uniform on [m_mu^2/m_pi^2, 1] x E_pi at high energy (tested).

Acceptance
    Muons are kept when they leave the absorber: p > sum of (dE/dx) dz from the start point to
    the end of the absorber (minimum-ionising losses: about 8.6 GeV from the front of the
    target), and p_z > 0.

Weights and the x100 subsample
    Relative rates s per simulated muon: 1 for vector mesons, 1/100 for the x100 enhanced
    charm, 5000 * BR * lambda_I / (beta gamma c tau) for displaced muons. The weight is
    w = W_MAX * s / S_MAX (``weight_scale``), S_MAX = max(1, the largest displaced s allowed
    by the sampled phase space: a kaon at the lowest sampled momentum decaying in water,
    5000 * 0.6356 * 83.3 cm * 0.49368 / (5 GeV * 371.2 cm) = 70.4). So weights lie in
    (0, W_MAX], W_MAX = 768.75 as in the original production, spanning ~5 decades: vector-meson
    muons 10.9, charm 0.109, displaced ~0.005 to ~700.

Rogue files
    ``rogue_files`` reproduces the original's bad charm production file: in those files the
    charm muons keep their enhanced weight (W_MAX instead of W_MAX/100) and start 100 cm
    upstream of the target. The preprocessing's blacklist excludes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors

M_MU = 0.1056584  # GeV
BEAM_GEV = 400.0
W_MAX = 768.75
CHARM_ENHANCEMENT = 100.0
DISPLACED_MULTIPLICITY = 5000.0
PARENT_P_MIN = 5.0  # GeV, lowest parent momentum sampled (below the acceptance threshold)
Z_TARGET_START = -7084.5  # cm
WATER_GAP_CM = 0.5
MO_SLABS_CM = (8.0, 8.0, 8.0, 8.0, 5.0, 5.0, 5.0, 5.0)
W_SLABS_CM = (6.5, 6.5, 7.5, 7.5, 8.0, 8.0, 9.0, 9.0, 10.0, 12.0)
ABSORBER_CM = 500.0

# material: (nuclear interaction length cm, minimum-ionising dE/dx GeV/cm)
MATERIALS = {
    "Mo": (14.96, 13.0e-3),
    "W": (9.946, 22.1e-3),
    "water": (83.3, 1.99e-3),
    "Fe": (16.77, 11.4e-3),
}


@dataclasses.dataclass(frozen=True)
class Parent:
    """A muon parent: PDG id, mass (GeV), c*tau (cm, inf for prompt), branching ratio to a
    muon, rest-frame muon momentum p* (GeV; None = charm's Beta law), (1-x_F)^n exponent and
    p_T slope T (GeV)."""

    pdg: int
    mass: float
    ctau: float
    br: float
    pstar: float | None
    n: float
    T: float


def _pstar(m: float) -> float:
    """Two-body p* for M -> mu + massless, or M -> mu mu (mass given as the parent's)."""
    return (m * m - M_MU * M_MU) / (2 * m)


PARENTS = {
    "pi+": Parent(211, 0.13957, 780.45, 0.99988, _pstar(0.13957), 3.0, 0.19),
    "pi-": Parent(-211, 0.13957, 780.45, 0.99988, _pstar(0.13957), 4.0, 0.19),
    "K+": Parent(321, 0.49368, 371.2, 0.6356, _pstar(0.49368), 2.5, 0.24),
    "K-": Parent(-321, 0.49368, 371.2, 0.6356, _pstar(0.49368), 5.0, 0.24),
    "rho0": Parent(113, 0.7753, np.inf, 1.0, float(np.sqrt(0.7753**2 / 4 - M_MU**2)), 3.5, 0.35),
    "omega": Parent(223, 0.7827, np.inf, 1.0, float(np.sqrt(0.7827**2 / 4 - M_MU**2)), 3.5, 0.35),
    "phi": Parent(333, 1.0195, np.inf, 1.0, float(np.sqrt(1.0195**2 / 4 - M_MU**2)), 3.5, 0.35),
    "D": Parent(411, 1.8697, np.inf, 1.0, None, 3.0, 0.8),
}
DISPLACED_MIX = {"pi+": 0.40, "pi-": 0.31, "K+": 0.19, "K-": 0.10}
VM_MIX = {"rho0": 0.4, "omega": 0.4, "phi": 0.2}

TREE_NAME = "pythia8-Geant4"


@dataclasses.dataclass(frozen=True)
class Layers:
    """Material layers along z: edges (cm, n+1), interaction lengths (cm) and dE/dx (GeV/cm)."""

    edges: np.ndarray
    lam: np.ndarray
    dedx: np.ndarray
    names: tuple[str, ...]

    @property
    def depth(self) -> np.ndarray:
        """Optical depth T at each edge (T = 0 at the first edge)."""
        return np.concatenate([[0.0], np.cumsum(np.diff(self.edges) / self.lam)])

    @property
    def eloss(self) -> np.ndarray:
        """Ionisation loss (GeV) from each edge to the last edge."""
        lost = np.diff(self.edges) * self.dedx
        return np.concatenate([np.cumsum(lost[::-1])[::-1], [0.0]])


def target_layers(absorber_cm: float = ABSORBER_CM) -> Layers:
    """The SHiP-like target (Mo then W slabs, water gaps) followed by the iron absorber."""
    names, widths = [], []
    slabs = [("Mo", t) for t in MO_SLABS_CM] + [("W", t) for t in W_SLABS_CM]
    for i, (mat, t) in enumerate(slabs):
        if i:
            names.append("water")
            widths.append(WATER_GAP_CM)
        names.append(mat)
        widths.append(t)
    names.append("Fe")
    widths.append(absorber_cm)
    edges = Z_TARGET_START + np.concatenate([[0.0], np.cumsum(widths)])
    lam = np.array([MATERIALS[n][0] for n in names])
    dedx = np.array([MATERIALS[n][1] for n in names])
    return Layers(edges, lam, dedx, tuple(names))


def interaction_z(layers: Layers, z_start: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """z (cm) reached after optical depth ``tau`` from ``z_start``: T^-1(T(z_start) + tau).

    Returns NaN where the hadron leaves the last layer first.
    """
    depth = layers.depth
    t = np.interp(z_start, layers.edges, depth) + tau
    z = np.interp(t, depth, layers.edges)
    return np.where(t > depth[-1], np.nan, z)


def layer_index(layers: Layers, z: np.ndarray) -> np.ndarray:
    """Index of the layer containing each z."""
    idx = np.searchsorted(layers.edges, z, side="right") - 1
    return np.clip(idx, 0, len(layers.lam) - 1)


def energy_loss_to_exit(layers: Layers, z: np.ndarray) -> np.ndarray:
    """Minimum-ionising energy loss (GeV) from z to the end of the absorber."""
    return np.interp(z, layers.edges, layers.eloss)


def sample_xf(rng: np.random.Generator, n: float, x_min: float, size: int) -> np.ndarray:
    """Feynman-x from dN/dx ~ (1 - x)^n on [x_min, 1] by inverting the CDF."""
    a = (1.0 - x_min) ** (n + 1)
    u = rng.random(size)
    return 1.0 - (a * (1.0 - u)) ** (1.0 / (n + 1))


def two_body_decay(
    rng: np.random.Generator, parent_p: np.ndarray, mass: float, pstar: np.ndarray
) -> np.ndarray:
    """Lab momenta (n, 3) of a muon emitted isotropically with rest-frame momentum ``pstar``
    by parents of momenta ``parent_p`` (n, 3) and ``mass`` (GeV)."""
    n = len(parent_p)
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    pstar = np.broadcast_to(pstar, (n,))
    ps = pstar[:, None] * np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    estar = np.sqrt(pstar**2 + M_MU**2)
    pmag = np.linalg.norm(parent_p, axis=1)
    nhat = parent_p / pmag[:, None]
    gamma = np.sqrt(pmag**2 + mass**2) / mass
    gb = pmag / mass
    along = np.sum(ps * nhat, axis=1)
    return ps + ((gamma - 1.0) * along + gb * estar)[:, None] * nhat


def weight_scale() -> float:
    """S_MAX: the largest relative rate s any simulated muon can have (see the module notes)."""
    lam_max = max(lam for lam, _ in MATERIALS.values())
    bound = max(
        DISPLACED_MULTIPLICITY
        * PARENTS[k].br
        * lam_max
        * PARENTS[k].mass
        / (PARENT_P_MIN * PARENTS[k].ctau)
        for k in DISPLACED_MIX
    )
    return max(1.0, bound)


def _parent_momenta(rng, parent: Parent, size: int, p_min: float) -> np.ndarray:
    pz = BEAM_GEV * sample_xf(rng, parent.n, p_min / BEAM_GEV, size)
    pt = rng.gamma(2.0, parent.T, size)
    phi = rng.uniform(0.0, 2 * np.pi, size)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pz], axis=1)


def _empty() -> dict[str, np.ndarray]:
    keys = ("x", "y", "z", "px", "py", "pz", "w", "id", "parentid")
    return {k: np.zeros(0) for k in keys}


def _prompt(rng, layers, size, rogue: bool) -> dict[str, np.ndarray]:
    z = interaction_z(layers, np.full(size, layers.edges[0]), rng.exponential(1.0, size))
    is_charm = rng.random(size) < 0.3
    names = np.where(is_charm, "D", rng.choice(list(VM_MIX), size=size, p=list(VM_MIX.values())))
    mu = np.zeros((size, 3))
    parentid = np.zeros(size)
    charge = np.zeros(size)
    for name in np.unique(names):
        sel = names == name
        k = int(sel.sum())
        par = PARENTS[name]
        pp = _parent_momenta(rng, par, k, p_min=PARENT_P_MIN)
        if par.pstar is None:
            pstar = 0.5 * par.mass * rng.beta(2.0, 3.0, k)
            q = np.where(rng.random(k) < 0.45, 1.0, -1.0)
        else:
            pstar = np.full(k, par.pstar)
            q = np.where(rng.random(k) < 0.5, 1.0, -1.0)
        mu[sel] = two_body_decay(rng, pp, par.mass, pstar)
        parentid[sel] = par.pdg * (q if name == "D" else 1.0)
        charge[sel] = q
    w = np.where(is_charm, 1.0 / CHARM_ENHANCEMENT, 1.0) * (W_MAX / weight_scale())
    if rogue:  # the bad charm file: enhancement not undone, vertices upstream of the target
        w = np.where(is_charm, W_MAX / weight_scale(), w)
        z = np.where(is_charm, z - 100.0, z)
    return {
        "x": np.zeros(size),
        "y": np.zeros(size),
        "z": z,
        "px": mu[:, 0],
        "py": mu[:, 1],
        "pz": mu[:, 2],
        "w": w,
        "id": -13.0 * charge,
        "parentid": parentid,
    }


def _displaced(rng, layers, size) -> dict[str, np.ndarray]:
    z_beam = np.full(size, layers.edges[0])
    z_p = interaction_z(layers, z_beam, rng.exponential(1.0, size))
    cascade = rng.random(size) < 0.4
    z_sec = interaction_z(layers, z_p, rng.exponential(1.0, size))
    slope = rng.gamma(2.0, 0.01, size)
    phi0 = rng.uniform(0.0, 2 * np.pi, size)
    dz0 = np.where(cascade, z_sec - z_p, 0.0)
    x_p = dz0 * slope * np.cos(phi0)
    y_p = dz0 * slope * np.sin(phi0)
    z_p = np.where(cascade, z_sec, z_p)
    names = rng.choice(list(DISPLACED_MIX), size=size, p=list(DISPLACED_MIX.values()))
    out = {k: np.zeros(size) for k in ("x", "y", "z", "px", "py", "pz", "w", "id", "parentid")}
    for name in np.unique(names):
        sel = np.flatnonzero(names == name)
        k = len(sel)
        par = PARENTS[name]
        pp = _parent_momenta(rng, par, k, p_min=PARENT_P_MIN)
        pmag = np.linalg.norm(pp, axis=1)
        cos_h = pp[:, 2] / pmag
        z_d = interaction_z(layers, z_p[sel], rng.exponential(1.0, k) * cos_h)
        lam_dec = pmag / par.mass * par.ctau
        lam_i = layers.lam[layer_index(layers, np.nan_to_num(z_d, nan=layers.edges[-1] - 1e-6))]
        s = DISPLACED_MULTIPLICITY * par.br * lam_i / lam_dec
        mu = two_body_decay(rng, pp, par.mass, np.full(k, par.pstar))
        dz = z_d - z_p[sel]
        out["x"][sel] = x_p[sel] + dz * pp[:, 0] / pp[:, 2]
        out["y"][sel] = y_p[sel] + dz * pp[:, 1] / pp[:, 2]
        out["z"][sel] = z_d
        out["px"][sel], out["py"][sel], out["pz"][sel] = mu.T
        out["w"][sel] = W_MAX * s / weight_scale()
        out["id"][sel] = -13.0 * np.sign(par.pdg)
        out["parentid"][sel] = par.pdg
    return out


def _accept(layers, m: dict[str, np.ndarray]) -> np.ndarray:
    p = np.sqrt(m["px"] ** 2 + m["py"] ** 2 + m["pz"] ** 2)
    ok = np.isfinite(m["z"]) & (m["pz"] > 0)
    ok &= p > energy_loss_to_exit(layers, np.nan_to_num(m["z"], nan=layers.edges[-1]))
    # a displaced muon must start off the beam axis (a forced decay exactly at the vertex of a
    # primary parent is measure-zero but would land in the prompt category)
    return ok


def simulate_muons(
    n: int, seed: int = 0, prompt_fraction: float = 0.56, rogue: bool = False
) -> dict[str, np.ndarray]:
    """``n`` accepted muons (about ``prompt_fraction`` prompt by count).

    Returns arrays in cm and GeV/c: x, y, z, px, py, pz, w (weight), id (PDG, +-13), parentid.
    """
    if n < 0:
        raise UserError(f"simulate_muons: n={n} must be >= 0")
    if not 0.0 <= prompt_fraction <= 1.0:
        raise UserError(f"prompt_fraction={prompt_fraction} must be in [0, 1]")
    rng = np.random.default_rng(seed)
    layers = target_layers()
    n_prompt = int(round(n * prompt_fraction))
    parts = []
    for want, make in ((n_prompt, "prompt"), (n - n_prompt, "displaced")):
        got, chunks = 0, []
        while got < want:
            size = max(2 * (want - got), 256)
            if make == "prompt":
                m = _prompt(rng, layers, size, rogue)
            else:
                m = _displaced(rng, layers, size)
            keep = _accept(layers, m)
            if make == "displaced":
                keep &= (m["x"] != 0) | (m["y"] != 0)
            m = {k: v[keep][: want - got] for k, v in m.items()}
            chunks.append(m)
            got += len(m["z"])
        parts.extend(chunks)
    if not parts:
        return _empty()
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = rng.permutation(len(out["z"]))
    return {k: v[order] for k, v in out.items()}


def write_production(
    out_dir: str | Path,
    n_files: int,
    muons_per_file: int,
    seed: int = 0,
    rogue_files: tuple[int, ...] = (),
    progress: bool = True,
) -> list[Path]:
    """Simulate ``n_files`` ROOT files ``muons_NNNN.root`` of ``muons_per_file`` muons each
    (file i seeded by (seed, i)); files with an index in ``rogue_files`` are rogue."""
    from exagan_tf.muons import rootio

    out_dir = Path(out_dir)
    if n_files < 1 or muons_per_file < 1:
        raise UserError(f"n_files={n_files}, muons_per_file={muons_per_file}: both must be >= 1")
    paths = []
    t0 = time.perf_counter()
    for i in range(n_files):
        path = out_dir / f"muons_{i:04d}.root"
        if path.exists():
            raise UserError(f"{path}: already exists; refusing to overwrite simulated data")
        m = simulate_muons(
            muons_per_file,
            seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]),
            rogue=i in rogue_files,
        )
        rootio.write_muons(path, m)
        paths.append(path)
        if progress:
            el = time.perf_counter() - t0
            left = el / (i + 1) * (n_files - i - 1)
            print(
                f"file {i + 1}/{n_files} {path.name}: {len(m['z'])} muons | "
                f"{(i + 1) * muons_per_file / el:.0f} muons/s | left {left:.0f} s",
                flush=True,
            )
    return paths


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.simulate",
        description="Simulate the weighted SHiP-like muon production into ROOT files.",
    )
    p.add_argument("--out", default="data/muons/production", help="output folder")
    p.add_argument("--files", type=int, default=16, help="number of ROOT files (66 originally)")
    p.add_argument("--muons-per-file", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--rogue", type=int, nargs="*", default=[], help="indices of rogue (bad charm) files"
    )
    return p.parse_args(argv)


@cli_errors
def main(argv=None) -> int:
    """CLI: write the production."""
    args = parse_args(argv)
    write_production(args.out, args.files, args.muons_per_file, args.seed, tuple(args.rogue))
    return 0


if __name__ == "__main__":
    sys.exit(main())
