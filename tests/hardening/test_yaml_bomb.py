"""A YAML alias bomb (the "billion laughs") in a config fails fast, in bounded memory, with one line
(issue 19, finding 5); and no message quotes more than about 200 characters of a value.

The bomb is run through the real command line in a subprocess whose address space is capped at
1 GiB: before the bound, the error message's ``repr`` of the value filled memory (4 GB in under a
minute), which under the cap is a MemoryError traceback.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from exagan_tf.config import MAX_EXPANDED_VALUES, expanded_size, load_exagan, read_tags
from exagan_tf.errors import UserError, quote
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]
# ten levels of ten aliases: 10^10 values, 12 lines (hidden tags, names starting with '.')
BOMB = ".l0: &l0 lol\n" + "".join(
    f".l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 11))


def _bomb(tmp_path: Path, where: str) -> Path:
    test = read_tags(REPO / "experiments" / "exagan.yaml")["test"]
    body = yaml.safe_dump({"test": {k: v for k, v in test.items() if k != "nconvfilters"}})
    value = "*l10" if where == "known key" else "[4, 8]"  # else: only in a hidden tag
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + body + f"  nconvfilters: {value}\n")
    return path


def _limit_memory():  # 1 GiB of address space: enough for Python and yaml, not for the bomb
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("where", ["known key", "hidden tag"])
def test_a_billion_laughs_config_fails_fast_in_bounded_memory(tmp_path, where):
    path = _bomb(tmp_path, where)
    before = M.digest(tmp_path)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "exagan_tf.train", "test", "0", "--config-file", str(path),
         "--expts", str(tmp_path / "expts")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120, preexec_fn=_limit_memory, check=False)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.strip()
    assert proc.returncode == 2, err[-2000:]
    M.one_line(UserError(err), "bomb.yaml", "more than 100,000 values once its aliases are expanded")
    assert len(err) < 300 and elapsed < 30
    assert M.digest(tmp_path) == before and not (tmp_path / "expts").exists()


def test_the_expanded_size_stops_counting_past_the_limit():
    doc = yaml.safe_load(BOMB)
    assert len(BOMB) < 700
    t0 = time.perf_counter()
    assert expanded_size(doc) == MAX_EXPANDED_VALUES + 1
    assert time.perf_counter() - t0 < 5
    loop: list = []
    loop.append(loop)  # a self-referencing alias (&a [*a]) ends too
    assert expanded_size(loop) == MAX_EXPANDED_VALUES + 1
    # every experiments file of the suite is far below the bound
    for path in (REPO / "experiments").rglob("*.yaml"):
        assert expanded_size(yaml.safe_load(path.read_text())) < MAX_EXPANDED_VALUES // 10, path


def test_messages_quote_at_most_200_characters_of_a_value(tmp_path):
    test = read_tags(REPO / "experiments" / "exagan.yaml")["test"]
    path = tmp_path / "long.yaml"
    for value in ("x" * 100_000, [[list(range(100))] * 10] * 10, {f"k{i}": i for i in range(999)}):
        path.write_text(yaml.safe_dump({"test": {**test, "nconvfilters": value}}))
        with pytest.raises(UserError) as err:
            load_exagan("test", path)
        text = M.one_line(err.value, "key 'nconvfilters' = ")
        assert len(text) < len(str(path)) + 300, text
    assert len(quote("y" * 10_000)) == 200 and quote([1, 2]) == "[1, 2]"
