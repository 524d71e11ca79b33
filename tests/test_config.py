import pytest
import yaml

from exagan_tf.config import DCGANConfig, config_from_dict, config_to_dict, load_config, load_exagan
from exagan_tf.errors import UserError


def test_base_keeps_every_original_key_and_value():
    cfg = load_exagan("base")
    original = dict(
        dataname="raw",
        img_dim=128,
        noise_vect_len=64,
        nlayers=4,
        convkern=5,
        convstride=2,
        nconvfilters=(64, 128, 256, 512),
        ndeconvfilters=(256, 128, 64, 1),
        label_flip=0.01,
        batchsize=64,
        print_batch=20,
        checkpt_batch=150,
        cscale="lin",
        datascale=4.0,
        learn_rate=(2e-4, 2e-4),
        DG_update_ratio=2,
        Nepochs=200,
        datafmt="channels_first",
        multichannel=True,
    )
    for key, value in original.items():
        assert getattr(cfg, key) == value, key


def test_tags_inherit_through_anchors():
    demo, test = load_exagan("demo"), load_exagan("test")
    assert demo.datascale == 4.0 and demo.img_dim == 64
    assert test.learn_rate == (2e-4, 2e-4) and test.img_dim == 16


def write(tmp_path, doc):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    return path


def base_values():
    return config_to_dict(load_exagan("base"))


def test_unknown_key_names_key_tag_and_file(tmp_path):
    path = write(tmp_path, {"mine": {**base_values(), "noise_vect_length": 3}})
    with pytest.raises(UserError, match=r"c.yaml: tag 'mine': unknown key 'noise_vect_length'"):
        load_config(DCGANConfig, path, "mine")


def test_mistyped_case_gets_a_suggestion(tmp_path):
    values = base_values()
    values["dg_update_ratio"] = values.pop("DG_update_ratio")
    with pytest.raises(UserError, match="did you mean 'DG_update_ratio'"):
        load_config(DCGANConfig, write(tmp_path, {"t": values}), "t")


def test_unknown_tag_lists_known(tmp_path):
    with pytest.raises(UserError, match=r"unknown config tag 'nope' \(known: .*base"):
        load_exagan("nope")


def test_wrong_type_and_inconsistent_values(tmp_path):
    with pytest.raises(UserError, match="'img_dim' = 'big' is not a int"):
        load_config(DCGANConfig, write(tmp_path, {"t": {**base_values(), "img_dim": "big"}}), "t")
    with pytest.raises(UserError, match="nconvfilters has 3 entries, expected nlayers=4"):
        load_config(
            DCGANConfig, write(tmp_path, {"t": {**base_values(), "nconvfilters": [1, 2, 3]}}), "t"
        )
    with pytest.raises(UserError, match="DG_update_ratio=3 must be an even"):
        load_config(
            DCGANConfig, write(tmp_path, {"t": {**base_values(), "DG_update_ratio": 3}}), "t"
        )


def test_missing_key_and_bad_yaml(tmp_path):
    values = base_values()
    del values["img_dim"]
    with pytest.raises(UserError, match="required key 'img_dim' is missing"):
        load_config(DCGANConfig, write(tmp_path, {"t": values}), "t")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(DCGANConfig, write(tmp_path, "t: [unclosed\n"), "t")
    with pytest.raises(UserError, match="no such config file"):
        load_config(DCGANConfig, tmp_path / "absent.yaml", "t")


def test_round_trip():
    cfg = load_exagan("demo")
    assert config_from_dict(DCGANConfig, config_to_dict(cfg), "x") == cfg


def test_run_from_before_an_option_existed_resumes_at_its_default(tmp_path):
    import dataclasses

    import yaml

    from exagan_tf.config import config_to_dict, load_exagan
    from exagan_tf.errors import UserError
    from exagan_tf.runs import open_run

    cfg = load_exagan("test")
    first = open_run("test", 0, cfg, tmp_path, ["x"])
    stored = config_to_dict(cfg)
    del stored["lr_decay"], stored["precision"]  # a run made before these options existed
    (first.path / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    assert open_run("test", 0, cfg, tmp_path, ["x"]).resumed
    with pytest.raises(UserError, match="'lr_decay' was 0.0, now 0.5"):
        open_run("test", 0, dataclasses.replace(cfg, lr_decay=0.5), tmp_path, ["x"])
