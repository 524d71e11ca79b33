"""The original astroDGAN command line: every flag of its ``main.py`` (same short and long
names and defaults), the flags added for CPU-sized runs, and ``--experiment FILE:TAG`` reading
flag values from a tag of ``experiments/cmb/experiments.yaml`` (flags given on the command line
win). A run's configuration is every flag by its long name without dashes
(:func:`run_config`); :func:`reproduce_command` spells it back as one command.
"""

from __future__ import annotations

import argparse
import math
import shlex

from exagan_tf.errors import UserError, quote

PROG = "python -m exagan_tf.cmb.main"


def build_parser() -> argparse.ArgumentParser:
    """The original's argument parser (plus the CPU-sizing flags)."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("-i", "--inputs", default=None, help="input channels to model, e.g. qu (required)")
    a("-o", "--outputs", default=None, help="output channels to model, e.g. e (required)")
    a("--gpus", default=None, help="GPUs to use, one digit each: 12 = GPUs 1 and 2")
    a("--seed", type=int, default=483, help="random seed for reproducibility (483)")
    a("--data-dir", default="./data/", help="directory holding cmb_maps.h5 (./data/)")
    a("--noise", type=float, default=0.0, help="white noise level in uK-arcmin (0.0)")
    a("--noise-channels", default="qu", help="channels the noise is added to (qu)")
    a("--ndeg", type=float, default=5.0, help="side of the maps in degrees (5.0)")
    a("--no-normalize-maps", action="store_true", help="do not normalise the maps")
    a("--no-apodize-maps", action="store_true", help="do not apodise the maps")
    a("-vs", "--validation-split", type=float, default=0.2, help="validation fraction (0.2)")
    a("-a", "--architecture", default="pix2pix", choices=("pix2pix", "astroencoder"),
      help="generator architecture (pix2pix)")
    a("--no-adversarial", action="store_true", help="train the generator alone (no D)")
    a("--no-skip-connections", action="store_true", help="no U-Net skip connections")
    a("--no-residuals", action="store_true", help="no residual connections")
    a("--output-dir", default="./results", help="where model folders go (./results)")
    a("-gdrop", "--generator-dropout-ratio", type=float, default=0.5,
      help="dropout ratio in the generator (0.5)")
    a("-ddrop", "--discriminator-dropout-ratio", type=float, default=0.5,
      help="dropout ratio in the discriminator (0.5)")
    a("--no-generator-use-bias", action="store_true", help="no biases in the generator")
    a("--no-discriminator-use-bias", action="store_true", help="no biases in the discriminator")
    a("--high-res-len", type=int, default=2, help="length of the high-resolution stem (2)")
    a("-e", "--epochs", type=int, default=100, help="training epochs (100)")
    a("--lambda", dest="lambda_", type=float, default=100.0, help="L1 weight in G's loss (100)")
    a("--discriminator-interval", type=int, default=20,
      help="train D every N generator steps (20)")
    a("--spectra-weight", type=float, default=0.0,
      help="weight of the power-spectrum difference in G's loss (0: not computed)")
    g = p.add_argument_group("added by exagan-tf (CPU-sized runs)")
    g.add_argument("--filters", type=int, default=64, help="base filter count (64)")
    g.add_argument("--batch-size", type=int, default=16, help="batch size (16)")
    g.add_argument("--learning-rate", type=float, default=2e-4,
                   help="Adam learning rate of G and D, beta_1 0.5 (2e-4)")
    g.add_argument("--max-maps", type=int, default=None, help="use only the first N maps")
    g.add_argument("--multiworker", action="store_true",
                   help="train over the workers of TF_CONFIG or srun (README: Scale out)")
    g.add_argument("--analytic-skip", action="store_true",
                   help="add the analytic E (B) input to the e (b) output, so the network "
                        "learns the correction to the E,B approximation (needs E or B in -i)")
    g.add_argument("--loss", default="l1", choices=("l1", "mse"),
                   help="reconstruction term of G's loss, weighted by --lambda: l1 (the "
                        "original's) or mse (DeepCMB's) (l1)")
    g.add_argument("--kappa-stage", action="store_true",
                   help="a first network predicts kappa, a second the other outputs from the "
                        "inputs and that kappa, trained together (needs k and another output)")
    g.add_argument("--precision", default="float32",
                   choices=("float32", "mixed_float16", "mixed_bfloat16", "auto"),
                   help="Keras dtype policy: mixed_float16 (GPU), mixed_bfloat16 (CPUs with "
                        "bf16), auto (mixed_float16 on a GPU); outputs and losses stay float32 "
                        "(float32)")
    g.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    g.add_argument("--keep-checkpoints", type=int, default=2,
                   help="latest checkpoints kept for resuming (2)")
    g.add_argument("--experiment", default=None,
                   help="FILE:TAG: take flag values from a tag of an experiments YAML")
    return p


def _flag_table(parser: argparse.ArgumentParser) -> list[tuple[str, str, object]]:
    """(dest, long flag, kind) for every option that is part of a run's configuration."""
    out = []
    for action in parser._actions:
        if action.dest in ("help", "experiment"):
            continue
        long = next(s for s in action.option_strings if s.startswith("--"))
        kind = "switch" if isinstance(action, argparse._StoreTrueAction) else "value"
        out.append((action.dest, long, kind))
    return out


def _experiment_defaults(parser: argparse.ArgumentParser, spec: str) -> dict:
    """Flag values of ``FILE:TAG`` (keys are the long flag names without dashes)."""
    from exagan_tf.config import read_tags

    if ":" not in spec:
        raise UserError(f"--experiment={spec!r}: expected FILE:TAG")
    file, tag = spec.rsplit(":", 1)
    tags = read_tags(file)
    if tag not in tags:
        raise UserError(f"{file}: unknown tag {tag!r} (known: {', '.join(sorted(tags))})")
    by_name = {long[2:]: (dest, kind) for dest, long, kind in _flag_table(parser)}
    actions = {a.dest: a for a in parser._actions}
    values = {}
    for key, value in tags[tag].items():
        if key not in by_name:
            raise UserError(f"{file}: tag {tag!r}: unknown flag {key!r}")
        dest, kind = by_name[key]
        values[dest] = _tag_value(actions[dest], kind, value, f"{file}: tag {tag!r}: {key}")
    return values


def _tag_value(action: argparse.Action, kind: str, value, where: str):
    """A flag value read from YAML, converted as the command line would convert it."""
    if kind == "switch":
        if not isinstance(value, bool):
            raise UserError(f"{where}={quote(value)}: a switch; expected true or false")
        return value
    if value is None:  # null: the flag's default, which must itself be "not given"
        if action.default is not None:
            raise UserError(f"{where}=null: expected a value (default {action.default})")
        return None
    if isinstance(value, (bool, list, dict)):
        raise UserError(f"{where}={quote(value)}: expected a single value")
    try:
        converted = (action.type or str)(str(value))
    except (TypeError, ValueError):
        kind_name = getattr(action.type, "__name__", "text")
        raise UserError(f"{where}={quote(value)}: expected {kind_name}") from None
    if action.choices is not None and converted not in action.choices:
        raise UserError(f"{where}={quote(value)}: expected one of {', '.join(action.choices)}")
    return converted


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and validate the command line (experiment tags first, the command line wins)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.experiment:
        parser.set_defaults(**_experiment_defaults(parser, args.experiment))
        args = parser.parse_args(argv)
    validate(args)
    return args


def validate(args: argparse.Namespace) -> None:
    """One-line errors for values the original would have failed on later."""
    from exagan_tf.cmb.data import check_channels

    if not args.inputs or not args.outputs:
        raise UserError("-i/--inputs and -o/--outputs are required (e.g. -i qu -o e)")
    check_channels(args.inputs, "--inputs")
    check_channels(args.outputs, "--outputs")
    check_channels(args.noise_channels, "--noise-channels")
    if set(args.inputs) & set(args.outputs):
        raise UserError(f"--outputs={args.outputs!r} repeats an input channel of {args.inputs!r}")
    if not 0.0 < args.validation_split < 1.0:
        raise UserError(
            f"--validation-split={args.validation_split}: expected a fraction in (0, 1)"
        )
    for name in ("generator_dropout_ratio", "discriminator_dropout_ratio"):
        if not 0.0 <= getattr(args, name) < 1.0:
            raise UserError(f"--{name.replace('_', '-')}={getattr(args, name)}: expected [0, 1)")
    for name in ("epochs", "discriminator_interval", "filters", "batch_size", "keep_checkpoints"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}={getattr(args, name)}: expected >= 1")
    if args.high_res_len < 0:
        raise UserError(f"--high-res-len={args.high_res_len}: expected >= 0")
    for name in ("noise", "spectra_weight", "lambda_", "ndeg", "learning_rate"):
        value = getattr(args, name)
        flag = "--" + name.rstrip("_").replace("_", "-")
        if not math.isfinite(value) or value < 0:
            raise UserError(f"{flag}={value}: expected a finite number >= 0")
        if name in ("ndeg", "learning_rate") and value == 0:
            raise UserError(f"{flag}={value}: expected a number > 0")
    if args.seed < 0:
        raise UserError(f"--seed={args.seed}: expected an integer >= 0")
    if args.gpus is not None and (not args.gpus.isdigit() or len(set(args.gpus)) != len(args.gpus)):
        raise UserError(f"--gpus={args.gpus!r}: expected distinct GPU digits, e.g. 12")
    if args.max_maps is not None and args.max_maps < 2:
        raise UserError(f"--max-maps={args.max_maps}: expected at least 2 maps")
    from exagan_tf.cmb.models import analytic_skips

    if args.analytic_skip and not analytic_skips(args.inputs, args.outputs):
        raise UserError(f"--analytic-skip: no output of {args.outputs!r} has its analytic "
                        f"counterpart among the inputs {args.inputs!r} (e needs E, b needs B)")
    if args.kappa_stage and ("k" not in args.outputs or len(args.outputs) < 2):
        raise UserError(f"--kappa-stage: -o {args.outputs!r} needs kappa (k) and at least one "
                        "other output, e.g. -o ek")


def run_config(args: argparse.Namespace) -> dict:
    """The run's configuration: every flag by its long name (without dashes)."""
    return {long[2:]: getattr(args, dest) for dest, long, _ in _flag_table(build_parser())}


def reproduce_command(args: argparse.Namespace) -> str:
    """The exact command line that reproduces ``args`` (every flag spelled out)."""
    words = ["python", "-m", "exagan_tf.cmb.main"]
    for dest, long, kind in _flag_table(build_parser()):
        value = getattr(args, dest)
        if kind == "switch":
            if value:
                words.append(long)
        elif value is not None:
            words += [long, str(value)]
    return shlex.join(words)


def model_dir_name(args: argparse.Namespace) -> str:
    """``<architecture>_<inputs>-<outputs>_noise<noise>`` (the original names folders by
    experiment; a different configuration of the same experiment needs another --output-dir)."""
    return f"{args.architecture}_{args.inputs}-{args.outputs}_noise{args.noise:g}"


def args_from_tag(file, tag: str, sets=()) -> argparse.Namespace:
    """The flags of tag ``tag`` of ``file`` with the ``--set flag=value`` overrides (long flag
    names, dashes or underscores), each converted and validated as the command line would."""
    import yaml

    from exagan_tf.config import nearest_key, parse_override

    parser = build_parser()
    values = _experiment_defaults(parser, f"{file}:{tag}")
    by_name = {long[2:]: (dest, kind) for dest, long, kind in _flag_table(parser)}
    actions = {a.dest: a for a in parser._actions}
    for text in sets:
        key, raw = parse_override(text)
        name = key.replace("_", "-")
        if name not in by_name:
            raise UserError(f"--set {key}: unknown flag of {file}: tag {tag!r}"
                            f"{nearest_key(name, by_name)}")
        dest, kind = by_name[name]
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        values[dest] = _tag_value(actions[dest], kind, value, f"--set {key}")
    parser.set_defaults(**values)
    args = parser.parse_args([])
    validate(args)
    return args
