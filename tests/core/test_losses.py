import numpy as np

from exagan_tf.core.losses import bce_from_logits, mean_probability


def test_bce_from_logits_known_values():
    logits = np.array([[0.0], [2.0], [-3.0], [50.0]], dtype=np.float32)
    labels = np.array([[1.0], [1.0], [0.0], [0.0]], dtype=np.float32)
    expect = [np.log(2.0), np.log1p(np.exp(-2.0)), np.log1p(np.exp(-3.0)), 50.0]
    np.testing.assert_allclose(bce_from_logits(labels, logits), expect, rtol=1e-6)


def test_bce_is_finite_for_extreme_logits():
    out = bce_from_logits(np.ones((2, 1)), np.array([[-1e4], [1e4]], dtype=np.float32))
    np.testing.assert_allclose(out, [1e4, 0.0])


def test_mean_probability():
    assert abs(float(mean_probability(np.array([[0.0], [100.0]]))) - 0.75) < 1e-6


def test_log_spectrum_moments_loss_known_values():
    from exagan_tf.core.losses import log_spectrum_moments_loss

    log_pk = np.array([[1.0, 2.0], [3.0, 2.0]], dtype="float32")  # means [2, 2], stds [1, 0]
    same = log_spectrum_moments_loss(log_pk, [2.0, 2.0], [1.0, 0.0]).numpy()
    assert same == 0.0
    # mean off by 1 in bin 0, std off by 2 in bin 1: (1 + 4) / 2 bins
    off = log_spectrum_moments_loss(log_pk, [1.0, 2.0], [1.0, 2.0]).numpy()
    np.testing.assert_allclose(off, 2.5, rtol=1e-6)
