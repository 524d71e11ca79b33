"""ExaGAN's commands for ``exagan``: train (:mod:`exagan_tf.train`), analyze
(:mod:`exagan_tf.analyze`), simulate (the N-body universes, :mod:`exagan_tf.cosmo.nbody`, then
``slice`` them with :mod:`exagan_tf.cosmo.slice_universes`)."""

from __future__ import annotations

from pathlib import Path

from exagan_tf.config import DCGANConfig, config_for_run
from exagan_tf.errors import UserError


def train(tag, run: str, sets: list[str], expts: Path, dry_run: bool, command: list[str]) -> int:
    """Train (or resume) ``expts/TAG/runRUN``."""
    cfg = config_for_run(DCGANConfig, tag.path, tag.name, sets, dry_run)
    if cfg is None:
        return 0
    from exagan_tf.cosmo.train import train as run_training

    return run_training(cfg, tag.name, run, expts, None, [], command)


def analyze(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Statistics against held-out slices, the floor and the untrained generator."""
    from exagan_tf.cosmo.analyze import analyze_run

    return analyze_run([tag.name, run, "--expts", str(expts), *argv])


def generate(tag, run: str, expts: Path, argv: list[str]) -> int:
    """ExaGAN's samples are written by ``exagan analyze`` (samples.png and the statistics)."""
    raise UserError(f"{tag.name}: ExaGAN runs are sampled by `exagan analyze {tag.name} {run}`")


def simulate(argv: list[str]) -> int:
    """``exagan simulate exagan [nbody] ARGS`` (universes) or ``exagan simulate exagan slice
    ARGS`` (training shards from them)."""
    if argv[:1] == ["slice"]:
        from exagan_tf.cosmo.slice_universes import main

        return main(argv[1:])
    from exagan_tf.cosmo.nbody import main

    return main(argv[1:] if argv[:1] == ["nbody"] else argv)
