"""Atomic file writing and safe HDF5 opening.

Everything the suite writes (data, shards, configs, metrics, checkpoints) goes to a temporary
file in the destination folder and is moved into place with :func:`os.replace`, so a killed
process never leaves a half-written file under the final name. A process killed before the move
leaves the temporary file, ``.<name>.<random>.tmp`` beside the destination;
:func:`remove_temporaries` deletes those when the same run (or folder) starts again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from exagan_tf.errors import UserError

#: the names :func:`atomic_path` gives its temporary files (mkstemp: 8 random characters)
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    Args:
        path: final destination.
        overwrite: if False (the default) an existing ``path`` is an error, so data is never
            replaced by accident.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes 0600 files; give the final file the usual permissions under the umask
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`atomic_path` under ``folder`` (recursively) and
    return their paths. Only for a folder no other process is writing (a locked run)."""
    gone = []
    for root, _, files in os.walk(folder):
        for name in files:
            if TEMPORARY.match(name):
                path = Path(root) / name
                path.unlink()
                gone.append(path)
    return sorted(gone)


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj, overwrite: bool = False) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", overwrite=overwrite)


def open_h5(path: str | os.PathLike, mode: str = "r"):
    """Open an HDF5 file; a missing or unreadable file becomes a one-line :class:`UserError`."""
    import h5py

    path = Path(path)
    if mode == "r" and not path.exists():
        raise UserError(f"{path}: no such file")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        reason = str(err).split("(")[0].strip().rstrip(",") or "unreadable"
        raise UserError(f"{path}: not a readable HDF5 file ({reason})") from None
