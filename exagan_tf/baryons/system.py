"""The baryon painters' commands for ``exagan``: train (:mod:`exagan_tf.baryons.train`),
analyze (:mod:`exagan_tf.baryons.evaluate`), generate (paint a dark-matter map,
:mod:`exagan_tf.baryons.paint`), simulate (:mod:`exagan_tf.baryons.simulate`)."""

from __future__ import annotations

from pathlib import Path

from exagan_tf.baryons.config import BaryonConfig
from exagan_tf.config import config_for_run


def train(tag, run: str, sets: list[str], expts: Path, dry_run: bool, command: list[str]) -> int:
    """Train (or resume) ``expts/TAG/runRUN``."""
    cfg = config_for_run(BaryonConfig, tag.path, tag.name, sets, dry_run)
    if cfg is None:
        return 0
    from exagan_tf.baryons.train import train as run_training

    return run_training(cfg, tag.name, run, expts, None, [], command)


def analyze(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Painted against true pressure on the test universe, with the local baseline."""
    from exagan_tf.baryons.evaluate import main

    return main([tag.name, run, "--expts", str(expts), *argv])


def generate(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Paint a dark-matter map: ``--dm FILE --z Z --out FILE`` (see ``exagan_tf.baryons.paint``)."""
    from exagan_tf.baryons.paint import main
    from exagan_tf.runs import run_path

    return main([str(run_path(tag.name, run, expts)), *argv])


def simulate(argv: list[str]) -> int:
    """N-body dark matter with painted gas pressure (``exagan_tf.baryons.simulate``)."""
    from exagan_tf.baryons.simulate import main

    return main(argv)
