"""TrainingModel: the trackers, step counter, optimizers and seeded noise the core models share."""

import keras
import numpy as np
import tensorflow as tf

from exagan_tf.core.cgan import ConditionalGAN
from exagan_tf.core.gan import GAN
from exagan_tf.core.vae import VAE


def _dense(n_in, n_out):
    x = keras.Input((n_in,))
    return keras.Model(x, keras.layers.Dense(n_out)(x))


def _gan(seed=5):
    gan = GAN(_dense(3, 4), _dense(4, 1), noise_dim=3, seed=seed)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    return gan


def _vae(seed=5):
    x = keras.Input((4,))
    encoder = keras.Model(x, [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])
    vae = VAE(encoder, _dense(2, 4), seed=seed)
    vae.compile(keras.optimizers.SGD(0.1))
    return vae


def test_stream_seeds_keep_each_class_stride():
    """(seed, step * stride + stream), stride 8 for the GAN and 4 for the VAE: the seeds of
    every written run, which a common stride would change."""
    gan, vae = _gan(), _vae()
    gan.g_optimizer.iterations.assign(3)
    vae.optimizer.iterations.assign(3)
    assert gan._stream_seed(1).numpy().tolist() == [5, 25]
    assert vae._stream_seed(1).numpy().tolist() == [5, 13]
    assert int(gan.step.numpy()) == 3 and int(vae.step.numpy()) == 3


def test_draw_is_the_stateless_draw_of_the_stream():
    vae = _vae(seed=11)
    vae.optimizer.iterations.assign(2)
    got = vae._draw(tf.random.stateless_normal, tf.constant(6), [2, 3], stream=1).numpy()
    want = tf.random.stateless_normal((6, 2, 3), [11, 2 * 4 + 1]).numpy()
    np.testing.assert_array_equal(got, want)


def test_compile_builds_the_optimizers_and_trackers_follow_the_step_logs():
    gan = _gan()
    # slots built at compile time (inside the strategy scope in a trainer), not in the first step
    assert gan.d_optimizer.built and gan.g_optimizer.built
    assert [m.name for m in gan.metrics] == list(gan.trackers)
    data = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    logs = gan.train_step(tf.constant(data))
    assert set(logs) == set(gan.trackers)
    assert int(gan.step.numpy()) == 1 and int(gan.d_optimizer.iterations.numpy()) == 2


def test_non_adversarial_cgan_keeps_an_unused_d_optimizer_unbuilt():
    cgan = ConditionalGAN(_dense(2, 2), adversarial=False)
    unused = keras.optimizers.SGD(0.1)
    cgan.compile(d_optimizer=unused, g_optimizer=keras.optimizers.SGD(0.1))
    assert cgan.d_optimizer is unused and not unused.built
    assert cgan.g_optimizer.built
