"""Verify a run's checkpoints before it resumes, and fall back to the newest intact one.

A run resumes from ``tf.train.CheckpointManager.latest_checkpoint``, which trusts the
``checkpoint`` state file and the newest ``ckpt-N`` blindly: a truncated or zeroed ``.data`` or
``.index``, a deleted ``.data`` or an empty state file made every rerun fail with a long
traceback, and a state file of NUL bytes made TensorFlow ignore every checkpoint, so the run
restarted from step 0 and its rotation deleted the intact checkpoints.

:func:`verify_checkpoints` runs when a run directory is opened (under its lock), before the
trainer builds its manager:

1. The checkpoints are found by their files (``<name>-<N>.index`` / ``.data-*``), newest
   number first, whatever the state file says.
2. Each is read whole with ``tf.train.load_checkpoint`` (every tensor, so TensorFlow checks
   each one's CRC32C), newest first, until one reads. That costs one extra read of the
   checkpoint the trainer then restores (the size of the model and its optimizer state).
3. The unreadable ones newer than it are moved, never deleted, to ``checkpoints/unreadable/``:
   left in place, the resumed run would write a new checkpoint of the same number over them or
   rotate them away. The state file is rewritten (atomically) to list the checkpoints that
   remain, newest last, so the manager resumes from the intact one and its rotation
   (``max_to_keep``) counts only real checkpoints: the one resumed from is deleted only once
   ``max_to_keep`` newer ones were written after it.
4. When no checkpoint reads, nothing is moved and the run is refused with one line: starting
   again from step 0 over a run's checkpoints is the user's decision.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from exagan_tf.errors import UserError
from exagan_tf.fileio import write_text_atomic

STATE_FILE = "checkpoint"
UNREADABLE = "unreadable"
_PART = re.compile(r"^(?P<prefix>.+-(?P<n>\d+))\.(index|data-\d{5}-of-\d{5})$")


def find_checkpoints(folder: Path) -> list[tuple[int, str]]:
    """``(number, prefix name)`` of every checkpoint with a file in ``folder``, oldest first."""
    found = {}
    for part in Path(folder).iterdir():
        match = _PART.match(part.name)
        if match and part.is_file():
            found[match["prefix"]] = int(match["n"])
    return sorted((n, name) for name, n in found.items())


def read_error(prefix: Path) -> str | None:
    """Why the checkpoint ``prefix`` cannot be read whole (first line of TensorFlow's error),
    or None when every tensor reads and matches its checksum."""
    import tensorflow as tf

    if not Path(f"{prefix}.index").is_file():
        return "no .index file"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as err:  # noqa: BLE001 - TF raises several types for damaged files
        first = (str(err).strip().splitlines() or [""])[0]
        return f"{type(err).__name__}: {first[:120]}"
    return None


def _state_names(folder: Path) -> list[str] | None:
    """The checkpoint names of the state file (latest last), or None when it is unreadable."""
    import tensorflow as tf

    try:  # empty or binary: damaged (TensorFlow would log a parse error for it first)
        raw = (folder / STATE_FILE).read_bytes()
        if not raw.strip() or b"\0" in raw:
            return None
        raw.decode("utf-8")
        state = tf.train.get_checkpoint_state(str(folder))
    except Exception:  # noqa: BLE001 - a damaged state file raises ParseError or ValueError
        return None
    if state is None or not state.model_checkpoint_path:
        return None
    names = [Path(p).name for p in state.all_model_checkpoint_paths]
    latest = Path(state.model_checkpoint_path).name
    return [n for n in names if n != latest] + [latest]


def _mtime(folder: Path, name: str) -> float:
    index = folder / f"{name}.index"
    return index.stat().st_mtime if index.exists() else 0.0


def _move_aside(folder: Path, name: str) -> Path:
    """Move every file of checkpoint ``name`` to ``folder/unreadable/`` (a new subfolder when
    that name is already there); returns where they went."""
    target = folder / UNREADABLE
    k = 0
    while any(target.glob(f"{name}.*")):
        k += 1
        target = folder / UNREADABLE / str(k)
    target.mkdir(parents=True, exist_ok=True)
    for part in folder.glob(f"{name}.*"):
        shutil.move(str(part), target / part.name)
    return target


def verify_checkpoints(folder: Path) -> list[str]:
    """Make the newest readable checkpoint of ``folder`` the one a run resumes from.

    Returns:
        One-line warnings naming what was skipped and where it went (empty when the newest
        checkpoint reads and the state file names it).

    Raises:
        UserError: checkpoints exist but none reads (nothing is moved).
    """
    folder = Path(folder)
    found = find_checkpoints(folder) if folder.is_dir() else []
    if not found:
        return []
    skipped = []
    for _, name in reversed(found):
        error = read_error(folder / name)
        if error is None:
            break
        skipped.append((name, error))
    else:
        names = ", ".join(n for n, _ in skipped)
        raise UserError(f"{folder}: no checkpoint reads ({names}; newest: {skipped[0][1]}); "
                        "nothing moved; move them away to start again from step 0")
    notes, where = [], None
    for bad, _ in skipped:
        where = _move_aside(folder, bad)
    remaining = [n for _, n in found if n not in dict(skipped)]
    if _state_names(folder) != remaining:
        # with their times, which the manager's rotation needs to count them (without, it
        # keeps them all forever)
        lines = [f'model_checkpoint_path: "{name}"']
        lines += [f'all_model_checkpoint_paths: "{n}"' for n in remaining]
        lines += [f"all_model_checkpoint_timestamps: {_mtime(folder, n)}" for n in remaining]
        write_text_atomic(folder / STATE_FILE, "\n".join(lines) + "\n", overwrite=True)
        if not skipped:
            notes.append(f"{folder / STATE_FILE}: damaged or out of date; rewritten to list "
                         f"{', '.join(remaining)}")
    if skipped:
        what = "; ".join(f"{bad} ({error})" for bad, error in skipped)
        notes.append(f"{folder}: resuming from {name}, the newest readable checkpoint; skipped "
                     f"the unreadable {what}, moved to {where}")
    return notes
