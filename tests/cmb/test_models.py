"""Every model switch of the original command line reaches the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from exagan_tf.cmb.generators import build_generator
from exagan_tf.cmb.losses import SpectraLoss
from exagan_tf.cmb.main import build_models, parse_args

BASE = ["-i", "qu", "-o", "e", "--filters", "4", "--high-res-len", "1"]


def models(*flags, npix=16):
    return build_models(parse_args([*BASE, *flags]), npix)


def kinds(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def convs(model):
    return kinds(model, keras.layers.Conv2D) + kinds(model, keras.layers.Conv2DTranspose)


def test_original_defaults():
    args = parse_args(["-i", "qu", "-o", "e"])
    assert (args.seed, args.validation_split, args.lambda_, args.discriminator_interval) == (
        483, 0.2, 100.0, 20)
    assert (args.architecture, args.epochs, args.high_res_len, args.noise) == (
        "pix2pix", 100, 2, 0.0)
    assert (args.generator_dropout_ratio, args.discriminator_dropout_ratio) == (0.5, 0.5)
    assert (args.data_dir, args.output_dir, args.noise_channels, args.ndeg) == (
        "./data/", "./results", "qu", 5.0)
    assert args.spectra_weight == 0.0 and args.gpus is None
    short = parse_args(["-i", "qu", "-o", "k", "-a", "astroencoder", "-vs", "0.3", "-gdrop",
                        "0.1", "-ddrop", "0.2", "-e", "7"])
    assert (short.architecture, short.validation_split, short.epochs) == ("astroencoder", 0.3, 7)
    assert (short.generator_dropout_ratio, short.discriminator_dropout_ratio) == (0.1, 0.2)


@pytest.mark.parametrize("arch", ["pix2pix", "astroencoder"])
def test_skip_residual_bias_dropout_and_stem_switches(arch):
    g, d, _ = models("-a", arch)
    g2, d2, _ = models("-a", arch, "--no-skip-connections", "--no-residuals",
                       "--no-generator-use-bias", "--no-discriminator-use-bias", "-gdrop", "0.3",
                       "-ddrop", "0.7", "--high-res-len", "3")
    assert len(kinds(g, keras.layers.Concatenate)) >= 2
    assert kinds(g2, keras.layers.Concatenate) == []
    assert len(kinds(g, keras.layers.Add)) >= 1
    assert kinds(g2, keras.layers.Add) == []
    assert all(layer.use_bias for layer in convs(g)) and all(layer.use_bias for layer in convs(d))
    assert not any(layer.use_bias for layer in convs(g2))
    assert not any(layer.use_bias for layer in convs(d2))
    assert {layer.rate for layer in kinds(g, keras.layers.Dropout)} == {0.5}
    assert {layer.rate for layer in kinds(g2, keras.layers.Dropout)} == {0.3}
    assert {layer.rate for layer in kinds(d2, keras.layers.Dropout)} == {0.7}
    stem = [layer for layer in g2.layers if layer.name.startswith("highres_") and
            layer.name.endswith("_conv")]
    assert len(stem) == 3
    kernel = 5 if arch == "astroencoder" else 4
    assert {layer.kernel_size for layer in convs(g) if layer.name != "maps_out"
            and not layer.name.endswith("shortcut")} == {(kernel, kernel)}


def test_unet_reaches_one_pixel_and_patchgan_gives_patches():
    g, d, _ = models("-a", "pix2pix", npix=32)
    assert g.get_layer("down4_conv").output.shape[1:3] == (1, 1)
    assert d.output.shape[1:] == (2, 2, 1)
    x = np.zeros((2, 32, 32, 2), "float32")
    assert g(x).shape == (2, 32, 32, 1)


def test_gan_switches():
    _, d, gan = models("--lambda", "10", "--discriminator-interval", "5", "--spectra-weight", "2")
    assert gan.l1_weight == 10.0 and gan.d_interval == 5 and gan.adversarial
    assert isinstance(gan.extra_loss, SpectraLoss) and gan.extra_weight == 2.0
    _, d, gan = models("--no-adversarial")
    assert d is None and not gan.adversarial and gan.extra_loss is None


@pytest.mark.parametrize("arch", ["pix2pix", "astroencoder"])
def test_generator_saves_and_loads_safely(tmp_path, arch):
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 2)).astype("float32")
    g = build_generator(arch, 16, 2, 1, filters=4, high_res_len=1, dropout=0.0)
    g.save(tmp_path / "g.keras")
    g2 = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    assert np.allclose(g(x, training=False), g2(x, training=False), atol=1e-6)
    # dropout stays on at inference (pix2pix's test-time noise), and survives saving
    g = build_generator(arch, 16, 2, 1, filters=4, high_res_len=1, dropout=0.5)
    assert not np.allclose(g(x, training=False), g(x, training=False))
    g.save(tmp_path / "g2.keras")
    g3 = keras.saving.load_model(tmp_path / "g2.keras", safe_mode=True)
    assert {type(la).__name__ for la in kinds(g3, keras.layers.Dropout)} == {"TestTimeDropout"}


@pytest.mark.parametrize("arch", ["pix2pix", "astroencoder"])
def test_analytic_skip_starts_at_the_analytic_maps_and_saves(tmp_path, arch):
    from exagan_tf.cmb.main import analytic_skips

    # e <- E (input 2) scaled 2/4 = 0.5; b <- B (input 3) scaled 3/6; k gets no skip
    scales = {"q": 1.0, "u": 1.0, "E": 2.0, "B": 3.0, "e": 4.0, "k": 1.0, "b": 6.0}
    assert analytic_skips("quEB", "ekb", scales) == [(2, 0, 0.5), (3, 2, 0.5)]
    assert analytic_skips("qu", "e") == []
    args = parse_args(["-i", "quEB", "-o", "ekb", "-a", arch, "--filters", "4",
                       "--high-res-len", "1", "--analytic-skip"])
    g, _, _ = build_models(args, 16, scales=scales)
    x = np.random.default_rng(1).standard_normal((3, 16, 16, 4)).astype("float32")
    y = keras.ops.convert_to_numpy(g(x, training=False))
    # the output convolution starts at zero: the untrained model is the analytic baseline
    assert np.allclose(y[..., 0], 0.5 * x[..., 2], atol=1e-6)
    assert np.allclose(y[..., 1], 0.0, atol=1e-6)
    assert np.allclose(y[..., 2], 0.5 * x[..., 3], atol=1e-6)
    g.save(tmp_path / "g.keras")
    g2 = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    assert np.allclose(keras.ops.convert_to_numpy(g2(x, training=False)), y, atol=1e-6)
    # without the switch the output convolution starts random and nothing is added
    plain, _, _ = build_models(parse_args(["-i", "quEB", "-o", "ekb", "-a", arch, "--filters",
                                           "4", "--high-res-len", "1"]), 16)
    assert "analytic_skip" not in [layer.name for layer in plain.layers]
    assert not np.allclose(keras.ops.convert_to_numpy(plain(x, training=False))[..., 1], 0.0)


def test_analytic_skip_needs_the_analytic_input(capsys):
    from exagan_tf.cmb.main import main

    with pytest.raises(SystemExit) as exc:
        main(["-i", "qu", "-o", "e", "--analytic-skip"])
    assert exc.value.code == 2
    assert "--analytic-skip: no output of 'e'" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["pix2pix", "astroencoder"])
def test_kappa_stage_feeds_its_kappa_to_the_map_stage(tmp_path, arch):
    args = parse_args(["-i", "quEB", "-o", "ke", "-a", arch, "--filters", "4",
                       "--high-res-len", "1", "--analytic-skip", "--kappa-stage", "-gdrop", "0"])
    scales = {"q": 1.0, "u": 1.0, "E": 3.0, "B": 1.0, "e": 2.0, "k": 1.0}
    g, _, _ = build_models(args, 16, scales=scales)
    first, second = g.get_layer("kappa_stage"), g.get_layer("map_stage")
    assert first.inputs[0].shape[-1] == 4 and first.outputs[0].shape[-1] == 1
    assert second.inputs[0].shape[-1] == 5 and second.outputs[0].shape[-1] == 1
    x = np.random.default_rng(2).standard_normal((2, 16, 16, 4)).astype("float32")
    y = keras.ops.convert_to_numpy(g(x, training=False))
    k = keras.ops.convert_to_numpy(first(x, training=False))
    assert np.allclose(y[..., 0], k[..., 0])  # kappa first, as in -o ke
    assert np.allclose(y[..., 1], 1.5 * x[..., 2], atol=1e-6)  # e starts at the analytic E
    # the map stage sees the kappa estimate: changing it changes e once trained weights move
    w = second.get_layer("maps_out").kernel
    w.assign(np.full(w.shape, 0.1, "float32"))
    y2 = keras.ops.convert_to_numpy(second(np.concatenate([x, k], -1), training=False))
    y3 = keras.ops.convert_to_numpy(second(np.concatenate([x, k + 1.0], -1), training=False))
    assert not np.allclose(y2, y3)
    g.save(tmp_path / "g.keras")
    g2 = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    assert np.allclose(keras.ops.convert_to_numpy(g2(x, training=False)),
                       keras.ops.convert_to_numpy(g(x, training=False)), atol=1e-6)


@pytest.mark.parametrize("outputs", ["e", "eb"])
def test_kappa_stage_needs_kappa_and_another_output(outputs, capsys):
    from exagan_tf.cmb.main import main

    with pytest.raises(SystemExit) as exc:
        main(["-i", "qu", "-o", outputs, "--kappa-stage"])
    assert exc.value.code == 2
    assert "--kappa-stage: -o" in capsys.readouterr().err


def test_mse_loss_replaces_l1_and_keeps_the_spectral_term():
    import tensorflow as tf

    from exagan_tf.cmb.losses import WeightedSum

    _, _, gan = models("--loss", "mse", "--lambda", "10", "--spectra-weight", "2")
    assert gan.l1_weight == 0.0 and gan.extra_weight == 1.0
    assert isinstance(gan.extra_loss, WeightedSum)
    y = tf.zeros((2, 16, 16, 1))
    p = tf.fill((2, 16, 16, 1), 3.0)
    spectra = SpectraLoss(16)(None, y + 1.0, p)
    assert np.isclose(float(gan.extra_loss(None, y + 1.0, p)), 10 * 4.0 + 2 * float(spectra),
                      rtol=1e-5)
    _, _, gan = models("--loss", "mse", "--lambda", "10")
    assert np.isclose(float(gan.extra_loss(None, y, p)), 90.0)
    _, _, gan = models()
    assert gan.l1_weight == 100.0 and gan.extra_loss is None
