"""Fixtures of the benchmark tests: the benchmarks folder on sys.path (it is not a package)."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
