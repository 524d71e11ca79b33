"""The reader audit table: every input reader of the suite run on malformed inputs, with what it
answers. ``python -m tests.hardening.reader_audit`` prints one Markdown row per case
(reader | malformed input | answer); an answer other than a one-line error is marked CRASH or
ACCEPTED. The property-based tests (test_readers.py, test_malformed_inputs.py,
test_configs_cli.py, test_safe_mode.py) try many more cases; this picks a few per reader so the
messages can be read.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import yaml

from exagan_tf.config import DCGANConfig, load_config, read_tags
from exagan_tf.errors import UserError
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]


def answer(fn: Callable[[], object]) -> str:
    """What a reader answers: its one-line error, or CRASH / ACCEPTED."""
    try:
        fn()
    except UserError as err:
        text = str(err)
        return text if "\n" not in text else f"CRASH multi-line error: {text!r}"
    except SystemExit as exc:
        return f"argparse usage error (exit {exc.code})"
    except Exception as err:  # noqa: BLE001 - a crash is what the audit looks for
        return f"CRASH {type(err).__name__}: {str(err)[:150]}"
    return "ACCEPTED"


def _configs(tmp: Path):
    exa = read_tags(REPO / "experiments" / "exagan.yaml")["test"]

    def exagan(text=None, change=None, tag="test"):
        path = tmp / f"exa{len(list(tmp.iterdir()))}.yaml"
        path.write_text(text if text is not None else
                        yaml.safe_dump({"test": {**exa, **(change or {})}}))
        return lambda: load_config(DCGANConfig, path, tag)

    reader = "ExaGAN config (config.load_config)"
    yield reader, "not YAML", exagan("test: [1, 2\n")
    yield reader, "a list, not a mapping", exagan("[1, 2]\n")
    yield reader, "unknown tag", exagan(tag="nosuch")
    yield reader, "unknown key batch_size", exagan(change={"batch_size": 4})
    yield reader, "batchsize: 'big'", exagan(change={"batchsize": "big"})
    yield reader, "precision: float16", exagan(change={"precision": "float16"})

    from exagan_tf.baryons.config import load_baryons

    cvae = read_tags(REPO / "experiments" / "baryons.yaml")["cvae_test"]

    def baryons(change):
        path = tmp / f"b{len(list(tmp.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump({"cvae_test": {**cvae, **change}}))
        return lambda: load_baryons("cvae_test", path)

    reader = "baryon config (baryons.config.load_baryons)"
    yield reader, "tile_size 48 for the CVAE", baryons({"tile_size": 48})
    yield reader, "stages [[0, 2, 1e-3]]", baryons({"stages": [[0, 2, 0.001]]})
    yield reader, "unknown key beta_kl", baryons({"beta_kl": 1.0})

    from exagan_tf.muons.config import load_muon_config

    muon_tags = read_tags(REPO / "experiments" / "muons.yaml")

    def muons(tag, change, name=None):
        path = tmp / f"m{len(list(tmp.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump({name or tag: {**muon_tags[tag], **change}}))
        return lambda: load_muon_config(name or tag, path)

    reader = "muon config (muons.config.load_muon_config)"
    yield reader, "batch 7 (odd)", muons("gan_test", {"batch": 7})
    yield reader, "tag not gan_*/vae_*", muons("gan_test", {}, "foo")
    yield reader, "category 'electrons'", muons("vae_test", {"category": "electrons"})

    from exagan_tf.gr.config import load_gr_config

    gr = read_tags(REPO / "experiments" / "gr" / "test.yaml")

    def gr_case(change):
        doc = json.loads(json.dumps(gr))
        change(doc)
        path = tmp / f"g{len(list(tmp.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return lambda: load_gr_config(path)

    reader = "GR config (gr.config.load_gr_config)"
    yield reader, "section train_params missing", gr_case(lambda d: d.pop("train_params"))
    yield reader, "dropout 1.5", gr_case(lambda d: d["model_params"].update(dropout=1.5))
    yield reader, "architecture 'ResNet'", gr_case(
        lambda d: d["model_params"].update(architecture="ResNet"))
    yield reader, "precision 'half'", gr_case(lambda d: d["train_params"].update(precision="half"))

    from exagan_tf.cmb.main import parse_args

    reader = "CMB flags (cmb.main.parse_args)"
    for case, argv in [("--noise nan", ["-i", "qu", "-o", "e", "--noise", "nan"]),
                       ("-i qx", ["-i", "qx", "-o", "e"]),
                       ("-o q repeats an input", ["-i", "qu", "-o", "q"]),
                       ("--gpus 11", ["-i", "qu", "-o", "e", "--gpus", "11"]),
                       ("--analytic-skip without E", ["-i", "qu", "-o", "e", "--analytic-skip"])]:
        yield reader, case, lambda a=argv: parse_args(a)
    tiny = read_tags(REPO / "experiments" / "cmb" / "experiments.yaml")["tiny"]
    reader = "CMB tags (cmb.main --experiment FILE:TAG)"
    for i, (case, tag) in enumerate([("unknown flag lamda", {**tiny, "lamda": 3}),
                                     ("epochs: [1, 2]", {**tiny, "epochs": [1, 2]}),
                                     ("no-adversarial: 'yes'", {**tiny, "no-adversarial": "yes"}),
                                     ("batch-size: null", {**tiny, "batch-size": None})]):
        path = tmp / f"c{i}.yaml"
        path.write_text(yaml.safe_dump({"t": tag}))
        yield reader, case, lambda p=path: parse_args(["--experiment", f"{p}:t"])
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump({"t": tiny}))
    yield reader, "unknown tag", lambda: parse_args(["--experiment", f"{path}:nosuch"])


def _shards(tmp: Path):
    from exagan_tf.cosmo import data

    def shard(name, make):
        path = tmp / f"{name}.h5"
        make(path)
        return lambda: data.check_shards([path], 16)

    def h5(name, array):
        def make(path):
            with h5py.File(path, "w") as f:
                f.create_dataset(name, data=array)
        return make

    reader = "ExaGAN shards (cosmo.data.check_shards)"
    yield reader, "random bytes", shard("rb", lambda p: p.write_bytes(b"\x00garbage"))
    yield reader, "dataset 'images', not 'data'", shard("nd", h5("images", np.zeros((2, 16, 16))))
    yield reader, "8 x 8 images for img_dim 16", shard("sz", h5("data", np.zeros((2, 8, 8))))
    yield reader, "strings", shard("st", h5("data", np.full((2, 16, 16), b"x", "S1")))


HDF5_CASES = {
    "N-body universe (cosmo.slice_universes)": [
        (None, "truncate"), ("full", "drop"), ("full", "add_axis"), ("full", "nan"),
        ("full", "value"), ("redshifts", "strings")],
    "baryon maps (baryons.data.load_tiles)": [
        (None, "text"), ("train/thin/dm", "drop"), ("train/thin/dm", "bad_side"),
        ("train/thin/dm", "value"), ("train/thick/pressure", "inf"), ("redshifts", "zero_rows")],
    "GR/Newton cubes (gr.data loaders)": [
        (None, "empty"), ("gr_seed0000", "drop"), ("gr_seed0000", "drop_axis"),
        ("newton_seed0001", "nan"), ("seeds", "strings")],
    "CMB maps (cmb.data.load_data)": [
        (None, "random_bytes"), ("maps", "rename"), ("maps", "bad_side"), ("maps", "nan"),
        ("maps", "zero_rows")],
    "muon category HDF5 (muons.preprocess.load_category)": [
        (None, "truncate"), ("features", "drop"), ("features", "add_axis"),
        ("weights", "value"), ("weights", "nan")],
}


def _hdf5(tmp: Path):
    names = dict(zip(HDF5_CASES, M.HDF5_READERS, strict=True))
    for reader, cases in HDF5_CASES.items():
        make, read, _ = M.HDF5_READERS[names[reader]]
        for key, how in cases:
            folder = tmp / f"h{len(list(tmp.iterdir()))}"
            path = make(folder)
            M.apply_damage(path, key, how)
            what = {"value": "a negative value"}.get(how, how)
            yield reader, f"{what} ({key or 'whole file'})", lambda d=folder, p=path, r=read: r(d, p)


def _side_files(tmp: Path):
    from exagan_tf.muons import dangerous, preprocess
    from tests.hardening.test_readers import _root_case

    reader = "muon ROOT files (muons.rootio via preprocess.scan_file)"
    for how, fraction in [("truncate", 0.5), ("truncate", 0.998), ("hdf5", 0), ("other_tree", 0),
                          ("missing_branch", 0), ("histogram", 0), ("px=nan", 0), ("w=-1", 0),
                          ("id=13.5", 0)]:
        path = tmp / f"r{len(list(tmp.iterdir()))}" / "muons_0000.root"
        path.parent.mkdir()
        _root_case(path, how, b"\x01garbage", fraction, 3)
        case = f"truncated to {fraction:.1%}" if how == "truncate" else how
        yield reader, case, lambda p=path: preprocess.scan_file(p)

    reader = "muon transform.json (muons.preprocess.load_transforms)"
    for case, text in [("not JSON", "{"), ("a list", "[]"), ("categories: 3", '{"categories": 3}'),
                       ("a category without its keys", '{"categories": {"mup_prompt": {"x": 1}}}')]:
        folder = tmp / f"t{len(list(tmp.iterdir()))}"
        folder.mkdir()
        (folder / "transform.json").write_text(text)
        yield reader, case, lambda d=folder: preprocess.load_transforms(d)

    from exagan_tf.baryons import paint
    from exagan_tf.baryons.simulate import read_stats
    from exagan_tf.baryons.transforms import Transform

    reader = "baryon stats.json (baryons.simulate.read_stats, training)"
    for case, text in [
        ("not JSON", "{"), ("a list", "[]"),
        ("no dm_std", '{"redshifts": [0, 1], "pressure_std": [1, 1]}'),
        ("a negative std", '{"redshifts": [0, 1], "dm_std": [-1, 1], "pressure_std": [1, 1]}'),
        ("lengths differ", '{"redshifts": [0, 1], "dm_std": [1], "pressure_std": [1, 1]}'),
    ]:
        folder = tmp / f"s{len(list(tmp.iterdir()))}"
        folder.mkdir()
        (folder / "stats.json").write_text(text)
        yield reader, case, lambda d=folder: Transform.from_stats(read_stats(d), "cvae")

    reader = "baryon run transform.json (baryons.paint.load_painter)"
    cgan = read_tags(REPO / "experiments" / "baryons.yaml")["cgan_test"]
    for case, text in [("not JSON", "{"), ("no shift", '{"redshifts": [0, 1], "dm_std": [1, 1], '
                                                       '"pressure_std": [1, 1], "z_offset": 0}')]:
        run = tmp / f"run{len(list(tmp.iterdir()))}"
        (run / "models").mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump(cgan))
        (run / "models" / "transform.json").write_text(text)
        yield reader, case, lambda r=run: paint.load_painter(r)

    reader = "baryon paint --dm map (baryons.paint)"

    def truncated(p):
        np.save(p, np.ones((8, 8)))
        p.write_bytes(p.read_bytes()[:60])

    for case, make in [("truncated .npy", truncated),
                       ("a pickled object array",
                        lambda p: np.save(p, np.array([{}], dtype=object), allow_pickle=True)),
                       ("strings", lambda p: np.save(p, np.full((8, 8), "x"))),
                       ("1-D", lambda p: np.save(p, np.ones(8))),
                       ("negative density", lambda p: np.save(p, -np.ones((8, 8))))]:
        path = tmp / f"dm{len(list(tmp.iterdir()))}.npy"
        make(path)
        yield reader, case, lambda p=path: paint.check_dm(paint._read_map(p, None))

    reader = "muon dangerous-region reference (muons.dangerous.load_reference)"
    for case, make in [("not an .npz", lambda p: p.write_bytes(b"junk")),
                       ("no category arrays", lambda p: np.savez(p, a=np.ones(3)))]:
        path = tmp / f"ref{len(list(tmp.iterdir()))}.npz"
        make(path)
        yield reader, case, lambda p=path: dangerous.load_reference(p, "mup_prompt")


def _keras(tmp: Path):
    from exagan_tf.fileio import load_model_safe
    from tests.hardening.test_safe_mode import _function_reference_model, _lambda_model

    reader = "saved Keras models (fileio.load_model_safe)"
    yield reader, "a Lambda layer (bytecode)", lambda: load_model_safe(
        _lambda_model(tmp / "l.keras"))
    yield reader, "an activation naming os.system", lambda: load_model_safe(
        _function_reference_model(tmp / "f.keras"))
    (tmp / "j.keras").write_bytes(b"PK\x03\x04junk")
    yield reader, "a damaged zip", lambda: load_model_safe(tmp / "j.keras")


def _runs(tmp: Path):
    from exagan_tf import runlock, runs
    from tests.hardening.test_yaml_bomb import BOMB

    exa = read_tags(REPO / "experiments" / "exagan.yaml")["test"]
    bomb = tmp / "bomb.yaml"
    body = yaml.safe_dump({"test": {k: v for k, v in exa.items() if k != "nconvfilters"}})
    bomb.write_text(BOMB + body + "  nconvfilters: *l10\n")
    reader = "ExaGAN config (config.load_config)"
    yield reader, "a billion-laughs alias as nconvfilters", lambda: load_config(
        DCGANConfig, bomb, "test")

    reader = "run and tag names (runs.run_path)"
    for case, tag, run in [("RUN '../../../../x'", "test", "../../../../x"),
                           ("TAG 'x/../../../../y'", "x/../../../../y", "0"),
                           ("absolute TAG '/tmp/y'", "/tmp/y", "0"), ("RUN 'a b'", "test", "a b")]:
        yield reader, case, lambda t=tag, r=run: runs.run_path(t, r, tmp / "expts")

    reader = "run directory (runs.open_run_dir)"

    def held():
        run = tmp / "held" / "run0"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("a: 1\n")
        now = __import__("time").time()
        (run / "run.lock").write_text(json.dumps(
            {"host": "node-b", "pid": 4242, "since": now - 60, "heartbeat": now - 5}))
        return lambda: runs.open_run_dir(run, {"a": 1}, "cmd", mismatch="{path}: {diff}")

    yield reader, "held by a live process on another host", held()

    def unreadable():
        import tensorflow as tf

        run = tmp / "damaged" / "run0"
        runs.open_run_dir(run, {"a": 1}, "cmd", mismatch="{path}: {diff}")
        runlock.release(run)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable([1.0] * 64)),
                                             run / "checkpoints", max_to_keep=2)
        for n in (4, 8):
            path = Path(manager.save(checkpoint_number=n) + ".data-00000-of-00001")
            path.write_bytes(b"\0" * path.stat().st_size)
        return lambda: runs.open_run_dir(run, {"a": 1}, "cmd", mismatch="{path}: {diff}")

    yield reader, "every checkpoint's .data zeroed", unreadable()


def rows() -> list[tuple[str, str, str]]:
    """(reader, malformed input, answer) of every case, temporary paths shown as <tmp>."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, group in enumerate((_configs, _shards, _hdf5, _side_files, _keras, _runs)):
            folder = Path(tmp) / f"g{i}"
            folder.mkdir()
            for reader, case, fn in group(folder):
                out.append((reader, case, answer(fn).replace(tmp, "<tmp>")))
    return out


def main() -> int:
    print("| reader | malformed input | answer |")
    print("|---|---|---|")
    for reader, case, text in rows():
        print(f"| {reader} | {case} | {text.replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
