"""Helper of the SIGTERM tests: run a training command, signal it once it is ready."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def checkpoints_in(folder: Path) -> Callable[[], bool]:
    """A readiness test: a TensorFlow checkpoint exists in ``folder``."""
    return lambda: bool(list(Path(folder).glob("*.index")))


def checkpoint_after(folder: Path, step: int) -> Callable[[], bool]:
    """A readiness test: a checkpoint ``ckpt-N`` with N > ``step`` exists in ``folder``."""
    return lambda: any(int(p.name[5:-6]) > step for p in Path(folder).glob("ckpt-*.index"))


def saved_step(out: str) -> int:
    """The step of the checkpoint the SIGTERM handler reported saving."""
    return int(re.search(r"SIGTERM received: checkpoint saved at step (\d+);", out)[1])


def checkpoint_steps(out: str) -> list[int]:
    """The steps of the periodic checkpoints a run logged (``checkpoint K (step N)``)."""
    return [int(s) for s in re.findall(r"checkpoint \d+ \(step (\d+)\)", out)]


def assert_saved_again_after(out: str, step: int) -> None:
    """The resumed run, signalled again, saved a checkpoint later than ``step``."""
    again = re.search(r"checkpoint saved at step (\d+);", out)
    assert again and int(again[1]) > step, out[-3000:]


def sigterm_when(args: list[str], ready: Callable[[], bool], timeout: float = 180) -> str:
    """Run ``python <args>`` in its own process group; once ``ready()`` holds, send SIGTERM and
    wait for the exit. Returns the output; fails unless the process exited 0 after the signal.
    The process group is killed whatever happens."""
    env = {**THREADS, **os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
                raise AssertionError(f"never ready to signal (exit {proc.poll()}):\n{out[-3000:]}")
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=max(deadline - time.monotonic(), 30))[0]
        assert proc.returncode == 0, f"exit {proc.returncode} after SIGTERM:\n{out[-3000:]}"
        return out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
