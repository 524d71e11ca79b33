"""Which system a config tag belongs to, so ``python -m exagan_tf.train TAG RUN`` (and
``make train CONFIG=TAG``) reaches the right training command.

Each system keeps its tags in one YAML file of ``experiments/``; a tag names exactly one of them.
The ExaGAN DCGAN is trained by :mod:`exagan_tf.train` itself; the other systems' commands take
the same arguments and are called with the same argument list.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from exagan_tf.config import EXPERIMENTS_DIR, read_tags
from exagan_tf.errors import UserError

# experiments file -> (training module, analysis module); each module has main(argv) -> int
SYSTEMS = {
    "exagan.yaml": ("exagan_tf.train", "exagan_tf.analyze"),
    "baryons.yaml": ("exagan_tf.baryons.train", "exagan_tf.baryons.evaluate"),
}


def find_system(tag: str, experiments: Path = EXPERIMENTS_DIR) -> tuple[Path, str, str]:
    """The experiments file holding ``tag`` and its training and analysis modules.

    Raises:
        UserError: the tag is in no file (the message lists the known tags) or in more than one.
    """
    found, known = [], []
    for name, (train_mod, analyze_mod) in SYSTEMS.items():
        path = experiments / name
        if not path.exists():
            continue
        tags = read_tags(path)
        known += sorted(tags)
        if tag in tags:
            found.append((path, train_mod, analyze_mod))
    if not found:
        raise UserError(
            f"{experiments}: unknown config tag '{tag}' (known: {', '.join(known) or 'none'})"
        )
    if len(found) > 1:
        files = ", ".join(str(f[0]) for f in found)
        raise UserError(f"config tag '{tag}' is defined in more than one file: {files}")
    return found[0]


def forward(module: str, argv: list[str]) -> int:
    """Run another system's ``main(argv)``."""
    return importlib.import_module(module).main(argv)
