"""Config tags route `python -m exagan_tf.train TAG RUN` to the system that owns the tag."""

import pytest

from exagan_tf import systems
from exagan_tf.errors import UserError


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)


def test_tag_found_in_its_file(tmp_path):
    _write(tmp_path, "exagan.yaml", "base: {a: 1}\ndemo: {a: 2}\n")
    _write(tmp_path, "baryons.yaml", "cvae: {b: 1}\n")
    path, train_mod, analyze_mod = systems.find_system("cvae", tmp_path)
    assert path.name == "baryons.yaml"
    assert train_mod == "exagan_tf.baryons.train"
    assert analyze_mod == "exagan_tf.baryons.evaluate"
    assert systems.find_system("demo", tmp_path)[1] == "exagan_tf.train"


def test_unknown_tag_lists_known_ones(tmp_path):
    _write(tmp_path, "exagan.yaml", "base: {a: 1}\n")
    with pytest.raises(UserError, match=r"unknown config tag 'nope' \(known: base\)"):
        systems.find_system("nope", tmp_path)


def test_tag_in_two_files_is_refused(tmp_path):
    _write(tmp_path, "exagan.yaml", "base: {a: 1}\n")
    _write(tmp_path, "baryons.yaml", "base: {b: 1}\n")
    with pytest.raises(UserError, match="more than one file"):
        systems.find_system("base", tmp_path)


def test_shipped_tags_are_unique():
    for tag in ("base", "demo", "test"):
        assert systems.find_system(tag)[1] == "exagan_tf.train"
