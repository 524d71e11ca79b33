"""Atomic file writing, safe HDF5 opening and Keras model saving/loading.

Everything the suite writes (data, shards, configs, metrics, checkpoints, models) goes to a
temporary file in the destination folder and is moved into place with :func:`os.replace`, so a
killed process never leaves a half-written file under the final name. A process killed before the
move leaves the temporary file (``.<name>.<random>.tmp``, or ``.tmp-<random>.keras`` /
``.weights.h5`` for a model) beside the destination; :func:`remove_temporaries` deletes those
when the same run starts again. Models are read back only with ``safe_mode=True``: a file that
carries code (a ``Lambda`` layer, a reference to an arbitrary function) is refused. Keras is
imported only by the model functions, so the simulators and readers that use this module do not
pay for TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from exagan_tf.errors import UserError

if TYPE_CHECKING:
    import keras

#: the names :func:`atomic_path` and the model saves give their temporary files (mkstemp: 8
#: random characters)
TEMPORARY = re.compile(r"^(\..+\.[A-Za-z0-9_]{8}\.tmp"  # atomic_path
                       r"|\.tmp-[A-Za-z0-9_]{8}\.(keras|weights\.h5))$")  # model saves


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
    """Delete the temporary files of :func:`atomic_path` and of the model saves under ``folder``
    (recursively) and return their paths. Only for a folder no other process is writing (a
    locked run)."""
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


def _keras_save_atomic(save: Callable[[str], None], path: Path, suffix: str) -> None:
    """Run ``save(tmp)`` on a temporary file beside ``path`` (Keras needs the suffix), then move
    it into place, so a killed process never leaves a half-written model under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_weights_atomic(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save_weights`` (``.weights.h5``) atomically."""
    _keras_save_atomic(model.save_weights, path, ".weights.h5")


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save`` (``.keras`` format) atomically."""
    _keras_save_atomic(model.save, path, ".keras")


def load_model_safe(path: str | os.PathLike) -> keras.Model:
    """``keras.saving.load_model(path, safe_mode=True)``; a file carrying code (a Lambda layer,
    a reference to an arbitrary function) or a damaged file is a one-line UserError."""
    import keras

    if not Path(path).is_file():
        raise UserError(f"{path}: no such model file")
    if str(path).endswith(".keras") and not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a .keras (zip) model file; damaged or of another kind")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises ValueError/TypeError/OSError/BadZipFile here
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(
            f"{path}: model refused or unreadable under safe_mode "
            f"({type(err).__name__}: {first:.160})"
        ) from None
