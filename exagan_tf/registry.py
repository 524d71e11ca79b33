"""The five systems and their config tags: which system a tag belongs to, for ``exagan``.

Each system keeps its tags in ``experiments/``: ExaGAN, baryons and muons one YAML file of tags
each, CMB the tags of ``cmb/experiments.yaml`` (keys are its original flags), GR one
``temp.yaml``-style file per configuration (its tag is ``gr_<file stem>``, as the GR files'
stems ``demo``, ``test`` repeat ExaGAN's tags). A tag names exactly one configuration in the
whole suite: a tag defined twice is an error naming both files, an unknown tag lists the known
tags of every system.

The registry reads only YAML: listing tags never imports TensorFlow. What a system does with a
tag (train, analyze, generate, simulate) lives in its ``system`` module, imported on demand;
``exagan import SYSTEM`` runs the reader of the original tool's own files: CosmoFlow-layout
universes (sliced into shards), baryon_painter's BAHAMAS stacks, FairShip muon ROOT files
(preprocessed), gevolution runs, DeepCMB's map files.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

from exagan_tf.config import EXPERIMENTS_DIR, read_tags
from exagan_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class System:
    """One science system: its name, what it is, where its tags live and its command module
    (``train(tag, run, sets, expts, dry_run)``, ``analyze(tag, run, expts, argv)``,
    ``generate(tag, run, expts, argv)``, ``simulate(argv)``)."""

    name: str
    description: str
    experiments: str  # a YAML file of tags, or a folder of one-config YAML files (GR)
    module: str
    tag_prefix: str = ""
    importer: str = ""  # module (main(argv)) reading the original tool's own files

    def import_data(self, argv: list[str]) -> int:
        """Run the importer of the original's files with ``argv``."""
        return importlib.import_module(self.importer).main(argv)

    def tags(self, root: Path = EXPERIMENTS_DIR) -> dict[str, tuple[Path, str]]:
        """tag -> (file, one-line description)."""
        path = root / self.experiments
        if path.is_dir():
            return {f"{self.tag_prefix}{f.stem}": (f, _file_description(f))
                    for f in sorted(path.glob("*.yaml"))}
        if not path.is_file():
            return {}
        notes = _tag_descriptions(path)
        return {t: (path, notes.get(t, "")) for t in read_tags(path)}

    def commands(self):
        """The system's command module."""
        return importlib.import_module(self.module)


SYSTEMS = (
    System("exagan", "DCGAN on N-body density slices (ExaGAN)", "exagan.yaml",
           "exagan_tf.cosmo.system", importer="exagan_tf.cosmo.slice_universes"),
    System("baryons", "baryon pressure painted on dark matter (CVAE / CGAN)", "baryons.yaml",
           "exagan_tf.baryons.system", importer="exagan_tf.baryons.import_painter"),
    System("muons", "SHiP muon-shield background GAN / VAE / flow / mixture, BDT figure of merit",
           "muons.yaml", "exagan_tf.muons.system", importer="exagan_tf.muons.preprocess"),
    System("gr", "GR vs Newtonian potentials, RACOON / PENGUIN classifiers", "gr",
           "exagan_tf.gr.system", tag_prefix="gr_", importer="exagan_tf.gr.import_gevolution"),
    System("cmb", "lensed CMB Q, U decomposed into E, kappa, B (pix2pix / UResNet)",
           "cmb/experiments.yaml", "exagan_tf.cmb.system", importer="exagan_tf.cmb.import_deepcmb"),
)


@dataclasses.dataclass(frozen=True)
class Tag:
    """A config tag: its name, its system, the file defining it and its description."""

    name: str
    system: System
    path: Path
    description: str


def get_system(name: str) -> System:
    """The system called ``name``."""
    for system in SYSTEMS:
        if system.name == name:
            return system
    raise UserError(f"unknown system '{name}' (known: {', '.join(s.name for s in SYSTEMS)})")


def all_tags(root: Path = EXPERIMENTS_DIR, systems=SYSTEMS) -> dict[str, Tag]:
    """Every tag of every system. Raises UserError when two files define the same tag."""
    out: dict[str, Tag] = {}
    for system in systems:
        for name, (path, note) in system.tags(root).items():
            if name in out:
                raise UserError(f"config tag '{name}' is defined in more than one file: "
                                f"{out[name].path}, {path}")
            out[name] = Tag(name, system, path, note)
    return out


def find_tag(name: str, root: Path = EXPERIMENTS_DIR, systems=SYSTEMS) -> Tag:
    """The tag ``name``; an unknown tag is a UserError listing the known tags of all systems."""
    tags = all_tags(root, systems)
    if name not in tags:
        raise UserError(f"unknown config tag '{name}' (known: {', '.join(tags) or 'none'})")
    return tags[name]


def _tag_descriptions(path: Path) -> dict[str, str]:
    """tag -> the comment on its line in the YAML file, else the comment line just above it."""
    notes, above = {}, ""
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_][\w.-]*):[^#]*(?:#\s*(.*))?$", line)
        if m:
            notes[m.group(1)] = (m.group(2) or above).strip()
            above = ""
        elif line.startswith("#"):
            above = above or line.lstrip("# ").strip()
        elif not line.strip():
            above = ""
    return notes


def _file_description(path: Path) -> str:
    """The first comment line of a one-config YAML file."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""
