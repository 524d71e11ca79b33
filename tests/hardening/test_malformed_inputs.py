"""Property-based checks: malformed input to the readers and the config loader gives a one-line
UserError naming what is wrong, never a crash deep inside a library, and touches no file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exagan_tf.config import DCGANConfig, build_config, load_config, read_tags
from exagan_tf.cosmo import data
from exagan_tf.errors import UserError

REPO = Path(__file__).resolve().parents[2]
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEST_TAG = read_tags(REPO / "experiments" / "exagan.yaml")["test"]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _one_line(err: UserError, *needles: str) -> None:
    text = str(err)
    assert "\n" not in text and text
    for needle in needles:
        assert needle in text, text


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(text=st.text(max_size=200))
def test_arbitrary_text_as_config_file(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    before = _digest(tmp_path)
    try:
        load_config(DCGANConfig, path, "test")
    except UserError as err:
        _one_line(err, str(path))
    assert _digest(tmp_path) == before


@SETTINGS
@given(key=st.sampled_from(sorted(TEST_TAG)), value=yaml_values)
def test_any_value_for_a_known_key(key, value):
    values = {**TEST_TAG, key: value}
    try:
        build_config(DCGANConfig, values, "test", "exp.yaml")
    except UserError as err:
        _one_line(err, "exp.yaml", "tag 'test'")


@SETTINGS
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in TEST_TAG), value=yaml_values)
@example(key="\n", value=None)  # a line break in a key must not break the one-line message
@example(key="a\u2028b", value=1)
def test_unknown_keys_are_named(key, value):
    with pytest.raises(UserError) as err:
        build_config(DCGANConfig, {**TEST_TAG, key: value}, "test", "exp.yaml")
    _one_line(err.value, "unknown key")


@SETTINGS
@given(blob=st.binary(max_size=4096))
def test_arbitrary_bytes_as_a_shard(tmp_path, blob):
    folder = tmp_path / "d" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bad.h5"
    path.write_bytes(blob)
    before = _digest(tmp_path)
    with pytest.raises(UserError) as err:
        data.check_shards([path], 16)
    _one_line(err.value, str(path))
    assert _digest(tmp_path) == before


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 20), min_size=0, max_size=4).map(tuple),
    name=st.sampled_from(["data", "images", "full"]),
    dtype=st.sampled_from(["int16", "float32", "uint8", "S1", "bool"]),
)
@example(shape=(2, 16, 16), name="data", dtype="S1")  # strings of the right shape
def test_shards_of_any_shape_and_name(tmp_path, shape, name, dtype):
    path = tmp_path / f"s{abs(hash((shape, name, dtype)))}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=np.zeros(shape, dtype=dtype))
    try:
        counts = data.check_shards([path], 16)
    except UserError as err:
        _one_line(err.value if hasattr(err, "value") else err, str(path))
        return
    # accepted only when it really is a stack of 16 x 16 images (numbers) in 'data'
    assert name == "data" and len(shape) == 3 and shape[1:] == (16, 16)
    assert dtype in ("int16", "float32", "uint8")
    assert counts == [shape[0]]


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump([1, 2, 3]))
    with pytest.raises(UserError) as err:
        load_config(DCGANConfig, path, "test")
    _one_line(err.value, "mapping")
