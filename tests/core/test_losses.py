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


def test_bce_from_probabilities_known_values_and_patch_mean():
    from exagan_tf.core.losses import bce_from_probabilities

    # one example a 2x2 patch map: -log(0.5), -log(0.8), -log(1 - 0.1), and p = 0 clipped to 1e-7
    probs = np.array([[[0.5, 0.8], [0.1, 0.0]]], dtype=np.float32)
    labels = np.array([[[1.0, 1.0], [0.0, 1.0]]], dtype=np.float32)
    expect = np.mean([np.log(2.0), -np.log(0.8), -np.log(0.9), -np.log(1e-7)])
    out = bce_from_probabilities(labels, probs).numpy()
    assert out.shape == (1,)
    np.testing.assert_allclose(out, [expect], rtol=1e-5)


def test_binary_cross_entropy_of_probabilities_matches_logits():
    from exagan_tf.core.losses import binary_cross_entropy

    logits = np.array([[-2.0, 0.5], [1.5, 3.0]], dtype=np.float32)
    labels = np.array([[0.0, 1.0], [1.0, 0.3]], dtype=np.float32)
    probs = 1.0 / (1.0 + np.exp(-logits))
    from_logits = binary_cross_entropy(labels, logits, from_logits=True).numpy()
    from_probs = binary_cross_entropy(labels, probs, from_logits=False).numpy()
    assert from_logits.shape == (2,)
    np.testing.assert_allclose(from_probs, from_logits, rtol=1e-5)


def test_per_example_mean_and_sum_keep_the_batch_axis():
    from exagan_tf.core.losses import per_example_mean, per_example_sum

    x = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    np.testing.assert_allclose(per_example_sum(x).numpy(), [15.0, 51.0])
    np.testing.assert_allclose(per_example_mean(x).numpy(), [2.5, 8.5])
    assert per_example_mean(x).dtype.name == "float32"
