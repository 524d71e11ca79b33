"""Every network the suite saves loads back with ``safe_mode=True`` (same outputs), and every
loader of ``.keras`` files refuses a file that carries code with a one-line UserError."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from exagan_tf.config import DCGANConfig, build_config, read_tags
from exagan_tf.errors import UserError
from exagan_tf.fileio import save_model_atomic
from tests.hardening import malformed as M

REPO = Path(__file__).resolve().parents[2]


def _networks() -> dict:
    """One small instance of every saved network of the five systems."""
    from exagan_tf.baryons import cgan, cvae
    from exagan_tf.cmb import discriminators, generators
    from exagan_tf.cosmo import dcgan
    from exagan_tf.gr import architectures
    from exagan_tf.muons import models

    cfg = build_config(DCGANConfig, read_tags(REPO / "experiments" / "exagan.yaml")["test"],
                       "test", "exagan.yaml")
    vae = cvae.build_cvae(32)
    gan = cgan.build_cgan(32)
    return {
        "dcgan_generator": dcgan.build_generator(cfg, "channels_last"),
        "dcgan_discriminator": dcgan.build_discriminator(cfg, "channels_last"),
        "baryon_cvae_encoder": vae.encoder,
        "baryon_cvae_decoder": vae.decoder,
        "baryon_cvae_prior": vae.prior,
        "baryon_cgan_generator": gan.generator,
        "baryon_cgan_discriminator": gan.discriminator,
        "gr_racoon": architectures.build_model("RACOON", (16, 16, 1), 1, 0.5),
        "gr_penguin": architectures.build_model("PENGUIN", (16, 16, 1), 1, 0.5),
        "cmb_pix2pix": generators.build_generator("pix2pix", 16, 2, 1, filters=4),
        "cmb_astroencoder": generators.build_generator("astroencoder", 16, 2, 1, filters=4),
        "cmb_patchgan": discriminators.patchgan_discriminator(16, 2, 1, filters=4),
        "muon_generator": models.build_generator(4, 0.25),
        "muon_discriminator": models.build_discriminator(4, 0.25),
        "muon_encoder": models.build_encoder(4, 8),
        "muon_decoder": models.build_decoder(4, 8),
    }


def _inputs(model, rng):
    shapes = [tuple(1 if d is None else d for d in t.shape) for t in model.inputs]
    arrays = [rng.uniform(0.0, 1.0, (2, *s[1:])).astype("float32") for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def test_every_saved_network_loads_in_safe_mode(tmp_path):
    rng = np.random.default_rng(0)
    for name, net in _networks().items():
        path = tmp_path / f"{name}.keras"
        save_model_atomic(net, path)
        back = keras.saving.load_model(path, safe_mode=True)
        assert len(back.weights) == len(net.weights), name
        for w, v in zip(net.weights, back.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(w), np.asarray(v), err_msg=name)
        x = _inputs(net, rng)
        a, again = net(x, training=False), net(x, training=False)
        b = back(x, training=False)
        for u, u2, v in zip(keras.tree.flatten(a), keras.tree.flatten(again),
                            keras.tree.flatten(b), strict=True):
            # pix2pix keeps dropout on at inference (as the original): compare within its noise
            noise = float(np.max(np.abs(np.asarray(u) - np.asarray(u2))))
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5,
                                       atol=1e-6 + 4 * noise, err_msg=name)


def _lambda_model(path: Path) -> Path:
    """A .keras file whose Lambda layer holds Python bytecode (runs code when loaded)."""
    x = keras.Input((4,))
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0)(x)).save(path)
    return path


def _function_reference_model(path: Path) -> Path:
    """A .keras file whose activation names an arbitrary function (os.system)."""
    plain = path.with_suffix(".plain.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(plain)
    with zipfile.ZipFile(plain) as z:
        blobs = {n: z.read(n) for n in z.namelist()}
    cfg = json.loads(blobs["config.json"])
    cfg["config"]["layers"][1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system",
        "registered_name": "function"}
    blobs["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in blobs.items():
            z.writestr(n, b)
    plain.unlink()
    return path


def _loaders():
    from exagan_tf.fileio import load_model_safe

    # the one loader that gr.evaluate, cmb.evaluate and muons.train use for .keras files
    return {"fileio.load_model_safe": load_model_safe}


@pytest.mark.parametrize("make,needle", [
    (_lambda_model, "safe_mode"), (_function_reference_model, "safe_mode"),
    (lambda p: (p.write_bytes(b"PK\x03\x04junk"), p)[1], "not a .keras (zip) model file")])
def test_model_files_carrying_code_are_refused(tmp_path, make, needle):
    path = make(tmp_path / "evil.keras")
    before = M.digest(tmp_path)
    for name, load in _loaders().items():
        with pytest.raises(UserError) as err:
            load(path)
        assert needle in M.one_line(err.value, str(path)), name
    assert M.digest(tmp_path) == before


def test_gr_evaluate_cli_refuses_a_lambda_model(tmp_path, capsys):
    """End to end through the GR evaluate command: its latest model is a Lambda model."""
    import yaml

    from exagan_tf.gr import evaluate

    cfg = yaml.safe_load((REPO / "experiments" / "gr" / "test.yaml").read_text())
    cfg["data_params"]["datafile"] = str(M.make_gr_file(tmp_path / "gr.h5", seeds=range(6)))
    cfg["train_params"]["log_dir"] = str(tmp_path / "runs")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    models = tmp_path / "runs" / cfg["model_params"]["name"] / "models"
    models.mkdir(parents=True)
    _lambda_model(models / "model_epoch1.keras")
    with pytest.raises(SystemExit) as exc:
        evaluate.main([str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Lambda" in err, err
