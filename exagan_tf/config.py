"""Configuration: YAML tags (with anchors and merge keys) -> validated, frozen dataclasses.

Each system has one YAML file in ``experiments/`` whose top-level keys are *tags* (``base``,
``demo``, ...). A tag is a mapping of hyperparameters under the original codes' names. Tags can
share values with YAML anchors and merge keys::

    base: &base
      img_dim: 128
    demo:
      <<: *base
      img_dim: 64

Loading a tag gives a frozen dataclass; an unknown tag, an unknown or mistyped key, or a value of
the wrong type is a :class:`~exagan_tf.errors.UserError` naming the key, the tag and the file.

Anchors make a document's expanded size unbounded by its length: nine lines of aliases (the
"billion laughs") stand for 10^9 values. PyYAML builds them as shared references, cheaply, but
anything that walks the values (a message quoting one, the run's saved config) expands them.
:func:`load_yaml` therefore counts the values of a document as expanded, stopping at
:data:`MAX_EXPANDED_VALUES` (the largest experiments file has about 1,500), and messages quote
values through :func:`exagan_tf.errors.quote` (at most 200 characters).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from exagan_tf.errors import UserError, quote

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"

T = TypeVar("T")

#: the most values (scalars, lists and mappings, each alias counted as expanded) a config
#: document may hold
MAX_EXPANDED_VALUES = 100_000


def expanded_size(doc: Any, limit: int = MAX_EXPANDED_VALUES) -> int:
    """The number of values in ``doc`` with every shared reference (YAML alias) counted as
    often as it is used; counting stops past ``limit`` (so a self-referencing or exponential
    document costs at most ``limit`` steps)."""
    count, stack = 0, [doc]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return count


def load_yaml(text: str, source: str | Path) -> Any:
    """``yaml.safe_load(text)`` with a one-line :class:`UserError` naming ``source`` for text
    that is not YAML or whose aliases expand past :data:`MAX_EXPANDED_VALUES` values."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise UserError(f"{source}:{where} not valid YAML ({problem[:200]})") from None
    except RecursionError:
        raise UserError(f"{source}: nested too deeply to be a config") from None
    if expanded_size(doc) > MAX_EXPANDED_VALUES:
        raise UserError(f"{source}: holds more than {MAX_EXPANDED_VALUES:,} values once its "
                        "aliases are expanded; not a config (an alias bomb?)")
    return doc


def read_tags(path: str | Path) -> dict[str, dict]:
    """Read a YAML experiments file and return its tags (mappings only)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    doc = load_yaml(path.read_text(), path)
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a mapping of config tags at the top level")
    return {k: v for k, v in doc.items() if isinstance(v, dict) and not str(k).startswith(".")}


def _check_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type ``hint`` (the subset of typing used by config classes)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_check_type, value, args))
        return all(_check_type(v, args[0]) for v in value) if args else True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _aliased(cls, values: dict, tag: str, path) -> dict:
    """``values`` with the old spellings of ``cls.ALIASES`` (old name -> key) renamed."""
    aliases = getattr(cls, "ALIASES", {})
    out = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name in out:
            raise UserError(f"{path}: tag '{tag}': '{key}' and '{name}' set the same key")
        out[name] = value
    return out


def build_config(cls: type[T], values: dict, tag: str, path: str | Path) -> T:
    """Validate ``values`` against the dataclass ``cls`` and return an instance (keys under an
    old spelling listed in ``cls.ALIASES`` are accepted under their new name)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = _aliased(cls, values, tag, path)
    for key in values:
        if key not in fields:
            close = [f for f in fields if f.lower() == str(key).lower()]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"{path}: tag '{tag}': unknown key {quote(key)}{hint}")
    kwargs = {}
    for name, field in fields.items():
        if name in values:
            value = values[name]
            if not _check_type(value, hints[name]):
                raise UserError(
                    f"{path}: tag '{tag}': key '{name}' = {quote(value)} "
                    f"is not a {_describe(hints[name])}"
                )
            if isinstance(value, list):
                value = tuple(value)
            if hints[name] is float and isinstance(value, int):
                value = float(value)
            kwargs[name] = value
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UserError(f"{path}: tag '{tag}': required key '{name}' is missing")
    config = cls(**kwargs)
    validate = getattr(config, "validate", None)
    if validate is not None:
        problem = validate()
        if problem:
            raise UserError(f"{path}: tag '{tag}': {problem}")
    return config


def load_config(cls: type[T], path: str | Path, tag: str) -> T:
    """Load tag ``tag`` of the YAML file ``path`` as the frozen dataclass ``cls``."""
    tags = read_tags(path)
    if tag not in tags:
        raise UserError(f"{path}: unknown config tag '{tag}' (known: {', '.join(sorted(tags))})")
    return build_config(cls, tags[tag], tag, path)


def config_to_dict(config) -> dict:
    """Plain dict of a config dataclass (tuples as lists) for YAML/JSON output."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_dict(cls: type[T], values: dict, source: str) -> T:
    """Rebuild a config from :func:`config_to_dict` output (e.g. a run's saved config)."""
    return build_config(cls, values, "resolved", source)


def nearest_key(key: str, keys) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``keys`` to ``key``, or ``''``."""
    keys = [str(k) for k in keys]
    close = [k for k in keys if k.lower() == key.lower()]
    close = close or difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_override(text: str) -> tuple[str, str]:
    """``key=value`` of a ``--set`` option as (key, value text)."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise UserError(f"--set {text!r}: expected key=value")
    return key.strip(), value


def typed_value(key: str, text: str, hint) -> Any:
    """The value of ``--set key=text`` as the YAML would give it for a key of type ``hint``
    (``3`` for an int, ``1e-3`` for a float, ``[4, 8]`` for a tuple, ``null`` for None, a bare
    word for a string); a value that fits no reading names key, value and the expected type."""
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        value = text
    candidates = [value, text]
    try:
        candidates.append(float(text))
    except ValueError:
        pass
    for candidate in candidates:
        if _check_type(candidate, hint):
            return list(candidate) if isinstance(candidate, tuple) else candidate
    raise UserError(f"--set {key}={text}: expected {_describe(hint)}")


def apply_overrides(cls, values: dict, sets: list[str], where: str) -> dict:
    """``values`` (a tag's mapping) with the ``--set key=value`` overrides applied, each typed
    like the YAML and checked against the fields of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    aliases = getattr(cls, "ALIASES", {})
    out = _aliased(cls, dict(values), "resolved", where)
    for text in sets:
        key, raw = parse_override(text)
        name = aliases.get(key, key)
        if name not in hints or name not in {f.name for f in dataclasses.fields(cls)}:
            fields = [f.name for f in dataclasses.fields(cls)]
            raise UserError(f"--set {key}: unknown key of {where}{nearest_key(key, fields)}")
        out[name] = typed_value(key, raw, hints[name])
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    """The run settings every system's config shares, one name each: seed (of the weights,
    the data order and the noise), distribute (``tf.distribute`` strategy, see
    :mod:`exagan_tf.distribute`), precision (Keras dtype policy, see :mod:`exagan_tf.precision`;
    float32 = the originals), jit_compile (XLA; off as in the originals) and keep_checkpoints
    (latest checkpoints kept for resuming)."""

    seed: int = 0
    distribute: typing.Literal["auto", "none", "mirrored", "multiworker"] = "auto"
    precision: typing.Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"] = "float32"
    jit_compile: bool = False
    keep_checkpoints: int = 2


@dataclasses.dataclass(frozen=True)
class DCGANConfig(RunSettings):
    """ExaGAN DCGAN hyperparameters, under the original ``config.yaml`` names.

    Keys from the original: dataname, img_dim, noise_vect_len, nlayers, convkern, convstride,
    nconvfilters, ndeconvfilters, label_flip, batchsize, print_batch, checkpt_batch, cscale,
    datascale, learn_rate ([G, D]), DG_update_ratio, Nepochs, datafmt, multichannel.
    Added here (documented in experiments/exagan.yaml): datadir, linear_scaler, seed, n_eval,
    best_after, keep_checkpoints, distribute, jit_compile, joint_batch, pspec_weight (ExaGANv2's
    spectral loss weight; 0 = the original), pspec_images (training images for its targets) and
    g_ema (decay of the generator's weight average that is sampled and saved; 0 = the original),
    lr_decay (fraction of the run at whose end both learning rates fall linearly to 0; 0 = the
    original's constant rates),
    dequantize (train on counts plus uniform [0, 1) noise, read generated images back with a
    floor; False = the original) and precision (Keras dtype policy, see exagan_tf.precision);
    model_kind (dcgan, or flow: the flow-matching U-Net of exagan_tf.cosmo.fm, with fm_widths
    per U-Net level, fm_steps Heun steps of its sampler and fm_space, the space it learns:
    s, the DCGAN's s(x), or log, u = (2/3) ln(1 + x/a) - 1).
    """

    dataname: str
    img_dim: int
    noise_vect_len: int
    nlayers: int
    convkern: int
    convstride: int
    nconvfilters: tuple[int, ...]
    ndeconvfilters: tuple[int, ...]
    label_flip: float
    batchsize: int
    print_batch: int
    checkpt_batch: int
    cscale: typing.Literal["lin", "log"]
    datascale: float
    learn_rate: tuple[float, float]
    DG_update_ratio: int
    Nepochs: int
    datafmt: typing.Literal["channels_first", "channels_last", "auto"]
    multichannel: bool
    datadir: str = "data"
    linear_scaler: float = 1000.0
    n_eval: int = 1024
    best_after: int = 30
    joint_batch: bool = False
    pspec_weight: float = 0.0
    pspec_images: int = 1024
    g_ema: float = 0.0
    lr_decay: float = 0.0
    dequantize: bool = False
    model_kind: typing.Literal["dcgan", "flow"] = "dcgan"
    fm_widths: tuple[int, ...] = (32, 64, 128)
    fm_steps: int = 16
    fm_space: typing.Literal["s", "log"] = "s"

    def validate(self) -> str | None:
        """Return a one-line problem description, or None when the values are consistent."""
        if self.model_kind == "flow":
            if not self.fm_widths or min(self.fm_widths) < 1 or self.fm_steps < 1:
                return "fm_widths must be positive widths and fm_steps >= 1"
            if self.img_dim % 2 ** (len(self.fm_widths) - 1):
                return (f"img_dim={self.img_dim} is not divisible by 2**(len(fm_widths) - 1)="
                        f"{2 ** (len(self.fm_widths) - 1)}")
        if len(self.nconvfilters) != self.nlayers:
            return (
                f"nconvfilters has {len(self.nconvfilters)} entries, "
                f"expected nlayers={self.nlayers}"
            )
        if len(self.ndeconvfilters) != self.nlayers:
            return (
                f"ndeconvfilters has {len(self.ndeconvfilters)} entries, "
                f"expected nlayers={self.nlayers}"
            )
        if self.ndeconvfilters[-1] != 1:
            return (
                f"ndeconvfilters must end with 1 (one image channel), got {self.ndeconvfilters[-1]}"
            )
        if self.img_dim % (self.convstride**self.nlayers):
            return (
                f"img_dim={self.img_dim} is not divisible by convstride**nlayers="
                f"{self.convstride**self.nlayers}"
            )
        if not 0.0 <= self.label_flip < 0.5:
            return f"label_flip={self.label_flip} must be in [0, 0.5)"
        if self.DG_update_ratio < 2 or self.DG_update_ratio % 2:
            return (
                f"DG_update_ratio={self.DG_update_ratio} must be an even number >= 2 "
                "(D trains DG_update_ratio//2 rounds of real then fake)"
            )
        for key in ("batchsize", "checkpt_batch", "print_batch", "Nepochs", "n_eval", "img_dim"):
            if getattr(self, key) <= 0:
                return f"{key}={getattr(self, key)} must be positive"
        if self.pspec_weight < 0 or self.pspec_images < 2:
            return "pspec_weight must be >= 0 and pspec_images >= 2"
        if not 0.0 <= self.g_ema < 1.0:
            return f"g_ema={self.g_ema} must be in [0, 1) (0 = no weight average)"
        if not 0.0 <= self.lr_decay <= 1.0:
            return f"lr_decay={self.lr_decay} must be in [0, 1] (0 = constant learning rates)"
        if self.datascale <= 0 or self.linear_scaler <= 0:
            return "datascale and linear_scaler must be positive"
        return None

    @property
    def g_lr(self) -> float:
        """Generator learning rate (``learn_rate[0]`` in the original)."""
        return self.learn_rate[0]

    @property
    def d_lr(self) -> float:
        """Discriminator learning rate (``learn_rate[1]`` in the original)."""
        return self.learn_rate[1]

    @property
    def nchannels(self) -> int:
        """Channels the discriminator sees: 2 with multi-channel rescaling, else 1."""
        return 2 if self.multichannel else 1


def load_exagan(tag: str, path: str | Path | None = None) -> DCGANConfig:
    """Load an ExaGAN tag from ``experiments/exagan.yaml`` (or ``path``)."""
    return load_config(DCGANConfig, path or EXPERIMENTS_DIR / "exagan.yaml", tag)


def resolve_tag(cls: type[T], path: str | Path, tag: str, sets: list[str] = ()) -> T:
    """Tag ``tag`` of ``path`` with the ``--set key=value`` overrides, as the dataclass ``cls``."""
    tags = read_tags(path)
    if tag not in tags:
        raise UserError(f"{path}: unknown config tag '{tag}' (known: {', '.join(sorted(tags))})")
    values = apply_overrides(cls, tags[tag], list(sets), f"{path}: tag '{tag}'")
    return build_config(cls, values, tag, path)


def print_config(tag: str, config: dict) -> None:
    """``--dry-run``: the resolved config as YAML under its tag."""
    print(yaml.safe_dump({tag: config}, sort_keys=False), end="")


def config_for_run(cls: type[T], path: str | Path, tag: str, sets=(), dry_run: bool = False,
                   max_steps: int | None = None) -> T | None:
    """The tag's config for a training command (:func:`resolve_tag`); with ``dry_run`` print it
    and return None. ``max_steps``, when given, must be positive."""
    if max_steps is not None and max_steps < 1:
        raise UserError(f"--max-steps={max_steps}: expected a positive number of steps")
    cfg = resolve_tag(cls, path, tag, sets)
    if dry_run:
        print_config(tag, config_to_dict(cfg))
        return None
    return cfg
