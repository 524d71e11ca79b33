"""How much resident memory one slicing run takes, measured in a child process.

The child imports Python, NumPy, h5py, tqdm, the slicer and any ``preload`` modules, resets its
peak RSS (``VmHWM``, through ``/proc/self/clear_refs``), slices with the command-line ``args``
and prints ``RSS <rss before, MiB> <peak rss, MiB> <seconds>``; what the slicing itself adds is
the difference. The child's code is the string :data:`CHILD`, so the same measurement can run
another checkout's slicer (``pythonpath``), one that does not have this module. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CHILD = """
import sys, time
import h5py, numpy, tqdm
from exagan_tf.cosmo import slice_universes as su
{preload}

def rss(key):
    with open("/proc/self/status") as fh:
        return int(next(x for x in fh if x.startswith(key)).split()[1])

with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = rss("VmRSS:")
t0 = time.perf_counter()
su.main(sys.argv[1:])
print("RSS", before / 1024, rss("VmHWM:") / 1024, time.perf_counter() - t0)
"""


@dataclass
class SlicingMemory:
    """One measured slicing: the child's process result and, when it got that far, the RSS
    before slicing, the peak RSS (MiB) and the seconds it took."""

    result: subprocess.CompletedProcess
    before_mib: float | None = None
    peak_mib: float | None = None
    seconds: float | None = None

    @property
    def grew_mib(self) -> float:
        """MiB the resident memory grew by while slicing."""
        return self.peak_mib - self.before_mib


def measure_slicing(args: list[str], *, pythonpath: str | Path | None = None,
                    preload: tuple[str, ...] = (), cwd: str | Path | None = None,
                    check: bool = True) -> SlicingMemory:
    """Slice with ``args`` (the slicer's command line) in a child process and measure it.

    ``pythonpath``: the checkout whose slicer runs (default: the interpreter's own path);
    ``preload``: modules imported before the reset, so their import is not counted;
    ``check``: raise when the child fails (else read ``result.returncode``).
    """
    code = CHILD.format(preload="\n".join(f"import {m}" for m in preload))
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath is not None else None
    res = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd,
                         capture_output=True, text=True, check=check)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RSS ")), None)
    if line is None:
        return SlicingMemory(res)
    before, peak, seconds = map(float, line.split()[1:])
    return SlicingMemory(res, before, peak, seconds)
