"""Every console script of setup.cfg names a module and a function that exist, and each runnable
module of the muon system has one."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def console_scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def test_every_script_resolves():
    scripts = console_scripts()
    assert len(scripts) >= 18
    for name, target in scripts.items():
        module, func = target.split(":")
        assert name.startswith("exagan-"), name
        assert callable(getattr(importlib.import_module(module), func)), target


def test_every_muon_command_has_a_script():
    targets = {t.split(":")[0] for t in console_scripts().values()}
    runnable = {f"exagan_tf.muons.{p.stem}" for p in (REPO / "exagan_tf" / "muons").glob("*.py")
                if "\nif __name__ == \"__main__\":" in p.read_text()}
    assert runnable and runnable <= targets, sorted(runnable - targets)
    assert {"exagan_tf.muons.dangerous", "exagan_tf.muons.report"} <= targets
