"""The networks against the original's tables, a few training steps, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from exagan_tf.baryons import cgan, cvae
from exagan_tf.errors import UserError


def _n_params(*models):
    return sum(int(np.prod(v.shape)) for m in models for v in m.trainable_variables)


def _layers(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def test_cvae_shapes_and_parameter_count_at_512():
    enc, dec, pri = cvae.build_encoder(512), cvae.build_decoder(512), cvae.build_prior(512)
    assert [tuple(o.shape) for o in enc.outputs] == [(None, 16, 16, 1)] * 2
    assert [tuple(o.shape) for o in pri.outputs] == [(None, 16, 16, 1)] * 2
    assert tuple(dec.inputs[0].shape) == (None, 16, 16, 1)
    assert tuple(dec.outputs[0].shape) == (None, 512, 512, 1)
    # by hand from the tables: convs 1,659,857 + batch norm 3,102 + 2 PReLU slopes ("1.66M")
    assert _n_params(enc, dec, pri) == 1_662_961
    convs = [lay for m in (enc, dec, pri) for lay in m.layers
             if isinstance(lay, keras.layers.Conv2D)]
    assert all(not lay.use_bias for lay in convs)
    # generator latent branch: x2 (k4), x4 (k8), x4 (k8) transposed convs, 1 channel
    ups = [dec.get_layer(f"g_z{i}") for i in range(3)]
    assert [(u.kernel_size[0], u.strides[0], u.filters) for u in ups] == [(4, 2, 1), (8, 4, 1),
                                                                          (8, 4, 1)]
    assert len(_layers(dec, keras.layers.Add)) == 4
    assert len(_layers(dec, keras.layers.PReLU)) == 2


def test_cvae_channels_first_and_bad_tiles():
    dec = cvae.build_decoder(64, "channels_first")
    assert tuple(dec.outputs[0].shape) == (None, 1, 64, 64)
    with pytest.raises(UserError, match="multiple of 32"):
        cvae.build_encoder(48)


def test_cgan_tables():
    g = cgan.build_generator(512)
    d = cgan.build_discriminator(512)
    assert tuple(g.outputs[0].shape) == (None, 512, 512, 1)
    assert tuple(d.outputs[0].shape) == (None, 62, 62, 1)  # PyTorch arithmetic, padding 1
    assert cgan.discriminator_patch_size(512) == 62
    sn = _layers(d, keras.layers.SpectralNormalization)
    assert [lay.layer.filters for lay in sn] == [64, 128, 256, 512, 1]
    assert [lay.layer.strides[0] for lay in sn] == [2, 2, 2, 1, 1]
    assert [lay.layer.use_bias for lay in sn] == [True, False, False, False, True]
    assert not _layers(g, keras.layers.SpectralNormalization)
    assert len(_layers(g, keras.layers.Add)) == 9
    assert g.get_layer("g_in").kernel_size == (9, 9) and not g.get_layer("g_in").use_bias
    assert g.get_layer("g_down0").use_bias and g.get_layer("g_down0").strides == (2, 2)
    g_sn = cgan.build_generator(32, spectral_norm=True)
    assert len(_layers(g_sn, keras.layers.SpectralNormalization)) == 1 + 2 + 18 + 2 + 1


def test_cgan_initialisation():
    keras.utils.set_random_seed(0)
    g = cgan.build_generator(32)
    k_last = np.asarray(g.get_layer("g_out").kernel)
    fan_in, fan_out = 9 * 9 * 32, 9 * 9 * 1
    assert k_last.std() == pytest.approx(0.25 * np.sqrt(2 / (fan_in + fan_out)), rel=0.1)
    k_first = np.asarray(g.get_layer("g_in").kernel)
    assert k_first.std() == pytest.approx(np.sqrt(2 / (9 * 9 * 2)), rel=0.1)


def test_cgan_tile_checks():
    with pytest.raises(UserError, match="at least 24"):
        cgan.build_discriminator(16)


def test_saved_networks_load_in_safe_mode(tmp_path):
    for net in (cvae.build_prior(32), cvae.build_decoder(32), cgan.build_generator(32)):
        path = tmp_path / f"{net.name}.keras"
        net.save(path)
        again = keras.saving.load_model(path, safe_mode=True)
        x = [np.ones((1, *i.shape[1:]), "float32") for i in net.inputs]
        a, b = net(x, training=False), again(x, training=False)
        for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


def _batch(rng, n=2, t=32):
    cond = rng.normal(size=(n, t, t, 2)).astype("float32")
    target = np.abs(rng.normal(size=(n, t, t, 1))).astype("float32") * 0.2
    return cond, target


def test_cvae_trains_a_few_steps():
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    model = cvae.build_cvae(32, seed=1)
    model.compile(keras.optimizers.Adam(1e-3))
    cond, target = _batch(np.random.default_rng(0), 4)
    before = [np.array(v) for v in model.decoder.trainable_variables]
    hist = model.fit(tf.data.Dataset.from_tensors((target, cond)).repeat(), epochs=1,
                     steps_per_epoch=3, verbose=0)
    assert int(model.step.numpy()) == 3
    assert all(np.isfinite(v[-1]) for v in hist.history.values())
    assert set(hist.history) >= {"loss", "recon_loss", "kl_loss"}
    changed = [not np.allclose(a, np.array(b)) for a, b in
               zip(before, model.decoder.trainable_variables)]
    assert any(changed)
    out = model.sample(cond, seed=0)
    assert out.shape == (4, 32, 32, 1) and np.all(out >= 0)  # softplus mean


@pytest.mark.parametrize("sigmoid", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cgan_trains_a_few_steps(sigmoid):
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    model = cgan.build_cgan(32, d_sigmoid=sigmoid)
    model.compile(d_optimizer=keras.optimizers.Adam(5e-5, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(5e-5, beta_1=0.5))
    cond, target = _batch(np.random.default_rng(1))
    hist = model.fit(tf.data.Dataset.from_tensors((cond, target - 1)).repeat(), epochs=1,
                     steps_per_epoch=2, verbose=0)
    assert int(model.step.numpy()) == 2
    h = {k: v[-1] for k, v in hist.history.items()}
    assert all(np.isfinite(v) for v in h.values())
    assert 0 < h["d_real_prob"] < 1 and 0 < h["d_fake_prob"] < 1
    # G loss = adversarial + 2.5 * L1
    assert h["g_loss"] == pytest.approx(h["g_adv_loss"] + 2.5 * h["g_l1_loss"], rel=1e-4)
    pred = model.predict_in_batches(cond)
    assert pred.shape == (2, 32, 32, 1) and np.all(np.abs(pred) <= 1)


def test_cgan_generator_width_and_depth_options():
    narrow = cgan.build_generator(32, filters=8, res_blocks=2)
    assert len(_layers(narrow, keras.layers.Add)) == 2
    assert [narrow.get_layer(n).filters for n in ("g_in", "g_down0", "g_down1", "g_up0",
                                                   "g_up1")] == [8, 16, 32, 16, 8]
    # by hand: g_in 9*9*2*8; downs (3*3*8*16 + 16) + (3*3*16*32 + 32); 2 blocks of two 3*3*32*32
    # convs; ups (3*3*32*16 + 16) + (3*3*16*8 + 8); g_out 9*9*8 + 1; batch norm 2 per channel
    # (the one before the tanh included)
    convs = (1296 + 1168 + 4640 + 4 * 9216 + 4624 + 1160 + 649)
    bn = 2 * (8 + 16 + 32 + 4 * 32 + 16 + 8 + 1)
    assert _n_params(narrow) == convs + bn
    assert _n_params(cgan.build_generator(32)) > 20 * _n_params(narrow)


def test_pixel_l2_loss_value_and_the_generator_loss_it_enters():
    import tensorflow as tf

    y = np.zeros((2, 4, 4, 1), "float32")
    y_pred = np.full((2, 4, 4, 1), 0.5, "float32")
    y_pred[0, 0, 0, 0] = 2.5
    expected = (31 * 0.25 + 6.25) / 32
    assert float(cgan.pixel_l2_loss(None, y, y_pred)) == pytest.approx(expected)
    keras.utils.set_random_seed(3)
    model = cgan.build_cgan(32, l2_weight=40.0, g_filters=8, g_res_blocks=1)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
    cond, target = _batch(np.random.default_rng(1))
    hist = model.fit(tf.data.Dataset.from_tensors((cond, target - 0.5)).repeat(), epochs=1,
                     steps_per_epoch=1, verbose=0)
    h = {k: v[-1] for k, v in hist.history.items()}
    assert h["g_extra_loss"] > 0
    assert h["g_loss"] == pytest.approx(h["g_adv_loss"] + 2.5 * h["g_l1_loss"]
                                        + 40.0 * h["g_extra_loss"], rel=1e-4)
