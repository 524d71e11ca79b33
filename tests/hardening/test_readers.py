"""Every input reader of the five systems, fed damaged files: a one-line UserError naming the
file and what is wrong, never a crash deep inside h5py/uproot/TensorFlow, and no file touched.

The damage table (:mod:`tests.hardening.malformed`): truncated file, random bytes, text, empty
file; a dataset dropped, renamed, with an extra or a missing axis, a wrong side, strings instead
of numbers, a NaN, an infinity, zero rows, a negative count/weight/density. Side files too:
muon ROOT files and transform.json, baryon stats.json and a run's transform.json, the painter's
dark-matter map, the muon dangerous-region reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exagan_tf.errors import UserError
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]
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
    else:  # a bad value in one branch: "px=nan", "w=-1", "id=13.5", ...
        branch, value = how.split("=")
        b = _branches()
        b[branch][entry % 20] = float(value)
        rootio.write_branches(path, b)


ROOT_DAMAGE = ("truncate", "random_bytes", "text", "empty", "hdf5", "other_tree",
               "missing_branch", "histogram", "px=nan", "z=inf", "w=nan", "w=-1", "id=13.5")


@settings(max_examples=25, deadline=None)
@given(how=st.sampled_from(ROOT_DAMAGE), blob=st.binary(max_size=2048),
       fraction=st.floats(0.0, 0.999), entry=st.integers(0, 19))
@example(how="truncate", blob=b"", fraction=0.998046875, entry=0)  # only the last bytes lost
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


# ---------------------------------------------------------------------------------------------
# JSON and NumPy side files: baryon stats.json (training), a run's transform.json (painting),
# the painter's dark-matter map, the muon dangerous-region reference


json_docs = st.text(max_size=120) | st.sampled_from([
    "[]", "{}", "3", '{"redshifts": [0, 1], "pressure_std": [1, 1]}',
    '{"redshifts": [0, 1], "dm_std": [-1, 1], "pressure_std": [1, 1]}',
    '{"redshifts": [0, 1], "dm_std": [NaN, 1], "pressure_std": [1, 1]}',
    '{"redshifts": [0, 1], "dm_std": [1], "pressure_std": [1, 1]}',
    '{"redshifts": "01", "dm_std": [1, 1], "pressure_std": [1, 1]}',
    '{"redshifts": [0, true], "dm_std": [1, 1], "pressure_std": [1, 1]}',
    '{"redshifts": [0, 1], "dm_std": [1, 1], "pressure_std": [1, 1], "z_offset": 0}',
])


@settings(max_examples=20, deadline=None)
@given(text=json_docs)
def test_baryon_stats_json(text):
    """The trainer's transform comes from stats.json: one line naming the file, or a usable
    transform (one positive std per redshift)."""
    from exagan_tf.baryons.simulate import read_stats
    from exagan_tf.baryons.transforms import Transform

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stats.json"
        path.write_text(text)
        before = M.digest(Path(tmp))
        try:
            transform = Transform.from_stats(read_stats(tmp), "cvae")
        except UserError as err:
            M.one_line(err, str(path))
        else:
            assert len(transform.redshifts) == len(transform.dm_std) >= 1
            assert min(transform.dm_std) > 0 and min(transform.pressure_std) > 0
        assert M.digest(Path(tmp)) == before


@settings(max_examples=15, deadline=None)
@given(text=json_docs)
def test_baryon_run_transform_json(text):
    """A damaged ``models/transform.json`` of a run: the painter answers in one line naming it
    (a valid one gets as far as the missing weight files)."""
    import yaml

    from exagan_tf.baryons import paint

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "models").mkdir()
        tags = yaml.safe_load((REPO / "experiments" / "baryons.yaml").read_text())
        (run / "config.yaml").write_text(yaml.safe_dump({**tags["cgan_test"], "g_filters": 2,
                                                         "g_res_blocks": 1}))
        (run / "models" / "transform.json").write_text(text)
        before = M.digest(run)
        with pytest.raises(UserError) as err:
            paint.load_painter(run)
        M.one_line(err.value, str(run / "models"))
        assert M.digest(run) == before


def _dm_file(path: Path, how: str) -> Path:
    import h5py

    if how == "truncated":
        np.save(path, np.ones((8, 8)))
        path.write_bytes(path.read_bytes()[:60])
    elif how == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif how == "h5_without_key":
        path = path.with_suffix(".h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("dm", data=np.ones((8, 8)))
    elif how == "text":
        path = path.with_suffix(".txt")
        path.write_text("1 2 3")
    else:
        np.save(path, {"1d": np.ones(8), "4d": np.ones((1, 1, 8, 8)), "negative": -np.ones((8, 8)),
                       "nan": np.full((8, 8), np.nan), "strings": np.full((8, 8), "x")}[how])
    return path


@pytest.mark.parametrize("how", ["truncated", "pickled", "h5_without_key", "text", "1d", "4d",
                                 "negative", "nan", "strings"])
def test_painter_dark_matter_map(tmp_path, how):
    from exagan_tf.baryons import paint

    path = _dm_file(tmp_path / "dm.npy", how)
    before = M.digest(tmp_path)
    with pytest.raises(UserError) as err:
        paint.check_dm(paint._read_map(path, None))
    M.one_line(err.value)
    assert M.digest(tmp_path) == before


@pytest.mark.parametrize("how", ["junk", "no_arrays", "wrong_dim", "nan", "empty_category"])
def test_muon_dangerous_reference(tmp_path, how):
    from exagan_tf.muons import dangerous

    path = tmp_path / "ref.npz"
    good = {"mup_prompt/x": np.zeros((3, 4)), "mup_prompt/w": np.ones(3),
            "mup_prompt/count": np.array(10), "mup_prompt/weight_sum": np.array(5.0)}
    if how == "junk":
        path.write_bytes(b"junk")
    elif how == "no_arrays":
        np.savez(path, a=np.ones(3))
    else:
        bad = {"wrong_dim": {"mup_prompt/x": np.zeros((3, 5))},
               "nan": {"mup_prompt/w": np.array([1.0, np.nan, 1.0])},
               "empty_category": {"mup_prompt/weight_sum": np.array(0.0)}}[how]
        np.savez(path, **{**good, **bad})
    before = M.digest(tmp_path)
    with pytest.raises(UserError) as err:
        dangerous.load_reference(path, "mup_prompt")
    M.one_line(err.value, str(path))
    assert M.digest(tmp_path) == before


def test_reader_audit_table_has_no_crash():
    """The closing note's table (python -m tests.hardening.reader_audit): every case answered
    with a one-line error."""
    from tests.hardening import reader_audit

    rows = reader_audit.rows()
    assert len(rows) > 80 and len({r for r, _, _ in rows}) >= 17
    bad = [row for row in rows if row[2].startswith(("CRASH", "ACCEPTED"))]
    assert not bad, bad
