"""A two-worker cluster on 127.0.0.1 for the multi-worker tests.

Every worker is a subprocess in its own process group, on CPU (``CUDA_VISIBLE_DEVICES=""``,
one TensorFlow thread per pool unless the environment says otherwise), with a ``TF_CONFIG``
naming ports that were free a moment before. Every call waits with a timeout, and the fixture
kills every process group it started when the test ends, passed, failed or interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds a cluster may run before the test fails
THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 now (held open together while picking)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster:
    """Start, wait for and kill groups of worker processes."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: list[subprocess.Popen] = []
        self.launches = 0

    def _spawn(self, args: list[str], name: str, env: dict) -> subprocess.Popen:
        full_env = {
            **THREADS,
            **{k: v for k, v in os.environ.items() if k != "TF_CONFIG"},
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(REPO),
            **env,
        }
        with open(self.logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start(self, args: list[str], workers: int = 2, env: dict | None = None):
        """``python <args>`` once per worker, all in one fresh TF_CONFIG cluster."""
        self.launches += 1
        hosts = [f"127.0.0.1:{p}" for p in free_ports(workers)]
        procs = []
        for i in range(workers):
            tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
            procs.append(
                self._spawn(
                    args,
                    f"launch{self.launches}_w{i}",
                    {"TF_CONFIG": json.dumps(tf_config), **(env or {})},
                )
            )
        return procs

    def start_single(self, args: list[str], name: str = "single", env: dict | None = None):
        """``python <args>`` once, without TF_CONFIG (the one-process reference)."""
        return self._spawn(args, name, env or {})

    def wait(self, procs, timeout: float = TIMEOUT) -> list[int]:
        """Exit codes of ``procs``; kills them all and fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        codes = []
        for p in procs:
            try:
                codes.append(p.wait(timeout=max(deadline - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                self.kill(procs)
                pytest.fail(f"workers still running after {timeout} s\n{self.tail()}")
        return codes

    def run(self, args: list[str], timeout: float = TIMEOUT, **kw) -> None:
        """Start a cluster and require every worker to exit 0 within ``timeout``."""
        procs = self.start(args, **kw)
        codes = self.wait(procs, timeout)
        assert codes == [0] * len(procs), f"exit codes {codes}\n{self.tail()}"

    @staticmethod
    def kill(procs) -> None:
        """SIGKILL the process group of every process still running."""
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        """The last lines of every worker log of this test."""
        out = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()
            out.append(f"--- {log.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


@pytest.fixture
def cluster(tmp_path):
    """A :class:`Cluster` whose processes are all killed when the test ends."""
    logs = tmp_path / "worker_logs"
    logs.mkdir()
    c = Cluster(logs)
    try:
        yield c
    finally:
        c.kill(c.procs)
