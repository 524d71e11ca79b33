"""Every input reader of the five systems, fed damaged files: a one-line UserError naming the
file and what is wrong, never a crash deep inside h5py/uproot/TensorFlow, and no file touched.

The damage table (:mod:`tests.hardening.malformed`): truncated file, random bytes, text, empty
file; a dataset dropped, renamed, with an extra or a missing axis, a wrong side, strings instead
of numbers, a NaN, an infinity, zero rows, a negative count/weight/density.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exagan_tf.errors import UserError
from tests.hardening import malformed as M

SETTINGS = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_refused(name: str, key: str | None, how: str, **damage) -> str:
    make, read, _ = M.HDF5_READERS[name]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        path = make(folder)
        M.apply_damage(path, key, how, **damage)
        before = M.digest(folder)
        with pytest.raises(UserError) as err:
            read(folder, path)
        assert M.digest(folder) == before
        return M.one_line(err.value, str(path))


@pytest.mark.parametrize("name", list(M.HDF5_READERS))
def test_valid_files_are_read(tmp_path, name):
    make, read, _ = M.HDF5_READERS[name]
    folder = tmp_path / "in"
    path = make(folder)
    before = M.digest(folder)
    read(folder, path)
    assert M.digest(folder) == before


@pytest.mark.parametrize("name,key,how", M.damage_cases())
def test_every_damage_is_refused(name, key, how):
    _check_refused(name, key, how, index=0)


@SETTINGS
@given(name=st.sampled_from(list(M.HDF5_READERS)), blob=st.binary(max_size=2048),
       fraction=st.floats(0.0, 0.999), truncate=st.booleans())
def test_random_bytes_and_truncation(name, blob, fraction, truncate):
    how = "truncate" if truncate else "random_bytes"
    _check_refused(name, None, how, blob=blob, fraction=fraction)


@SETTINGS
@given(case=st.sampled_from([(n, k) for n, (_, _, t) in M.HDF5_READERS.items() for k in t
                             if "nan" in t[k]]),
       m=st.integers(0, 255), how=st.sampled_from(["nan", "inf"]))
def test_a_non_finite_value_anywhere(case, m, how):
    name, key = case
    text = _check_refused(name, key, how, index=2 * m)
    assert any(w in text.lower() for w in ("nan", "inf", "finite")), text


# ---------------------------------------------------------------------------------------------
# muon ROOT files (uproot)


def _branches(n: int = 20) -> dict[str, np.ndarray]:
    from exagan_tf.muons import rootio

    rng = np.random.default_rng(0)
    b = {k: rng.uniform(0.1, 1.0, n).astype(np.float32) for k in rootio.BRANCHES}
    b["id"][:] = 13
    return b


def _root_case(path: Path, how: str, blob: bytes, fraction: float, entry: int) -> None:
    import uproot

    from exagan_tf.muons import rootio

    if how in ("truncate", "random_bytes", "text", "empty"):
        rootio.write_branches(path, _branches())
        M.mutate_file(path, how, blob=blob, fraction=fraction)
    elif how == "hdf5":
        M.make_muon_category(path.parent, path.stem).rename(path)
    elif how in ("other_tree", "missing_branch"):
        b = _branches()
        tree = "other" if how == "other_tree" else rootio.TREE_NAME
        if how == "missing_branch":
            del b["pz"]
        with uproot.recreate(path) as f:
            f.mktree(tree, {k: np.float32 for k in b}).extend(b)
    elif how == "histogram":
        with uproot.recreate(path) as f:
            f[rootio.TREE_NAME] = np.histogram(np.arange(4.0))
    else:  # a bad value in one branch: "px=nan", "w=-1", "id=11", ...
        branch, value = how.split("=")
        b = _branches()
        b[branch][entry % 20] = float(value)
        rootio.write_branches(path, b)


ROOT_DAMAGE = ("truncate", "random_bytes", "text", "empty", "hdf5", "other_tree",
               "missing_branch", "histogram", "px=nan", "z=inf", "w=nan", "w=-1", "id=11")


@settings(max_examples=25, deadline=None)
@given(how=st.sampled_from(ROOT_DAMAGE), blob=st.binary(max_size=2048),
       fraction=st.floats(0.0, 0.999), entry=st.integers(0, 19))
def test_muon_root_files(how, blob, fraction, entry):
    from exagan_tf.muons import preprocess

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "muons_0000.root"
        _root_case(path, how, blob, fraction, entry)
        before = M.digest(folder)
        with pytest.raises(UserError) as err:
            preprocess.scan_file(path)  # reads every muon, as the preprocessing does
        M.one_line(err.value, str(path))
        assert M.digest(folder) == before


@pytest.mark.parametrize("how", ROOT_DAMAGE)
def test_every_root_damage_is_refused(tmp_path, how):
    from exagan_tf.muons import rootio

    path = tmp_path / "muons.root"
    _root_case(path, how, b"\x01garbage", 0.5, 3)
    with pytest.raises(UserError) as err:
        rootio.read_muons(path)
    M.one_line(err.value, str(path))


@settings(max_examples=15, deadline=None)
@given(text=st.text(max_size=300) | st.sampled_from([
    "{}", "[]", '{"categories": 3}', '{"categories": {"mup_prompt": {"x": 1}}}',
    '{"categories": {"mup_prompt": []}}']))
def test_muon_transform_json(text):
    from exagan_tf.muons import preprocess

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transform.json"
        path.write_text(text)
        try:
            preprocess.load_transforms(tmp)
        except UserError as err:
            M.one_line(err, str(path))
        else:  # accepted only when it really is a (possibly empty) mapping of categories
            assert "categories" in text
