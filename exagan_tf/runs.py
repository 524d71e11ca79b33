"""Run directories: ``expts/<CONFIG>/run<RUN>/``, the unit of reproducibility.

A run directory holds ``config.yaml`` (the tag's values as trained), ``run.json`` (what was
resolved at the start: data format, strategy, versions), ``command.txt`` (every command that
started or resumed it, appended), ``train.log``, ``logs/`` (TensorBoard), ``checkpoints/``
(latest, for resuming) and ``models/`` (best generators).

Starting a run whose directory exists resumes it when the configuration is identical, and is
refused with a one-line message naming the first differing key otherwise. Nothing in a run
directory is ever deleted or overwritten, except the TensorFlow checkpoint rotation.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import shlex
import sys
from pathlib import Path

import yaml

from exagan_tf.config import config_to_dict
from exagan_tf.errors import UserError
from exagan_tf.fileio import write_json_atomic, write_text_atomic

EXPTS_DIR = Path("expts")


@dataclasses.dataclass
class RunDir:
    """Paths of one run and whether it is being resumed."""

    path: Path
    resumed: bool

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def models(self) -> Path:
        return self.path / "models"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def analysis(self) -> Path:
        return self.path / "analysis"

    def read_meta(self) -> dict:
        meta = self.path / "run.json"
        return json.loads(meta.read_text()) if meta.exists() else {}


def run_path(config_tag: str, run: str | int, root: str | Path = EXPTS_DIR) -> Path:
    """``<root>/<config_tag>/run<run>``."""
    return Path(root) / config_tag / f"run{run}"


def first_difference(old: dict, new: dict, prefix: str = "") -> str | None:
    """The first key (nested keys dotted) whose value differs, as ``'key' was X, now Y``."""
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found = first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"'{prefix}{key}' was {a!r}, now {b!r}"
    return None


def open_run_dir(
    path: Path,
    record: dict,
    command: str,
    *,
    mismatch: str,
    comparable=None,
    kind: str = "run directory",
) -> RunDir:
    """Create the run directory ``path`` with ``record`` as its ``config.yaml``, or reopen it
    when the stored record matches; append ``command`` to ``command.txt``.

    Args:
        path: the run directory.
        record: the configuration written to ``config.yaml`` for a new run.
        command: the command line recorded for this start or resume.
        mismatch: the refusal message, a format string with ``{path}`` and ``{diff}``.
        comparable: ``dict -> dict`` applied to the stored and the new record before comparing
            (to leave out settings a resume may change); default: compare them whole.
        kind: what a directory without ``config.yaml`` is not (for the error message).
    """
    comparable = comparable or (lambda d: d)
    cfg_file = path / "config.yaml"
    if cfg_file.exists():
        try:
            stored = yaml.safe_load(cfg_file.read_text()) or {}
        except yaml.YAMLError:
            raise UserError(f"{cfg_file}: unreadable run config; not touching this run") from None
        diff = first_difference(comparable(stored), comparable(record))
        if diff:
            raise UserError(mismatch.format(path=path, diff=diff))
        resumed = True
    elif path.exists() and any(path.iterdir()):
        raise UserError(f"{path} exists but has no config.yaml; not a {kind} of this suite")
    else:
        path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cfg_file, yaml.safe_dump(record, sort_keys=False))
        resumed = False
    for sub in ("checkpoints", "models", "logs"):
        (path / sub).mkdir(exist_ok=True)
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    with open(path / "command.txt", "a") as f:
        f.write(f"{stamp} {'resume' if resumed else 'start'}: {command}\n")
    return RunDir(path, resumed)


def open_run(
    config_tag: str,
    run: str | int,
    config,
    root: str | Path = EXPTS_DIR,
    argv: list[str] | None = None,
) -> RunDir:
    """Create a new run directory, or reopen an existing one with the same configuration.

    A key missing from a stored run's config (an option added to the suite after the run
    started) counts as its default, which is the behaviour the run was trained with: the run
    resumes unless the new config sets that option to something else.
    """
    defaults = {
        f.name: list(f.default) if isinstance(f.default, tuple) else f.default
        for f in dataclasses.fields(config)
        if f.default is not dataclasses.MISSING
    }
    return open_run_dir(
        run_path(config_tag, run, root),
        config_to_dict(config),
        shlex.join([Path(sys.executable).name, *(argv if argv is not None else sys.argv)]),
        mismatch="{path} exists with a different config ({diff}); "
        "choose another RUN number or restore the original config",
        comparable=lambda d: {**{k: v for k, v in defaults.items() if k not in d}, **d},
    )


def write_meta(run: RunDir, meta: dict) -> None:
    """Record what was resolved at the start of a run (``run.json``), once."""
    target = run.path / "run.json"
    if not target.exists():
        write_json_atomic(target, meta)


def setup_logging(run: RunDir, name: str = "exagan_tf") -> logging.Logger:
    """Log to stdout and to ``train.log`` in the run directory (appending on resume)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(run.path / "train.log")):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger
