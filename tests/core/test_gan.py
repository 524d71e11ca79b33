"""The GAN train_step: updates move the weights in the expected direction."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from exagan_tf.config import load_exagan
from exagan_tf.cosmo.dcgan import build_gan, build_generator

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def real_batch(fmt, n=8, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(np.exp(rng.standard_normal((n, dim, dim))))
    s = (2 * counts / (counts + 4.0) - 1).astype("float32")
    return s[:, None] if fmt == "channels_first" else s[..., None]


@pytest.fixture(params=["channels_last", "channels_first"])
def gan_and_fmt(request):
    cfg = dataclasses.replace(load_exagan("test"), label_flip=0.0)
    return build_gan(cfg, request.param), request.param, cfg


def mean_logit(model, x):
    return float(tf.reduce_mean(model(x, training=False)))


def test_discriminator_update_raises_real_score(gan_and_fmt):
    gan, fmt, _ = gan_and_fmt
    real = gan.real_preprocess(real_batch(fmt))
    before = mean_logit(gan.discriminator, real)
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    for _ in range(3):
        gan._d_update(real, tf.ones((8, 1)))
    assert mean_logit(gan.discriminator, real) > before
    assert all(
        np.array_equal(a, b.numpy()) for a, b in zip(g_before, gan.generator.trainable_weights)
    )


def test_generator_update_raises_fake_score_and_leaves_d(gan_and_fmt):
    gan, fmt, cfg = gan_and_fmt
    z = tf.random.normal((8, cfg.noise_vect_len), seed=3)
    before = mean_logit(gan.discriminator, gan.generator(z, training=True))
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    for _ in range(3):
        gan._g_update(z)
    assert mean_logit(gan.discriminator, gan.generator(z, training=True)) > before
    assert all(
        np.array_equal(a, b.numpy()) for a, b in zip(d_before, gan.discriminator.trainable_weights)
    )


def test_train_step_counts_and_metrics(gan_and_fmt):
    gan, fmt, cfg = gan_and_fmt
    ds = tf.data.Dataset.from_tensor_slices(real_batch(fmt, 32)).batch(8).repeat()
    hist = gan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    assert int(gan.g_optimizer.iterations) == 3
    # DG_update_ratio = 2: one round of D on real then D on fake per generator step
    assert int(gan.d_optimizer.iterations) == 3 * cfg.DG_update_ratio
    assert set(hist.history) == {
        "d_loss",
        "d_real_loss",
        "d_fake_loss",
        "g_loss",
        "d_real_prob",
        "d_fake_prob",
    }
    d = {k: v[-1] for k, v in hist.history.items()}
    assert abs(d["d_loss"] - 0.5 * (d["d_real_loss"] + d["d_fake_loss"])) < 1e-5
    assert 0 < d["d_real_prob"] < 1 and 0 < d["d_fake_prob"] < 1


def test_label_flip_probability():
    cfg = dataclasses.replace(load_exagan("test"), label_flip=0.25)
    gan = build_gan(cfg, "channels_last")
    seeds = [gan._stream_seed(1)]
    draws = tf.random.stateless_uniform((20000, 1), seeds[0]) < cfg.label_flip
    assert abs(float(tf.reduce_mean(tf.cast(draws, tf.float32))) - 0.25) < 0.015


def test_generator_shapes_and_range():
    cfg = load_exagan("test")
    for fmt, shape in (("channels_last", (16, 16, 2)), ("channels_first", (2, 16, 16))):
        g = build_generator(cfg, fmt)
        out = g(np.zeros((3, cfg.noise_vect_len), "float32")).numpy()
        assert out.shape[1:] == shape
        first = out[..., 0] if fmt == "channels_last" else out[:, 0]
        assert np.all(np.abs(first) <= 1)


def test_base_config_builds_original_sizes():
    """Full-size base: 128x128x2 NCHW in, Dense(8*8*512) at the generator's start."""
    cfg = load_exagan("base")
    g = build_generator(cfg, "channels_first")
    assert g.get_layer("dense").units == 8 * 8 * 512
    assert g.output_shape == (None, 2, 128, 128)
    from exagan_tf.cosmo.dcgan import build_discriminator

    d = build_discriminator(cfg, "channels_first")
    assert d.input_shape == (None, 2, 128, 128) and d.output_shape == (None, 1)
    assert [d.get_layer(f"conv{i}").filters for i in range(4)] == [64, 128, 256, 512]


MIRRORED = textwrap.dedent("""
    import dataclasses, numpy as np, tensorflow as tf
    from exagan_tf.runtime import split_cpu
    split_cpu(2)
    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_gan
    cfg = dataclasses.replace(load_exagan("test"), label_flip=0.2)
    x = np.random.default_rng(0).uniform(-1, 0.9, (32, 16, 16, 1)).astype("float32")
    def run(strategy):
        with strategy.scope():
            gan = build_gan(cfg, "channels_last")
        ds = tf.data.Dataset.from_tensor_slices(x).batch(8, drop_remainder=True).repeat()
        gan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
        return gan
    one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    assert two.distribute_strategy.num_replicas_in_sync == 2
    assert int(two.g_optimizer.iterations.numpy()) == 3 and int(two.d_optimizer.iterations.numpy()) == 6
    # Biases feeding a batch norm have an exactly-zero true gradient, so Adam turns round-off
    # into lr-sized steps; they and the moving means that track them cancel out of the output.
    worst = 0.0
    for a, b in zip(one.generator.weights + one.discriminator.weights,
                    two.generator.weights + two.discriminator.weights):
        name = a.path
        assert np.all(np.isfinite(b.numpy()))
        if name.endswith("moving_mean") or (name.endswith("/bias") and not name.startswith(("logit", "tconv1"))):
            continue
        worst = max(worst, float(np.max(np.abs(a.numpy() - b.numpy())) / np.max(np.abs(a.numpy()))))
    print("max relative weight difference", worst)
    assert worst < 1e-4, worst
    z = np.random.default_rng(1).standard_normal((8, cfg.noise_vect_len)).astype("float32")
    np.testing.assert_allclose(one.generator(z, training=True), two.generator(z, training=True), atol=1e-4)
    xr = one.real_preprocess(x[:8])
    np.testing.assert_allclose(one.discriminator(xr, training=True), two.discriminator(xr, training=True),
                               rtol=1e-3, atol=1e-4)
    print("OK")
""")


def test_mirrored_strategy_on_two_logical_cpus():
    """Under MirroredStrategy over 2 logical CPU devices, 3 steps give the same weights as one
    device on the same global batch (a fresh process: logical devices must be configured
    before TensorFlow starts)."""
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK" in proc.stdout


def test_joint_batch_step_counts_and_directions():
    """joint_batch: one D update per round on [real, fake]; D learns to score real above fake."""
    cfg = dataclasses.replace(load_exagan("test"), label_flip=0.0, joint_batch=True)
    gan = build_gan(cfg, "channels_last")
    real = real_batch("channels_last", 32)
    ds = tf.data.Dataset.from_tensor_slices(real).batch(8).repeat()
    hist = gan.fit(ds, steps_per_epoch=4, epochs=1, verbose=0, shuffle=False)
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    assert int(gan.d_optimizer.iterations.numpy()) == 4 * (cfg.DG_update_ratio // 2)
    assert set(hist.history) >= {"d_real_prob", "d_fake_prob", "g_loss"}
    z = tf.random.normal((8, cfg.noise_vect_len), seed=5)
    xr = gan.real_preprocess(real[:8])
    fake = gan.generator(z, training=False)

    def margin():
        logits = gan.discriminator(tf.concat([xr, fake], 0), training=True)
        return float(tf.reduce_mean(logits[:8]) - tf.reduce_mean(logits[8:]))

    start = margin()
    for _ in range(3):
        gan._d_update_joint(xr, fake, tf.ones((8, 1)), tf.zeros((8, 1)))
    assert margin() > start
    both = lambda: tf.concat([xr, gan.generator(z, training=True)], 0)  # noqa: E731
    before = float(tf.reduce_mean(gan.discriminator(both(), training=True)[8:]))
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    for _ in range(3):
        gan._g_update(z, xr)
    assert float(tf.reduce_mean(gan.discriminator(both(), training=True)[8:])) > before
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(d_before, gan.discriminator.trainable_weights))


def test_generated_counts_are_integer_int16_range():
    from exagan_tf.cosmo.dcgan import counts_from_generated

    cfg = dataclasses.replace(load_exagan("test"), dequantize=False)
    s = np.array([-1.0, -0.7, 0.0, 0.99, 1.0], dtype="float32").reshape(1, 5, 1, 1)
    counts = counts_from_generated(s, cfg, "channels_last").ravel()
    np.testing.assert_array_equal(counts, [0, 1, 4, 796, 32767])
    # a model of dequantized counts (x + U[0, 1)) is read back with a floor: 0.71 -> 0
    deq = counts_from_generated(s, dataclasses.replace(cfg, dequantize=True), "channels_last")
    np.testing.assert_array_equal(deq.ravel(), [0, 0, 4, 796, 32767])


def test_generator_weight_average_follows_the_ema_rule():
    import keras

    from exagan_tf.core.gan import GAN

    keras.utils.set_random_seed(0)
    z = keras.Input((4,))
    g = keras.Model(z, keras.layers.Dense(3)(z))
    x = keras.Input((3,))
    d = keras.Model(x, keras.layers.Dense(1)(x))
    gan = GAN(g, d, noise_dim=4, seed=3, g_ema=0.9)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    real = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    w0 = [w.numpy().copy() for w in g.weights]
    gan.train_step(tf.constant(real))
    w1 = [w.numpy() for w in g.weights]
    assert not np.allclose(w0[0], w1[0])
    decay = min(0.9, 2.0 / 11.0)  # warm-up (1 + t) / (10 + t) after the first update, t = 1
    for avg, a, b in zip(gan.sampler.weights, w0, w1):
        np.testing.assert_allclose(avg.numpy(), decay * a + (1 - decay) * b, rtol=1e-5, atol=1e-7)
    assert gan.sampler is not gan.generator
    with pytest.raises(ValueError, match="g_ema"):
        GAN(g, d, noise_dim=4, g_ema=1.0)


def _dense_gan(**kwargs):
    import keras

    from exagan_tf.core.gan import GAN

    keras.utils.set_random_seed(0)
    z = keras.Input((4,))
    g = keras.Model(z, keras.layers.Dense(3)(z))
    x = keras.Input((3,))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(x)))
    gan = GAN(g, d, noise_dim=4, seed=3, joint_batch=True, **kwargs)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    return gan


def test_label_and_input_blurring_change_the_discriminator_loss():
    real = tf.constant(np.random.default_rng(0).standard_normal((64, 3)), tf.float32)
    plain = _dense_gan().train_step(real)
    blurred = _dense_gan(label_noise=0.3).train_step(real)
    noisy = _dense_gan(real_noise=5.0).train_step(real)
    # identical seeds and weights: only the blurring differs
    assert float(blurred["d_real_loss"]) != pytest.approx(float(plain["d_real_loss"]), rel=1e-4)
    assert float(noisy["d_real_loss"]) != pytest.approx(float(plain["d_real_loss"]), rel=1e-4)
    assert float(noisy["d_fake_loss"]) == pytest.approx(float(plain["d_fake_loss"]), rel=1e-5)
    # soft targets in [0, 1] keep the cross-entropy finite and positive
    assert 0 < float(blurred["d_loss"]) < 5
