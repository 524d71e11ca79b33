"""Run directories: ``expts/<CONFIG>/run<RUN>/``, the unit of reproducibility.

A run directory holds ``config.yaml`` (the tag's values as trained), ``run.json`` (what was
resolved at the start: data format, strategy, versions), ``command.txt`` (every command that
started or resumed it, appended), ``train.log``, ``logs/`` (TensorBoard), ``checkpoints/``
(latest, for resuming) and ``models/`` (best generators).

Starting a run whose directory exists resumes it when the configuration is identical, and is
refused with a one-line message naming the first differing key otherwise. Nothing in a run
directory is ever deleted or overwritten, except the TensorFlow checkpoint rotation and the
temporary files a killed process left.

Opening a run (:func:`open_run_dir`, which every trainer uses) also:

* locks it for this process (:mod:`exagan_tf.runlock`): a second process is refused with one
  line naming the holder, a lock left by a process that ended is taken over;
* removes, under that lock, the temporaries of a killed process: TensorFlow's
  ``checkpoints/<name>_temp/`` folders and ``checkpoint.tmp<hex>`` state files, and the
  temporary files of :mod:`exagan_tf.fileio` (``.<name>.*.tmp``, ``.tmp-*.keras``);
* verifies the checkpoint the run will resume from and falls back to the newest readable one
  (:mod:`exagan_tf.checkpoints`).

What it did is kept in :attr:`RunDir.notes`, which :func:`setup_logging` logs as warnings.

Run and tag names become folder names, so they are limited to letters, digits and ``._-``
(not starting with a dot, no ``..``): :func:`check_name`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import re
import shlex
import shutil
import sys
from pathlib import Path

import yaml

from exagan_tf.config import config_to_dict
from exagan_tf.errors import UserError, quote
from exagan_tf.fileio import remove_temporaries, write_json_atomic, write_text_atomic

EXPTS_DIR = Path("expts")
NAME_CHARS = re.compile(r"[A-Za-z0-9._-]{1,100}")
_TF_TEMP = re.compile(r"^checkpoint\.tmp[0-9a-f]{32}$")


def check_name(name: object, what: str) -> str:
    """``name`` as a folder name of a run (``what``: e.g. ``RUN``, ``config tag``): letters,
    digits and ``._-``, at most 100, not starting with a dot and without ``..``; anything else
    (a path separator, an absolute path, a space) is a one-line :class:`UserError`."""
    text = str(name)
    if not NAME_CHARS.fullmatch(text) or text.startswith(".") or ".." in text:
        raise UserError(f"{what} {quote(text, 80)}: expected a name of letters, digits and "
                        "'._-' (at most 100, not starting with '.', no '..')")
    return text


@dataclasses.dataclass
class RunDir:
    """Paths of one run and whether it is being resumed."""

    path: Path
    resumed: bool
    #: what opening the run did that the log should show (a lock taken over, temporaries
    #: removed, a checkpoint skipped): logged as warnings by :func:`setup_logging`
    notes: list[str] = dataclasses.field(default_factory=list, kw_only=True)

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
    """``<root>/<config_tag>/run<run>``; both names are checked by :func:`check_name`."""
    return Path(root) / check_name(config_tag, "config tag") / f"run{check_name(run, 'RUN')}"


def first_difference(old: dict, new: dict, prefix: str = "") -> str | None:
    """The first key (nested keys dotted) whose value differs, as ``'key' was X, now Y``."""
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found = first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"'{prefix}{key}' was {quote(a, 100)}, now {quote(b, 100)}"
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
    from exagan_tf import runlock

    # a start that failed before writing config.yaml leaves only the (released) lock file
    if not cfg_file.exists() and path.exists() and any(
            p.name != runlock.LOCK_NAME for p in path.iterdir()):
        raise UserError(f"{path} exists but has no config.yaml; not a {kind} of this suite")
    if cfg_file.exists():
        _check_stored(cfg_file, path, record, mismatch, comparable)  # before touching the run
    path.mkdir(parents=True, exist_ok=True)
    _, notes = runlock.acquire(path)
    try:
        if cfg_file.exists():  # another process may have created it since the check above
            _check_stored(cfg_file, path, record, mismatch, comparable)
            resumed = True
        else:
            write_text_atomic(cfg_file, yaml.safe_dump(record, sort_keys=False))
            resumed = False
        for sub in ("checkpoints", "models", "logs"):
            (path / sub).mkdir(exist_ok=True)
        notes += _remove_leftovers(path)
        if any((path / "checkpoints").iterdir()):
            from exagan_tf.checkpoints import verify_checkpoints

            notes += verify_checkpoints(path / "checkpoints")
    except BaseException:
        runlock.release(path)
        raise
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    with open(path / "command.txt", "a") as f:
        f.write(f"{stamp} {'resume' if resumed else 'start'}: {command}\n")
    return RunDir(path, resumed, notes=notes)


def _check_stored(cfg_file: Path, path: Path, record: dict, mismatch: str, comparable) -> None:
    """Refuse (one line) a run whose stored config differs from ``record``."""
    from exagan_tf.config import load_yaml

    try:
        stored = load_yaml(cfg_file.read_text(), cfg_file) or {}
    except UserError:
        raise UserError(f"{cfg_file}: unreadable run config; not touching this run") from None
    if not isinstance(stored, dict):
        raise UserError(f"{cfg_file}: not a mapping; not touching this run")
    diff = first_difference(comparable(stored), comparable(record))
    if diff:
        raise UserError(mismatch.format(path=path, diff=diff))


def _remove_leftovers(path: Path) -> list[str]:
    """Delete the temporary files and folders a killed process left in the run ``path`` (the
    caller holds its lock, so no live process is writing them); one note naming them."""
    gone = remove_temporaries(path)
    ckpts = path / "checkpoints"
    for item in sorted(ckpts.iterdir()):
        if item.is_dir() and item.name.endswith("_temp"):
            shutil.rmtree(item)
            gone.append(item)
        elif item.is_file() and _TF_TEMP.match(item.name):
            item.unlink()
            gone.append(item)
    if not gone:
        return []
    names = ", ".join(str(p.relative_to(path)) for p in gone[:5])
    more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
    return [f"{path}: removed {len(gone)} temporaries of an interrupted process: {names}{more}"]


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
    for note in run.notes:
        logger.warning(f"warning: {note}")
    return logger
