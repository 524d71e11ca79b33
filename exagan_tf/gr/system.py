"""GR vs Newton commands for ``exagan``: train (:func:`exagan_tf.gr.run_controller.train` on a
``temp.yaml``-style file of ``experiments/gr/``, the run in ``expts/TAG/runRUN``), analyze
(:mod:`exagan_tf.gr.evaluate`), simulate (:mod:`exagan_tf.gr.simulate`). ``--set`` takes
``section.key=value`` or a bare ``key=value`` when one section has that key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from exagan_tf.config import apply_overrides, build_config, config_to_dict, nearest_key
from exagan_tf.errors import UserError


def resolve(tag, run: str, sets: list[str], expts: Path):
    """The tag's config with the overrides, its run at ``expts/TAG/runRUN``."""
    from exagan_tf.gr.config import SECTIONS, GRConfig, load_gr_config

    cfg = load_gr_config(tag.path)
    parts = {s: getattr(cfg, s) for s in SECTIONS}
    by_section: dict[str, list[str]] = {s: [] for s in SECTIONS}
    for text in sets:
        key = text.partition("=")[0].strip()
        section, _, bare = key.rpartition(".")
        if not section:
            owners = [s for s in SECTIONS if bare in {f.name for f in dataclasses.fields(parts[s])}]
            if not owners:
                every = {f.name: f"{s}.{f.name}" for s in SECTIONS
                         for f in dataclasses.fields(parts[s])}
                near = nearest_key(bare, every)
                for name, dotted in every.items():
                    near = near.replace(f"'{name}'", f"'{dotted}'")
                raise UserError(f"--set {key}: unknown key of {tag.path}{near}")
            section = owners[0]
        if section not in SECTIONS:
            raise UserError(f"--set {key}: unknown section '{section}' (expected "
                            f"{', '.join(SECTIONS)})")
        by_section[section].append(f"{bare}={text.partition('=')[2]}")
    by_section["train_params"].append(f"log_dir={Path(expts) / tag.name}")
    by_section["model_params"].append(f"name=run{run}")
    built = []
    for s in SECTIONS:
        cls = type(parts[s])
        values = apply_overrides(cls, config_to_dict(parts[s]), by_section[s], f"{tag.path}: {s}")
        built.append(build_config(cls, values, s, tag.path))
    return GRConfig(*built, path=str(tag.path))


def train(tag, run: str, sets: list[str], expts: Path, dry_run: bool, command: list[str]) -> int:
    """Train (or resume) ``expts/TAG/runRUN``, then evaluate it on the test seeds."""
    cfg = resolve(tag, run, sets, expts)
    if dry_run:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from exagan_tf.gr.run_controller import train as run_training

    run_training(cfg, [], command=command)
    return 0


def analyze(tag, run: str, expts: Path, argv: list[str]) -> int:
    """Accuracy, ROC and the power-spectrum baseline on the test seeds of the latest model."""
    from exagan_tf.gr.evaluate import main
    from exagan_tf.runs import run_path

    cfg_file = run_path(tag.name, run, expts) / "config.yaml"
    if not cfg_file.is_file():
        raise UserError(f"{cfg_file.parent}: no such run; train it first with "
                        f"`exagan train {tag.name} {run}`")
    return main([str(cfg_file), *argv])


def generate(tag, run: str, expts: Path, argv: list[str]) -> int:
    """GR trains classifiers: nothing to generate."""
    raise UserError(f"{tag.name}: GR runs are classifiers; nothing to generate "
                    f"(`exagan analyze {tag.name} {run}` evaluates one)")


def simulate(argv: list[str]) -> int:
    """Paired GR / Newtonian potentials (``exagan_tf.gr.simulate``)."""
    from exagan_tf.gr.simulate import main

    return main(argv)
