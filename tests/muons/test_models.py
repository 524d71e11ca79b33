"""Dense GAN / VAE builders as tabled, the folded NumPy generator, optimizers."""

import keras
import numpy as np
import pytest

from exagan_tf.muons import models


def dense_widths(model):
    return [la.units for la in model.layers if isinstance(la, keras.layers.Dense)]


def test_gan_layouts_and_flops():
    g = models.build_generator(6, node_factor=6, n_layers=2)
    assert dense_widths(g) == [1536, 3072, 6]
    assert g.input_shape == (None, 100) and g.layers[-1].activation.__name__ == "tanh"
    bns = [la for la in g.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert len(bns) == 2 and all(b.momentum == 0.8 for b in bns)
    # ~10 MFLOP per muon for the original 6-D generator
    assert models.dense_flops(g) == 2 * (100 * 1536 + 1536 * 3072 + 3072 * 6)
    assert 9.5e6 < models.dense_flops(g) < 10.2e6
    g3 = models.build_generator(4, node_factor=1, n_layers=3)
    assert dense_widths(g3) == [256, 512, 1024, 4]
    assert sum(isinstance(la, keras.layers.Dropout) for la in g3.layers) == 1
    d = models.build_discriminator(6, node_factor=3, n_layers=2)
    assert dense_widths(d) == [768, 1536, 1]
    assert sum(isinstance(la, keras.layers.Dropout) for la in d.layers) == 1


def test_vae_layouts():
    enc = models.build_encoder(6, 100, 3, 4)
    dec = models.build_decoder(6, 100, 3, 4)
    mean, logvar = enc(np.zeros((2, 6), "float32"))
    assert mean.shape == (2, 4) and logvar.shape == (2, 4)
    assert dense_widths(dec) == [100, 100, 100, 6]
    out = dec(np.zeros((2, 4), "float32")).numpy()
    assert np.all((out > 0) & (out < 1))
    # the original: Dropout(0.25) before each BN of the encoder, after each hidden Dense of the
    # decoder; dropout=0 (vae_demo) leaves them out and keeps the rest
    for net in (enc, dec):
        rates = [la.rate for la in net.layers if isinstance(la, keras.layers.Dropout)]
        assert rates == [0.25] * 3
    enc0, dec0 = models.build_encoder(6, 100, 3, 4, dropout=0.0), models.build_decoder(6, dropout=0)
    for net, ref in ((enc0, enc), (dec0, dec)):
        assert not any(isinstance(la, keras.layers.Dropout) for la in net.layers)
        assert dense_widths(net) == dense_widths(ref)
        assert net.count_params() == ref.count_params()
    # without dropout the decoder is the same function in training and inference mode up to
    # batch norm's statistics: with moving statistics equal to the batch's, outputs agree
    z = np.random.default_rng(0).standard_normal((512, 4)).astype("float32")
    for la in dec0.layers:
        if isinstance(la, keras.layers.BatchNormalization):
            h = keras.Model(dec0.inputs, la.input)(z).numpy()
            la.moving_mean.assign(h.mean(0))
            la.moving_variance.assign(h.var(0))
    np.testing.assert_allclose(dec0(z, training=True), dec0(z, training=False), atol=2e-5)
    with pytest.raises(ValueError, match="dropout=1"):
        models.build_decoder(6, dropout=1.0)


def test_folded_generator_matches_keras(tmp_path):
    g = models.build_generator(6, node_factor=0.125, n_layers=3)
    rng = np.random.default_rng(0)
    for bn in (la for la in g.layers if isinstance(la, keras.layers.BatchNormalization)):
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 2, n))
        bn.beta.assign(rng.normal(size=n))
        bn.moving_mean.assign(rng.normal(size=n))
        bn.moving_variance.assign(rng.uniform(0.1, 3, n))
    z = rng.standard_normal((64, 100)).astype("float32")
    folded = models.FoldedGenerator.from_keras(g)
    np.testing.assert_allclose(folded(z), g(z, training=False).numpy(), atol=2e-5)
    assert folded.flops == models.dense_flops(g)
    path = tmp_path / "g.keras"
    g.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again(z).numpy(), g(z).numpy(), atol=1e-6)


def test_optimizers():
    opt = models.make_optimizer(0, 5e-5)
    assert opt.amsgrad and opt.beta_1 == 0.5
    sched = opt._learning_rate
    assert float(sched(0)) == pytest.approx(5e-5)
    assert float(sched(100_000)) == pytest.approx(5e-5 / 1.5)
    assert isinstance(models.make_optimizer(2, 1e-3), keras.optimizers.RMSprop)
    assert not models.make_optimizer(1, 1e-3).amsgrad
    with pytest.raises(ValueError, match="-o 5"):
        models.make_optimizer(5, 1e-3)
