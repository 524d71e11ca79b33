"""A loss that becomes NaN stops every model family's training with a clear one-line message,
and the latest checkpoint is still the last good one (finite weights, saved before the NaN).

The NaN is injected where it would come from in practice: the training batches turn to NaN after
``N`` optimizer steps (patched ``train_step``), so gradients, weights and losses all go bad.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from exagan_tf.errors import UserError
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]


def _poison_after(monkeypatch, cls, n: int, method: str = "train_step") -> None:
    """Batches become NaN once the model has done ``n`` steps (``method(self, data, ...)`` is
    the step; ConditionalGAN's is ``_train_step``, called by both of its compiled steps)."""
    original = getattr(cls, method)

    def train_step(self, data, *args, **kwargs):
        step = self.step if hasattr(self, "step") else self.optimizer.iterations
        bad = tf.cast(step, tf.int64) >= n
        data = tf.nest.map_structure(
            lambda t: t * tf.cast(tf.where(bad, np.nan, 1.0), t.dtype)
            if t.dtype.is_floating else t, data)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(cls, method, train_step)


def _check_last_good(checkpoints: Path, expected: int) -> None:
    latest = tf.train.latest_checkpoint(str(checkpoints))
    assert latest is not None and latest.endswith(f"-{expected}"), latest
    reader = tf.train.load_checkpoint(latest)
    values = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
              if "VARIABLE_VALUE" in k]
    floats = [v for v in values if np.asarray(v).dtype.kind == "f"]
    assert floats and all(np.all(np.isfinite(v)) for v in floats)


def _stopped(capsys, main, argv, *needles) -> str:
    """Run a CLI main: exit 2 with one line 'error: ... training stopped, ... nan ...'."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ")
    return M.one_line(UserError(err), "training stopped", "nan", *needles)


def test_gr_classifier(tmp_path, monkeypatch, capsys):
    import keras

    from exagan_tf.gr import run_controller

    data = M.make_gr_file(tmp_path / "gr.h5", seeds=range(6), n=16)
    cfg = yaml.safe_load((REPO / "experiments" / "gr" / "test.yaml").read_text())
    cfg["data_params"]["datafile"] = str(data)
    cfg["train_params"].update(log_dir=str(tmp_path / "runs"), epochs=2, steps_per_epoch=2)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    _poison_after(monkeypatch, keras.Model, 2)  # epoch 1 good, epoch 2 NaN
    _stopped(capsys, run_controller.main, [str(path), "--no-evaluate"], "epoch 1")
    run = next((tmp_path / "runs").rglob("checkpoints"))
    _check_last_good(run, 1)
    assert not list(run.parent.rglob("*.keras"))  # no final model from NaN weights


def test_muon_gan_and_vae(tmp_path, monkeypatch, capsys):
    from exagan_tf.core.gan import GAN
    from exagan_tf.core.vae import VAE
    from exagan_tf.muons import preprocess, simulate, train

    simulate.write_production(tmp_path / "prod", 1, 1500, seed=7, progress=False)
    preprocess.preprocess([tmp_path / "prod"], tmp_path / "mu", progress=False)
    _poison_after(monkeypatch, GAN, 5)
    _poison_after(monkeypatch, VAE, 5)
    for kind in ("gan", "vae"):
        argv = [kind, f"{kind}_test", "0", "--category", "1", "--datadir", str(tmp_path / "mu"),
                "--expts", str(tmp_path / "expts"), "--steps", "8"]
        _stopped(capsys, train.main, argv)
        run = next((tmp_path / "expts").glob(f"muon_{kind}_test/run0_*"))
        _check_last_good(run / "checkpoints", 4)


@pytest.mark.slow
def test_cmb_conditional_gan(tmp_path, monkeypatch, capsys):
    from exagan_tf.cmb.main import main
    from exagan_tf.core.cgan import ConditionalGAN

    M.make_cmb_file(tmp_path / "data", n=24, npix=16, ndeg=1.25)
    monkeypatch.chdir(REPO)
    argv = ["--experiment", "experiments/cmb/experiments.yaml:tiny", "--data-dir",
            str(tmp_path / "data"), "--output-dir", str(tmp_path / "out"), "--ndeg", "1.25",
            "-vs", "0.25", "--epochs", "2"]
    _poison_after(monkeypatch, ConditionalGAN, 4, "_train_step")  # epoch 1 = 4 steps
    _stopped(capsys, main, argv)
    run = next((tmp_path / "out").iterdir())
    _check_last_good(run / "checkpoints", 4)


@pytest.mark.parametrize("tag,n_good", [pytest.param("cvae_test", 4, marks=pytest.mark.slow),
                                         ("cgan_test", 4)])
def test_baryon_cvae_and_cgan(tmp_path, monkeypatch, capsys, tag, n_good):
    from exagan_tf.baryons import simulate, train
    from exagan_tf.core.cgan import ConditionalGAN
    from exagan_tf.core.vae import VAE

    tiny = {"npart": 16, "box_size": 64.0, "npix": 32, "n_sheets": 6, "nsteps": 12,
            "redshifts": (0.0, 1.0, 2.0)}
    universes = {split: simulate.simulate_maps(seed=i, method="eh", **tiny)
                 for i, split in enumerate(simulate.SPLITS)}
    simulate.write_maps(tmp_path / "data", universes,
                        {"box_size_mpc_h": 64.0, "npix": 32, "pixel_mpc_h": 2.0, "npart": 16},
                        tiny["redshifts"])
    tags = yaml.safe_load((REPO / "experiments" / "baryons.yaml").read_text())
    cfg = {**tags[tag], "datadir": str(tmp_path / "data")}
    path = tmp_path / "baryons.yaml"
    path.write_text(yaml.safe_dump({tag: cfg}))
    _poison_after(monkeypatch, VAE, n_good + 1)
    _poison_after(monkeypatch, ConditionalGAN, n_good + 1, "_train_step")
    _stopped(capsys, train.main, [tag, "0", "--config-file", str(path), "--expts",
                                   str(tmp_path / "expts"), "--max-steps", str(3 * n_good)])
    _check_last_good(tmp_path / "expts" / tag / "run0" / "checkpoints", n_good)
