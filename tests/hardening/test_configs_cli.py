"""Every system's YAML config loader and the CMB command line, fed malformed values: a one-line
UserError naming the file (or flag) and the key, or a config that passes its own validation;
never a crash (TypeError, KeyError, ...) and never a file written."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exagan_tf.config import read_tags
from exagan_tf.errors import UserError
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=2),
    max_leaves=6,
)


def _load_baryons(path: Path, tags: dict):
    from exagan_tf.baryons.config import load_baryons

    return load_baryons("cgan_test", path)


def _load_muons(path: Path, tags: dict):
    from exagan_tf.muons.config import load_muon_config

    return load_muon_config("gan_test", path)


def _load_gr(path: Path, tags: dict):
    from exagan_tf.gr.config import load_gr_config

    return load_gr_config(path)


def _baryon_tags():
    return {"cgan_test": read_tags(REPO / "experiments" / "baryons.yaml")["cgan_test"]}


def _muon_tags():
    return {"gan_test": read_tags(REPO / "experiments" / "muons.yaml")["gan_test"]}


def _gr_tags():
    return read_tags(REPO / "experiments" / "gr" / "test.yaml")


#: system -> (valid tags, loader); the key changed lives in the first (for GR: any) section
LOADERS = {"baryons": (_baryon_tags, _load_baryons), "muons": (_muon_tags, _load_muons),
           "gr": (_gr_tags, _load_gr)}


def _keys(system: str) -> list[tuple[str, str]]:
    tags = LOADERS[system][0]()
    return [(tag, key) for tag, section in tags.items() for key in section]


@SETTINGS
@given(system=st.sampled_from(sorted(LOADERS)), text=st.text(max_size=200))
@example(system="gr", text="model_params: [1, 2]")
@example(system="baryons", text="cgan_test: 3")
def test_arbitrary_text_as_a_config_file(system, text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.yaml"
        path.write_text(text)
        before = M.digest(Path(tmp))
        with pytest.raises(UserError) as err:
            LOADERS[system][1](path, None)
        M.one_line(err.value, str(path))
        assert M.digest(Path(tmp)) == before


@SETTINGS
@given(data=st.data(), system=st.sampled_from(sorted(LOADERS)), value=values)
def test_any_value_for_a_known_key(data, system, value):
    tags = LOADERS[system][0]()
    tag, key = data.draw(st.sampled_from(_keys(system)))
    tags[tag] = {**tags[tag], key: value}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.yaml"
        path.write_text(yaml.safe_dump(tags))
        try:
            cfg = LOADERS[system][1](path, tags)
        except UserError as err:
            M.one_line(err, str(path))
        else:
            assert cfg is not None


@SETTINGS
@given(system=st.sampled_from(sorted(LOADERS)), key=st.text(min_size=1, max_size=10),
       value=values)
def test_unknown_keys_are_named(system, key, value):
    tags = LOADERS[system][0]()
    tag = next(iter(tags))
    if key in tags[tag]:
        return
    tags[tag] = {**tags[tag], key: value}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.yaml"
        path.write_text(yaml.safe_dump(tags))
        with pytest.raises(UserError) as err:
            LOADERS[system][1](path, tags)
        M.one_line(err.value, str(path))


# ---------------------------------------------------------------------------------------------
# CMB command line (python -m exagan_tf.cmb.main): flags and --experiment FILE:TAG values

FLOAT_FLAGS = ("--noise", "--ndeg", "--validation-split", "--generator-dropout-ratio",
               "--discriminator-dropout-ratio", "--lambda", "--spectra-weight",
               "--learning-rate")
INT_FLAGS = ("--seed", "--high-res-len", "--epochs", "--discriminator-interval", "--filters",
             "--batch-size", "--max-maps")
TEXT_FLAGS = ("--inputs", "--outputs", "--noise-channels", "--gpus", "--architecture")

flag_values = (st.floats(allow_nan=True, allow_infinity=True).map(repr)
               | st.integers(-10**4, 10**4).map(str) | st.text(max_size=6)
               | st.sampled_from(["nan", "inf", "-inf", "-0", "1e400", "", "qu", "12"]))


def _sane(args) -> None:
    """What a parsed command line must satisfy for training to start."""
    for name in ("noise", "ndeg", "validation_split", "generator_dropout_ratio",
                 "discriminator_dropout_ratio", "lambda_", "spectra_weight", "learning_rate"):
        assert math.isfinite(getattr(args, name)) and getattr(args, name) >= 0, name
    assert args.ndeg > 0 and args.learning_rate > 0 and 0 < args.validation_split < 1
    for name in ("epochs", "discriminator_interval", "filters", "batch_size"):
        assert isinstance(getattr(args, name), int) and getattr(args, name) >= 1, name
    assert args.seed >= 0 and args.high_res_len >= 0
    assert not set(args.inputs) & set(args.outputs)


def _parse(argv):
    """parse_args; argparse's own usage errors (exit 2, 'error: argument ...') count as refused."""
    from exagan_tf.cmb.main import parse_args

    try:
        return parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2
        return None


@settings(max_examples=40, deadline=None)
@given(flag=st.sampled_from(FLOAT_FLAGS + INT_FLAGS + TEXT_FLAGS), value=flag_values)
@example(flag="--noise", value="nan")
@example(flag="--learning-rate", value="-1")
@example(flag="--ndeg", value="inf")
@example(flag="--seed", value="-3")
def test_cmb_flags(flag, value):
    base = {"--inputs": "qu", "--outputs": "e"}
    base[flag] = value
    argv = [f"{k}={v}" for k, v in base.items()]
    try:
        args = _parse(argv)
    except UserError as err:
        M.one_line(err)
        return
    if args is not None:
        _sane(args)


@settings(max_examples=30, deadline=None)
@given(key=st.sampled_from(sorted(read_tags(REPO / "experiments" / "cmb" /
                                            "experiments.yaml")["tiny"])), value=values)
@example(key="batch-size", value=None)  # null for a flag whose default is a number
def test_cmb_experiment_tag_values(key, value):
    path = REPO / "experiments" / "cmb" / "experiments.yaml"
    tiny = dict(read_tags(path)["tiny"])
    tiny[key] = value
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "exp.yaml"
        file.write_text(yaml.safe_dump({"t": tiny}))
        try:
            args = _parse(["--experiment", f"{file}:t"])
        except UserError as err:
            M.one_line(err)
            return
        if args is not None:
            _sane(args)
