"""VAE: the ELBO loop shared by the baryon CVAE and the muon VAE."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf.core.vae import VAE, gaussian_nll, kl_diagonal_gaussians


def test_kl_of_known_gaussians():
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension; identical Gaussians give 0
    mq = tf.ones((2, 3))
    lq = tf.zeros((2, 3))
    np.testing.assert_allclose(kl_diagonal_gaussians(mq, lq).numpy(), [1.5, 1.5], rtol=1e-6)
    np.testing.assert_allclose(kl_diagonal_gaussians(mq, lq, mq, lq).numpy(), [0, 0], atol=1e-6)
    # KL(N(0, s^2) || N(0, 1)) = (s^2 - 1 - ln s^2) / 2, s^2 = e
    lq = tf.ones((1, 1))
    expected = 0.5 * (np.e - 1 - 1)
    np.testing.assert_allclose(kl_diagonal_gaussians(tf.zeros((1, 1)), lq).numpy(), [expected],
                               rtol=1e-6)


def test_gaussian_nll_sums_over_features():
    x = tf.zeros((2, 2, 2))
    x_hat = tf.ones((2, 2, 2))
    np.testing.assert_allclose(gaussian_nll(x, x_hat).numpy(), [2.0, 2.0])


def _dense_vae(dim=2, latent=2, conditional=False):
    xin = keras.Input((dim,))
    ins = [xin]
    h = xin
    if conditional:
        yin = keras.Input((1,))
        ins.append(yin)
        h = keras.layers.Concatenate()([xin, yin])
    h = keras.layers.Dense(16, activation="tanh")(h)
    encoder = keras.Model(ins, [keras.layers.Dense(latent)(h), keras.layers.Dense(latent)(h)])
    zin = keras.Input((latent,))
    dins = [zin]
    h = zin
    if conditional:
        yd = keras.Input((1,))
        dins.append(yd)
        h = keras.layers.Concatenate()([zin, yd])
    h = keras.layers.Dense(16, activation="tanh")(h)
    decoder = keras.Model(dins, keras.layers.Dense(dim)(h))
    prior = None
    if conditional:
        yp = keras.Input((1,))
        h = keras.layers.Dense(8, activation="tanh")(yp)
        prior = keras.Model(yp, [keras.layers.Dense(latent)(h), keras.layers.Dense(latent)(h)])
    return encoder, decoder, prior


def test_unconditional_training_lowers_the_loss_and_samples():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((512, 2)) @ np.array([[1.0, 0.8], [0.0, 0.3]])).astype("float32")
    vae = VAE(*_dense_vae()[:2], recon_loss="mse", recon_weight=100.0)
    vae.compile(keras.optimizers.Adam(1e-2))
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(512, seed=0).repeat().batch(64)
    hist = vae.fit(ds, epochs=4, steps_per_epoch=40, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    draws = vae.sample(n=2000, seed=1)
    assert draws.shape == (2000, 2)
    # the learned distribution keeps the data's strong x0-x1 correlation
    assert np.corrcoef(draws.T)[0, 1] > 0.7
    assert int(vae.step.numpy()) == 160


def test_conditional_uses_the_learned_prior():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, (512, 1)).astype("float32")
    x = np.concatenate([3 * y, -2 * y], axis=1) + 0.05 * rng.standard_normal((512, 2))
    x = x.astype("float32")
    enc, dec, prior = _dense_vae(conditional=True)
    vae = VAE(enc, dec, prior, recon_loss="gaussian", recon_weight=10.0)
    vae.compile(keras.optimizers.Adam(1e-2))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512, seed=0).repeat().batch(64)
    vae.fit(ds, epochs=3, steps_per_epoch=50, verbose=0)
    y_test = np.array([[-0.8], [0.0], [0.8]], dtype="float32")
    draws = vae.sample(np.repeat(y_test, 200, axis=0), seed=2).reshape(3, 200, 2)
    means = draws.mean(axis=1)
    np.testing.assert_allclose(means[:, 0], 3 * y_test[:, 0], atol=0.4)
    np.testing.assert_allclose(means[:, 1], -2 * y_test[:, 0], atol=0.4)
    out = vae.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(128), verbose=0,
                       return_dict=True)
    assert set(out) == {"loss", "recon_loss", "kl_loss"} and out["kl_loss"] >= 0


def test_unknown_reconstruction_loss_is_refused():
    enc, dec, _ = _dense_vae()
    with pytest.raises(ValueError, match="recon_loss"):
        VAE(enc, dec, recon_loss="l7")
