"""The learning-rate tail decay: values, serialisation, and its use by the DCGAN optimizers."""

import dataclasses

import keras
import numpy as np
import pytest

from exagan_tf.core.schedules import LinearTailDecay, learning_rate


def test_constant_then_linear_to_zero():
    s = LinearTailDecay(2e-4, total_steps=100, decay_steps=40)
    got = [float(s(t)) for t in (0, 59, 60, 70, 80, 99, 100, 150)]
    np.testing.assert_allclose(got, [2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 5e-6, 0, 0], atol=1e-12)


def test_round_trip_and_constant_cases():
    s = LinearTailDecay(1e-3, 10, 5)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(again, LinearTailDecay) and again.get_config() == s.get_config()
    assert learning_rate(1e-3, None, 0.5) == 1e-3 and learning_rate(1e-3, 100, 0.0) == 1e-3
    assert learning_rate(1e-3, 100, 0.25).decay_steps == 25
    with pytest.raises(ValueError, match="decay_steps"):
        LinearTailDecay(1e-3, 10, 11)


def test_dcgan_optimizers_follow_the_run_length():
    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_gan

    cfg = dataclasses.replace(load_exagan("test"), lr_decay=0.5, learn_rate=(2e-4, 1e-4))
    gan = build_gan(cfg, "channels_last", total_steps=20)
    g, d = gan.g_optimizer.learning_rate, gan.d_optimizer.learning_rate
    assert float(g) == pytest.approx(2e-4) and float(d) == pytest.approx(1e-4)
    # separate real and fake batches: D makes 2 updates per round, DG_update_ratio // 2 rounds
    d_updates = 2 * (cfg.DG_update_ratio // 2)
    assert gan.d_optimizer._learning_rate.total_steps == 20 * d_updates
    assert gan.g_optimizer._learning_rate.total_steps == 20
    gan.g_optimizer.iterations.assign(15)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    const = build_gan(dataclasses.replace(cfg, lr_decay=0.0), "channels_last", total_steps=20)
    assert not isinstance(const.g_optimizer._learning_rate, LinearTailDecay)
