"""CMB decomposition commands for ``exagan``: train (:func:`exagan_tf.cmb.main.train` with the
flags of a tag of ``experiments/cmb/experiments.yaml``, the run in ``expts/TAG/runRUN``),
analyze (:mod:`exagan_tf.cmb.evaluate`), simulate (:mod:`exagan_tf.cmb.simulate`). ``--set``
keys are the flags' long names (``batch-size`` or ``batch_size``)."""

from __future__ import annotations

from pathlib import Path

from exagan_tf.errors import UserError


def train(tag, run: str, sets: list[str], expts: Path, dry_run: bool, command: list[str]) -> int:
    """Train (or resume) ``expts/TAG/runRUN``, then evaluate it."""
    from exagan_tf.cmb.config import CMBConfig
    from exagan_tf.cmb.flags import args_from_tag, run_config
    from exagan_tf.runs import run_path

    args = CMBConfig.from_args(args_from_tag(tag.path, tag.name, sets))
    if dry_run:
        from exagan_tf.config import print_config

        print_config(tag.name, run_config(args))
        return 0
    from exagan_tf.cmb.main import train as run_training

    return run_training(args, [], run_dir=run_path(tag.name, run, expts), command=command)


def analyze(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Residuals, correlations and spectra of the final generator on the validation maps."""
    from exagan_tf.cmb.evaluate import main
    from exagan_tf.runs import run_path

    return main([str(run_path(tag.name, run, expts)), *argv])


def generate(tag, run: str, expts: Path, argv: list[str]) -> int:
    """The CMB networks map inputs to outputs; nothing to generate."""
    raise UserError(f"{tag.name}: CMB runs decompose maps; nothing to generate "
                    f"(`exagan analyze {tag.name} {run}` evaluates one)")


def simulate(argv: list[str]) -> int:
    """Lensed CMB maps (``exagan_tf.cmb.simulate``)."""
    from exagan_tf.cmb.simulate import main

    return main(argv)
