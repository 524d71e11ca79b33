"""The configuration of a CMB decomposition run, as a frozen dataclass.

One field per flag of the original ``main.py`` and of the flags added here (see
:mod:`exagan_tf.cmb.flags`), named as the flag's argparse destination (``data_dir`` for
``--data-dir``, ``lambda_`` for ``--lambda``), with the flag's default. The command line, a tag
of ``experiments/cmb/experiments.yaml`` and ``exagan train TAG RUN --set KEY=VALUE`` only fill
it; a run records it in ``config.yaml`` under the flags' long names, the originals' names (what
the tags use, and what runs started before this class existed hold), and :func:`from_record`
reads it back. The run settings shared by every system come from
:class:`~exagan_tf.config.RunSettings` (``seed`` keeps the original's default, 483;
``multiworker`` is the original switch for ``distribute: multiworker``).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from exagan_tf.config import RunSettings
from exagan_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class CMBConfig(RunSettings):
    """Every flag of a run (see ``python -m exagan_tf.cmb.main --help``)."""

    inputs: str
    outputs: str
    seed: int = dataclasses.field(default=483, kw_only=True)
    gpus: str | None = None
    data_dir: str = "./data/"
    noise: float = 0.0
    noise_channels: str = "qu"
    ndeg: float = 5.0
    no_normalize_maps: bool = False
    no_apodize_maps: bool = False
    validation_split: float = 0.2
    architecture: typing.Literal["pix2pix", "astroencoder"] = "pix2pix"
    no_adversarial: bool = False
    no_skip_connections: bool = False
    no_residuals: bool = False
    output_dir: str = "./results"
    generator_dropout_ratio: float = 0.5
    discriminator_dropout_ratio: float = 0.5
    no_generator_use_bias: bool = False
    no_discriminator_use_bias: bool = False
    high_res_len: int = 2
    epochs: int = 100
    lambda_: float = 100.0
    discriminator_interval: int = 20
    spectra_weight: float = 0.0
    filters: int = 64
    batch_size: int = 16
    learning_rate: float = 2e-4
    max_maps: int | None = None
    multiworker: bool = False
    analytic_skip: bool = False
    loss: typing.Literal["l1", "mse"] = "l1"
    kappa_stage: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CMBConfig:
        """The config of parsed (and validated) flags."""
        names = {f.name for f in dataclasses.fields(cls)} - {"distribute"}
        values = {n: getattr(args, n) for n in names}
        return cls(**values, distribute="multiworker" if args.multiworker else "auto")


def from_record(record: dict, source: str) -> CMBConfig:
    """A run's config from its ``config.yaml`` (flags by long name; the flags a resume may
    change are not recorded and take their defaults)."""
    from exagan_tf.cmb.flags import build_parser, validate

    parser = build_parser()
    dests = {long[2:]: a.dest for a in parser._actions for long in a.option_strings
             if long.startswith("--")}
    values = {}
    for key, value in record.items():
        if key not in dests:
            raise UserError(f"{source}: unknown flag '{key}' in a CMB run's config")
        values[dests[key]] = value
    parser.set_defaults(**values)
    args = parser.parse_args([])
    validate(args)
    return CMBConfig.from_args(args)
