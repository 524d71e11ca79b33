"""ConditionalGAN: the image-to-image loop shared by the baryon CGAN and the CMB models."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf.core.cgan import ConditionalGAN


def _generator(n=8):
    x = keras.Input((n, n, 1))
    y = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)(x)
    return keras.Model(x, y)


def _discriminator(n=8, sigmoid=False):
    x = keras.Input((n, n, 1))
    y = keras.Input((n, n, 1))
    h = keras.layers.Concatenate()([x, y])
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same")(h)
    h = keras.layers.LeakyReLU(0.2)(h)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid" if sigmoid else None)(h)
    return keras.Model([x, y], out)


def _data(n=8, count=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, n, n, 1)).astype("float32")
    return x, (2.0 * x).astype("float32")


def _fit(model, steps, batch=8):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch)
    return model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)


def test_regression_only_learns_target_and_needs_no_discriminator():
    keras.utils.set_random_seed(0)
    model = ConditionalGAN(_generator(), None, adversarial=False, l1_weight=1.0)
    model.compile(g_optimizer=keras.optimizers.Adam(0.05))
    x, y = _data(seed=1)
    before = float(np.mean(np.abs(model.predict_in_batches(x) - y)))
    hist = _fit(model, 60)
    after = float(np.mean(np.abs(model.predict_in_batches(x) - y)))
    assert after < 0.2 * before
    assert set(hist.history) == {"g_loss", "g_l1_loss", "g_extra_loss"}
    assert int(model.step.numpy()) == 60


def test_discriminator_updates_every_interval_only():
    keras.utils.set_random_seed(0)
    model = ConditionalGAN(_generator(), _discriminator(), d_interval=3, l1_weight=10.0)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    hist = _fit(model, 7)
    # steps 0, 3, 6 update D
    assert int(model.d_optimizer.iterations.numpy()) == 3
    assert int(model.g_optimizer.iterations.numpy()) == 7
    for key in ("d_loss", "d_real_prob", "d_fake_prob"):
        assert np.isfinite(hist.history[key][-1])


def test_generator_loss_is_weighted_sum_of_terms():
    keras.utils.set_random_seed(0)

    def extra(x, y, y_pred):
        return tf.reduce_mean(tf.square(y - y_pred))

    model = ConditionalGAN(
        _generator(), _discriminator(sigmoid=True), d_from_logits=False, l1_weight=2.5,
        extra_loss=extra, extra_weight=0.5,
    )
    model.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    out = model.evaluate(ds, verbose=0, return_dict=True)
    pred = model.predict_in_batches(x)
    l1 = np.mean(np.abs(pred - y))
    assert out["g_l1_loss"] == pytest.approx(l1, rel=1e-5)
    adv = model.trackers["g_adv_loss"].result().numpy()
    ext = model.trackers["g_extra_loss"].result().numpy()
    assert ext == pytest.approx(np.mean((pred - y) ** 2), rel=1e-4)
    assert out["g_loss"] == pytest.approx(adv + 2.5 * l1 + 0.5 * ext, rel=1e-5)
    # probabilities near 0.5 at initialisation -> BCE near log 2
    assert 0.3 < adv < 1.2


def test_adversarial_step_moves_both_networks():
    keras.utils.set_random_seed(0)
    gen, disc = _generator(), _discriminator()
    model = ConditionalGAN(gen, disc)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    g0 = [w.copy() for w in gen.get_weights()]
    d0 = [w.copy() for w in disc.get_weights()]
    _fit(model, 2)
    assert any(not np.allclose(a, b) for a, b in zip(g0, gen.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d0, disc.get_weights()))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="discriminator"):
        ConditionalGAN(_generator(), None)
    with pytest.raises(ValueError, match="d_interval"):
        ConditionalGAN(_generator(), _discriminator(), d_interval=0)
