"""Every console script of setup.cfg names a module and a function that exist, and each runnable
module of the muon system has one."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def console_scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def test_every_script_resolves():
    """``exagan`` and the adapters of the originals' command lines, not one script per tool."""
    scripts = console_scripts()
    assert set(scripts) == {"exagan", "exagan-train", "exagan-analyze", "exagan-muons-train",
                            "exagan-gr-train", "exagan-cmb"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_every_system_simulates_through_exagan(capsys):
    """``exagan simulate SYSTEM --help`` reaches each system's simulator (and the muon tools)."""
    from exagan_tf import cli

    for argv, prog in ((["exagan"], "nbody"), (["exagan", "slice"], "slice_universes"),
                       (["baryons"], "baryons.simulate"), (["muons"], "muons.simulate"),
                       (["muons", "preprocess"], "preprocess"), (["muons", "dangerous"], "dangerous"),
                       (["gr"], "gr.simulate"), (["cmb"], "cmb.simulate")):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["simulate", *argv, "--help"])
        assert exit_.value.code == 0, argv
        assert prog in capsys.readouterr().out, argv


def test_every_system_imports_through_exagan(capsys):
    """``exagan import SYSTEM --help`` reaches the reader of each original tool's files."""
    from exagan_tf import cli

    progs = {"exagan": "slice_universes", "baryons": "import_painter", "muons": "preprocess",
             "gr": "import_gevolution", "cmb": "import_deepcmb"}
    for system, prog in progs.items():
        with pytest.raises(SystemExit) as exit_:
            cli.main(["import", system, "--help"])
        assert exit_.value.code == 0, system
        assert prog in capsys.readouterr().out, system
