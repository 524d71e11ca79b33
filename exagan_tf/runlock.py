"""One process per run directory: a lock file ``<run>/run.lock`` held while a run is open.

Two processes training the same run would interleave ``train.log`` and overwrite each other's
checkpoints and best models, so the second one is refused with one line naming the holder (host,
PID and since when). The lock has two layers, because what a lock can rely on depends on where
the run directory lives:

* **The kernel lock.** The holder keeps ``fcntl.flock`` on ``run.lock`` while the run is open.
  The kernel drops it when the process ends, however it ends (SIGKILL too), so on one host a
  lock left by a dead process never blocks a rerun, with no PID reuse to worry about. NFS
  (v3 through lockd, v4 natively) and Lustre mounted with ``-o flock`` carry it across hosts;
  on the same host the recorded PID is checked too (``os.kill(pid, 0)`` and the process start
  time from ``/proc``, so a reused PID does not count), which is what decides on a file system
  without the kernel lock (``ENOLCK``/``EOPNOTSUPP``).
* **A lease in the record.** ``run.lock`` holds one JSON record (host, PID, the process start
  time, since, heartbeat) that a daemon thread of the holder rewrites every
  :data:`HEARTBEAT_S` seconds. A kernel lock that only covers one node (Lustre
  ``localflock``, an NFS mount without lockd) would let a second host in, so a record from
  another host whose heartbeat is younger than :data:`LEASE_S` refuses too; an older one
  belongs to a process (or node) that stopped and is taken over with a warning. The lease is
  measured on the reader's clock, so it assumes the hosts' clocks agree to well within
  :data:`LEASE_S` (NTP keeps cluster nodes within milliseconds).

The file is never deleted: a release marks the record released (deleting it would let a process
that opened the old file lock an inode no other process can see). The same process may open
its own run again (a notebook or a test calling ``main`` twice); the lock is released when the
command ends (:func:`exagan_tf.errors.cli_errors`) or the process exits.
"""

from __future__ import annotations

import atexit
import datetime
import errno
import json
import os
import socket
import threading
import time
from pathlib import Path

from exagan_tf.errors import UserError, at_command_end

LOCK_NAME = "run.lock"
HEARTBEAT_S = 30.0
LEASE_S = 300.0
RECORD_BYTES = 1024  # the record is rewritten in place, padded, in one write

_HELD: dict[str, RunLock] = {}
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def _now() -> float:
    return time.time()


def _stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).isoformat(timespec="seconds")


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: object, start: str | None) -> bool:
    """Whether process ``pid`` of this host runs (and is the one recorded, if its start time
    was recorded: a PID reused by another program does not count)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # a damaged record: 0 or -1 would name a whole process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return start is None or now is None or now == start


def read_record(path: Path) -> dict | None:
    """The lock record of ``path`` (``run.lock``), or None when absent, empty or unreadable."""
    for _ in range(3):  # a record read while its holder rewrites it: read again
        try:
            text = Path(path).read_bytes().decode("utf-8", "replace").strip(" \x00\n")
        except OSError:
            return None
        if not text:
            return None
        try:
            record = json.loads(text)
            return record if isinstance(record, dict) else None
        except ValueError:
            time.sleep(0.05)
    return None


def describe(record: dict | None) -> str:
    """``host H, PID P, since S`` of a lock record."""
    if not record:
        return "another process (its record is being written)"
    since = record.get("since")
    return (f"host {record.get('host', '?')}, PID {record.get('pid', '?')}, since "
            f"{_stamp(since) if isinstance(since, (int, float)) else '?'}")


class RunLock:
    """The lock of one run directory, held by this process (see the module docstring)."""

    def __init__(self, run_path: Path, fd: int, record: dict):
        self.path = Path(run_path) / LOCK_NAME
        self.fd, self.record = fd, record
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"run-lock {run_path}")
        self._write()
        self._thread.start()

    def _write(self) -> None:
        data = json.dumps(self.record).encode()
        os.pwrite(self.fd, data.ljust(RECORD_BYTES), 0)
        os.fsync(self.fd)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.refresh()

    def refresh(self) -> None:
        """Renew the lease (the daemon thread does it every :data:`HEARTBEAT_S` seconds)."""
        self.record["heartbeat"] = _now()
        try:
            self._write()
        except OSError:  # the folder went away (a test's temporary folder): stop beating
            self._stop.set()

    def release(self) -> None:
        """Mark the record released and drop the kernel lock."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            self.record["released"] = _now()
            self._write()
        except OSError:
            pass
        finally:
            os.close(self.fd)  # closing the descriptor drops the flock


def _refuse(path: Path, record: dict | None, extra: str = "") -> UserError:
    return UserError(f"{path.parent}: run in use by {describe(record)}{extra}; wait for it to "
                     f"end or stop it (a lock left by a process that ended is taken over)")


def acquire(run_path: Path) -> tuple[RunLock, list[str]]:
    """Lock the run directory ``run_path`` for this process.

    Returns:
        The lock and the warnings to log (a lock taken over from a process that ended).

    Raises:
        UserError: another live process holds the run (one line naming host, PID and since).
    """
    run_path = Path(run_path)
    key = str(run_path.resolve())
    if key in _HELD:  # this process opens its own run again
        _HELD[key].refresh()
        return _HELD[key], []
    path = run_path / LOCK_NAME
    host, pid = socket.gethostname(), os.getpid()
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refuse(path, read_record(path)) from None
        except OSError as err:
            if err.errno not in _UNSUPPORTED:  # else: no kernel lock here, the record decides
                os.close(fd)
                raise
        except ImportError:  # no fcntl (Windows): the record alone
            pass
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            break
        os.close(fd)  # the file was replaced between open and flock: lock the new one
    else:
        raise UserError(f"{path}: could not lock it (replaced while locking); try again")
    notes = []
    held = read_record(path)
    if held and not held.get("released") and (held.get("host"), held.get("pid")) != (host, pid):
        same_host = held.get("host") == host
        beat = held.get("heartbeat")
        age = _now() - (beat if isinstance(beat, (int, float)) else 0.0)
        # on this host the kernel lock already says the holder ended; the PID check covers
        # file systems without it (and costs nothing)
        if same_host and _alive(held.get("pid"), held.get("start")):
            os.close(fd)
            raise _refuse(path, held)
        if not same_host and age < LEASE_S:
            os.close(fd)
            raise _refuse(path, held, f" (lease renewed {age:.0f} s ago, taken over once it is "
                                      f"{LEASE_S:.0f} s old)")
        why = "no longer running" if same_host else f"lease not renewed for {age:.0f} s"
        notes.append(f"{path}: took over the lock of {describe(held)} ({why})")
    now = _now()
    lock = RunLock(run_path, fd, {"host": host, "pid": pid, "start": _start_time(pid),
                                  "since": now, "heartbeat": now})
    _HELD[key] = lock
    return lock, notes


def release(run_path: Path | None = None) -> None:
    """Release this process's lock of ``run_path``, or all of its locks."""
    for key in [str(Path(run_path).resolve())] if run_path is not None else list(_HELD):
        lock = _HELD.pop(key, None)
        if lock is not None:
            lock.release()


atexit.register(release)
at_command_end(release)
