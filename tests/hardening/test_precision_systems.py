"""Mixed precision and XLA in every system (baryon painting, GR, muons, CMB; the DCGAN is in
test_precision.py): one tiny training step under mixed_bfloat16 gives finite losses, float32
outputs (logits, VAE heads, decoder output) and exported models that load under safe_mode; one
tiny step with jit_compile on; LossScaleOptimizer under mixed_float16; the policy in run.json.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from exagan_tf import precision
from exagan_tf.fileio import load_model_safe, save_model_atomic, save_weights_atomic

REPO = Path(__file__).resolve().parents[2]
BF16 = precision.cpu_supports_bfloat16()
needs_bf16 = pytest.mark.skipif(
    not BF16,
    reason="this CPU has no native bfloat16 (avx512_bf16, amx_bf16 or bf16): mixed_bfloat16 "
    "is refused here",
)


@dataclasses.dataclass
class Built:
    """One system's compiled model, its networks, a one-batch dataset and what it exports."""

    model: keras.Model
    nets: dict
    data: object
    exported: dict
    optimizers: list
    cfg: object = None


def _rng():
    return np.random.default_rng(0)


def _baryons(kind: str, jit: bool = False) -> Built:
    from exagan_tf.baryons import train as btrain
    from exagan_tf.baryons.config import load_baryons

    cfg = load_baryons(f"{kind}_test")
    small = {"g_filters": 4, "g_res_blocks": 1, "tile_size": 24} if kind == "cgan" else {}
    cfg = dataclasses.replace(cfg, jit_compile=jit, **small)
    nets = btrain.build_networks(cfg, "channels_last")
    model = btrain.build_model(cfg, nets)
    rng, t = _rng(), cfg.tile_size
    if kind == "cvae":  # (x = transformed pressure, y = condition)
        data = (rng.uniform(0, 1, (2, t, t, 1)), rng.normal(size=(2, t, t, 2)))
        exported = {"decoder": nets["decoder"], "prior": nets["prior"]}
        optimizers = [model.optimizer]
    else:  # (x = condition, y = transformed pressure)
        data = (rng.normal(size=(2, t, t, 2)), rng.uniform(-1, 1, (2, t, t, 1)))
        exported = {"generator": nets["generator"]}
        optimizers = [model.d_optimizer, model.g_optimizer]
    data = tuple(a.astype("float32") for a in data)
    return Built(model, nets, tf.data.Dataset.from_tensors(data), exported, optimizers, cfg)


def _gr(jit: bool = False) -> Built:
    from exagan_tf.gr import run_controller
    from exagan_tf.gr.config import load_gr_config

    cfg = load_gr_config(REPO / "experiments" / "gr" / "test.yaml")
    cfg = dataclasses.replace(
        cfg, train_params=dataclasses.replace(cfg.train_params, jit_compile=jit)
    )
    model, optimizer = run_controller.build_classifier(cfg, (16, 16, 2), "channels_last")
    rng = _rng()
    x = rng.normal(size=(8, 16, 16, 2)).astype("float32")
    y = (np.arange(8) % 2).astype("float32")[:, None]
    data = tf.data.Dataset.from_tensors((x, y))
    return Built(model, {"classifier": model}, data, {"classifier": model}, [optimizer])


def _muons(kind: str, jit: bool = False) -> Built:
    from exagan_tf.muons import train as mtrain
    from exagan_tf.muons.config import load_muon_config

    cfg = load_muon_config(f"{kind}_test" if kind == "vae" else "gan_demo")
    small = {"node_factor_G": 0.125, "node_factor_D": 0.125} if kind == "gan" else {}
    cfg = dataclasses.replace(cfg, jit_compile=jit, **small)
    x = _rng().uniform(-1, 1, (16, 6)).astype("float32")
    if kind == "gan":
        model = mtrain.build_gan_model(cfg, 6)
        nets = {"generator": model.generator, "discriminator": model.discriminator}
        return Built(model, nets, tf.data.Dataset.from_tensors(x), {"generator": model.generator},
                     [model.d_optimizer, model.g_optimizer])
    model = mtrain.build_vae_model(cfg, 6)
    nets = {"encoder": model.encoder, "decoder": model.decoder}
    return Built(model, nets, tf.data.Dataset.from_tensors((x + 1) / 2), nets, [model.optimizer])


def _cmb(jit: bool = False) -> Built:
    from exagan_tf.cmb import main as cmb_main

    argv = ["-i", "qu", "-o", "e", "-a", "pix2pix", "--filters", "2", "--high-res-len", "0",
            "--discriminator-interval", "1"] + (["--jit-compile"] if jit else [])
    gen, disc, gan = cmb_main.build_models(cmb_main.parse_args(argv), 8)
    rng = _rng()
    data = (rng.normal(size=(2, 8, 8, 2)).astype("float32"),
            rng.normal(size=(2, 8, 8, 1)).astype("float32"))
    return Built(gan, {"generator": gen, "discriminator": disc},
                 tf.data.Dataset.from_tensors(data), {"generator": gen},
                 [gan.d_optimizer, gan.g_optimizer])


SYSTEMS = {
    "baryons_cvae": lambda jit=False: _baryons("cvae", jit),
    "baryons_cgan": lambda jit=False: _baryons("cgan", jit),
    "gr": _gr,
    "muons_gan": lambda jit=False: _muons("gan", jit),
    "muons_vae": lambda jit=False: _muons("vae", jit),
    "cmb": _cmb,
}


def _one_step(built: Built) -> dict:
    before = [np.asarray(v).copy() for v in built.model.trainable_variables]
    history = built.model.fit(built.data, epochs=1, verbose=0)
    losses = {k: v[-1] for k, v in history.history.items() if "loss" in k}
    assert losses and all(np.isfinite(v) for v in losses.values()), losses
    moved = [not np.array_equal(b, np.asarray(v))
             for b, v in zip(before, built.model.trainable_variables, strict=True)]
    assert any(moved)
    return losses


def _inputs_of(net: keras.Model, rng):
    x = [rng.normal(size=(2, *t.shape[1:])).astype("float32") for t in net.inputs]
    return x if len(x) > 1 else x[0]


@needs_bf16
@pytest.mark.parametrize("system", list(SYSTEMS))
def test_one_step_under_mixed_bfloat16(system, tmp_path):
    with precision.precision_scope("mixed_bfloat16", gpu=False, bf16_cpu=True):
        built = SYSTEMS[system]()
        for net in built.nets.values():
            precision.check_float32_outputs(net)  # logits, heads and decoder output
            compute = {layer.compute_dtype for layer in net.layers}
            assert "bfloat16" in compute  # the hidden layers do run in 16 bits
            assert all(v.dtype == "float32" for v in net.weights)  # variables stay float32
        _one_step(built)
        assert not any(isinstance(o, keras.optimizers.LossScaleOptimizer)
                       for o in built.optimizers)  # bfloat16 needs no loss scaling
        rng = _rng()
        for name, net in built.exported.items():
            path = tmp_path / f"{name}.keras"
            save_model_atomic(net, path)
            loaded = load_model_safe(path)
            x = _inputs_of(net, rng)
            want = keras.tree.flatten(net(x, training=False))
            got = keras.tree.flatten(loaded(x, training=False))
            for a, b in zip(want, got, strict=True):  # the same network, to bfloat16 round-off
                a, b = np.asarray(a), np.asarray(b)
                assert b.dtype == "float32"
                np.testing.assert_allclose(b, a, rtol=0.02, atol=0.02 * np.abs(a).max())
    if system.startswith("baryons"):
        # the painter rebuilds the networks (float32 here) and loads the run's weight files
        from exagan_tf.baryons import train as btrain

        fresh = btrain.build_networks(built.cfg, "channels_last")
        for name, net in built.nets.items():
            save_weights_atomic(net, tmp_path / f"{name}.weights.h5")
            fresh[name].load_weights(tmp_path / f"{name}.weights.h5")
            for a, b in zip(net.weights, fresh[name].weights, strict=True):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# one per system; the muon GAN (the shared GAN loop, ~12 s of XLA compilation on a loaded
# 2-core CPU) only in the slow run
@pytest.mark.parametrize("system", [
    "baryons_cgan", "gr", pytest.param("muons_gan", marks=pytest.mark.slow), "muons_vae", "cmb"])
def test_one_step_with_xla(system):
    with precision.precision_scope("float32"):
        built = SYSTEMS[system](jit=True)
        assert built.model.jit_compile is True  # Keras silently falls back when unsupported
        _one_step(built)


@pytest.mark.parametrize("system", ["baryons_cgan", "gr", "muons_gan", "muons_vae", "cmb"])
def test_mixed_float16_scales_the_loss(system):
    # a GPU-only policy, built (not trained) here by telling the resolver a GPU is present
    with precision.precision_scope("mixed_float16", gpu=True):
        built = SYSTEMS[system]()
        for net in built.nets.values():
            precision.check_float32_outputs(net)
        assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in built.optimizers)
    with precision.precision_scope("float32"):
        built = SYSTEMS[system]()
        assert not any(isinstance(o, keras.optimizers.LossScaleOptimizer)
                       for o in built.optimizers)


def test_config_defaults_are_the_originals():
    from exagan_tf.baryons.config import load_baryons
    from exagan_tf.cmb.main import parse_args
    from exagan_tf.gr.config import load_gr_config
    from exagan_tf.muons.config import load_muon_config

    for cfg in (load_baryons("cvae"), load_baryons("cgan"), load_muon_config("gan_base"),
                load_muon_config("vae_base"),
                load_gr_config(REPO / "experiments" / "gr" / "temp.yaml").train_params):
        assert (cfg.precision, cfg.jit_compile) == ("float32", False)
    args = parse_args(["-i", "qu", "-o", "e"])
    assert (args.precision, args.jit_compile) == ("float32", False)


@needs_bf16
def test_gr_run_records_the_policy(tmp_path):
    """The GR run controller end to end under mixed_bfloat16: run.json and config.yaml name the
    policy, the exported classifier loads under safe_mode with a float32 logit, and the log
    shows progress and time left within the epoch."""
    from exagan_tf.gr import run_controller
    from exagan_tf.gr.simulate import PairOptions, write_dataset

    data = tmp_path / "tiny.h5"
    write_dataset(data, range(6), PairOptions(ngrid=16, nsteps=6, amplification=1.0e4))
    cfg = yaml.safe_load((REPO / "experiments" / "gr" / "test.yaml").read_text())
    cfg["data_params"]["datafile"] = str(data)
    cfg["train_params"].update(log_dir=str(tmp_path / "runs"), steps_per_epoch=2,
                               precision="mixed_bfloat16")
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with precision.precision_scope("float32"):  # the run sets the global policy
        assert run_controller.main([str(path), "--no-evaluate"]) == 0
        run = tmp_path / "runs" / cfg["model_params"]["name"]
        meta = json.loads((run / "run.json").read_text())
        assert (meta["precision"], meta["jit_compile"]) == ("mixed_bfloat16", False)
        stored = yaml.safe_load((run / "config.yaml").read_text())
        assert stored["train_params"]["precision"] == "mixed_bfloat16"
        model = load_model_safe(run / "models" / "model_epoch1.keras")
        precision.check_float32_outputs(model)
        assert model.get_layer("logit").dtype_policy.name == "float32"
        # progress within the epoch: step, speed and time left (ten lines per epoch at most)
        log = (run / "train.log").read_text()
        assert "step 1/2 " in log and "step 2/2 " in log and "| left 00:00:" in log, log
