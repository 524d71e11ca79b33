"""The muon commands for ``exagan`` (GAN, VAE, spline flow, Gaussian mixture): train
(:func:`exagan_tf.muons.train.train`; the tag's first word ``gan_``, ``vae_``, ``flow_`` or
``gmm_`` is the kind, the category a config key), analyze (the run's figure of merit beside the
real-vs-real floor and the untrained network), generate (:mod:`exagan_tf.muons.generate`),
simulate (:mod:`exagan_tf.muons.simulate`; ``preprocess`` and ``dangerous`` as first word reach
those tools)."""

from __future__ import annotations

import json
from pathlib import Path

from exagan_tf.config import config_for_run
from exagan_tf.errors import UserError

#: the model kinds, named by a muon tag's first word (gan_demo, flow_demo, ...)
KINDS = ("gan", "vae", "flow", "gmm")


def _kind(tag) -> str:
    kind = tag.name.split("_")[0]
    if kind not in KINDS:
        raise UserError(f"{tag.path}: muon tag '{tag.name}' must start with "
                        + ", ".join(f"{k}_" for k in KINDS))
    return kind


def train(tag, run: str, sets: list[str], expts: Path, dry_run: bool, command: list[str]) -> int:
    """Train (or resume) ``expts/TAG/runRUN`` (the category is the config's ``category``)."""
    from exagan_tf.muons import config as mc

    kind = _kind(tag)
    classes = {"gan": mc.MuonGANConfig, "vae": mc.MuonVAEConfig, "flow": mc.MuonFlowConfig,
               "gmm": mc.MuonGMMConfig}
    cfg = config_for_run(classes[kind], tag.path, tag.name, sets, dry_run)
    if cfg is None:
        return 0
    from exagan_tf.muons.train import train as run_training

    run_training(kind, cfg, tag.name, run, expts, [], folder=tag.name, command=command)
    return 0


def analyze(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Print the run's FOM (reduced chi^2 / overlap / AUC) at its last step beside the floor
    and the untrained network, from the records training wrote."""
    from exagan_tf.muons.report import fom_cell
    from exagan_tf.runs import run_path

    if argv:
        raise UserError(f"exagan analyze {tag.name}: unexpected arguments {' '.join(argv)}")
    path = run_path(tag.name, run, expts)
    rows = {}
    records = (("floor (real vs real)", "fom_floor.json"), ("untrained", "fom_untrained.json"),
               ("trained (final)", "models/final.json"))
    for label, rel in records:
        f = path / rel
        rows[label] = json.loads(f.read_text()) if f.is_file() else None
    if rows["trained (final)"] is None:
        raise UserError(f"{path}: no models/final.json; train it first with "
                        f"`exagan train {tag.name} {run}`")
    print(f"{path} (reduced chi^2 / overlap / AUC)")
    for label, record in rows.items():
        print(f"  {label:<22} {fom_cell(record)}")
    return 0


def generate(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Muons into ROOT files from four runs of any kind:
    ``--data DIR --run CAT=RUNDIR ... --out DIR``."""
    from exagan_tf.muons.generate import main

    return main(argv)


def simulate(argv: list[str]) -> int:
    """A FairShip-like production (``exagan_tf.muons.simulate``); ``preprocess ARGS`` and
    ``dangerous ARGS`` reach those tools."""
    import importlib

    tool = argv[0] if argv[:1] in (["preprocess"], ["dangerous"]) else None
    module = importlib.import_module(f"exagan_tf.muons.{tool or 'simulate'}")
    return module.main(argv[1:] if tool else argv)
