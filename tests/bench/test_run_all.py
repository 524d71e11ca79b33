"""``run_all.py --quick`` end to end: one table, results written, ratios measured."""

import json
import subprocess
import sys
import time

from .conftest import BENCH


def test_quick_run_writes_the_table(tmp_path):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          check=False)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "latest.json").read_text())
    rows = {r["key"]: r for r in res["training"]}
    assert set(rows) == {"muon_gan", "muon_vae"}
    for r in rows.values():
        assert r["rates"]["project"] > 0 and r["rates"]["classic"] > 0
        assert r["flops_per_sample"] > 0
    assert res["peak"]["peak_gflop_s"] > 1
    pipes = [p for p in res["pipelines"] if p["system"] == "muons"]
    assert len(pipes) == 2 and all(p["ratio_to_training"] > 0 for p in pipes)
    assert any(g["unit"] == "muons/s" and g["rate"] > 0 for g in res["generation"])
    md = (tmp_path / "latest.md").read_text()
    assert "| system | benchmark | rate |" in md and "muon GAN" in md
    assert "| system | benchmark | rate |" in proc.stdout  # printed as one table
    assert seconds < 180  # < 60 s on an idle 2-core machine; generous for a loaded one
