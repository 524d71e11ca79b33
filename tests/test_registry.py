"""The registry of the five systems' tags and the `exagan` command's bad-input discipline."""

import pytest

from exagan_tf import cli, registry
from exagan_tf.errors import UserError


def _systems(tmp_path):
    (tmp_path / "a.yaml").write_text("base: {x: 1}  # the base\ndemo: {x: 2}\n")
    (tmp_path / "b.yaml").write_text("# a comment above\ncvae: {y: 1}\n")
    return (registry.System("a", "A", "a.yaml", "m"), registry.System("b", "B", "b.yaml", "m"))


def test_tags_of_every_system_with_descriptions(tmp_path):
    tags = registry.all_tags(tmp_path, _systems(tmp_path))
    assert list(tags) == ["base", "demo", "cvae"]
    assert tags["cvae"].system.name == "b" and tags["cvae"].path.name == "b.yaml"
    assert tags["base"].description == "the base"
    assert tags["cvae"].description == "a comment above"


def test_unknown_tag_lists_the_tags_of_all_systems(tmp_path):
    with pytest.raises(UserError, match=r"unknown config tag 'nope' \(known: base, demo, cvae\)"):
        registry.find_tag("nope", tmp_path, _systems(tmp_path))


def test_a_tag_in_two_files_names_both(tmp_path):
    systems = _systems(tmp_path)
    (tmp_path / "b.yaml").write_text("demo: {y: 1}\n")
    with pytest.raises(UserError, match=r"'demo' is defined in more than one file: .*a\.yaml, "
                                        r".*b\.yaml"):
        registry.all_tags(tmp_path, systems)


def test_shipped_tags_are_unique_and_cover_the_five_systems():
    tags = registry.all_tags()
    assert {t.system.name for t in tags.values()} == {"exagan", "baryons", "muons", "gr", "cmb"}
    for name, system in (("demo", "exagan"), ("cvae_demo", "baryons"), ("gan_demo", "muons"),
                         ("gr_demo", "gr"), ("tiny", "cmb")):
        assert tags[name].system.name == system


def test_list_prints_every_tag(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(registry.all_tags())
    assert any(line.split()[:2] == ["gr_demo_penguin", "gr"] for line in lines)


def _fails(capsys, argv, *needles):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("tag", ["test", "cvae_test", "gan_test", "gr_test", "tiny"])
def test_set_of_unknown_key_suggests_the_nearest(tmp_path, capsys, tag):
    key = {"test": ("batchsiz", "batchsize"), "cvae_test": ("tile_siz", "tile_size"),
           "gan_test": ("learning_rat", "learning_rate"), "gr_test": ("epoch", "train_params.epochs"),
           "tiny": ("batch-siz", "batch-size")}[tag]
    _fails(capsys, ["train", tag, "0", "--set", f"{key[0]}=3", "--expts", str(tmp_path)],
           f"--set {key[0]}", f"did you mean '{key[1]}", "")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("tag,key,value,expected", [
    ("test", "batchsize", "eight", "int"), ("cvae_test", "augment", "maybe", "bool"),
    ("gan_test", "learning_rate", "fast", "float"), ("gr_test", "lr", "x", "float"),
    ("tiny", "learning-rate", "x", "float")])
def test_set_of_wrong_type_names_key_value_and_type(tmp_path, capsys, tag, key, value, expected):
    _fails(capsys, ["train", tag, "0", "--set", f"{key}={value}", "--expts", str(tmp_path)],
           key, value, expected)
    assert not any(tmp_path.iterdir())


def test_unknown_tag_through_the_command(capsys):
    _fails(capsys, ["train", "nope", "0"], "unknown config tag 'nope'", "gr_demo", "tiny",
           "gan_demo", "cvae_demo", "base")


@pytest.mark.parametrize("tag,key,value,shown", [
    ("test", "batchsize", "4", "batchsize: 4"), ("cvae_test", "lambda_l2", "1e-3",
                                                  "lambda_l2: 0.001"),
    ("gan_test", "category", "mum_prompt", "category: mum_prompt"),
    ("gr_test", "lr", "2e-3", "lr: 0.002"), ("tiny", "batch_size", "2", "batch-size: 2")])
def test_dry_run_shows_the_override_typed(capsys, tmp_path, tag, key, value, shown):
    assert cli.main(["train", tag, "7", "--set", f"{key}={value}", "--dry-run",
                     "--expts", str(tmp_path)]) == 0
    assert shown in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
