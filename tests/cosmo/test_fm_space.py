"""The flow's log space: the transform from the DCGAN's s space and back to counts is exact on
integer counts, bounded where s saturates, and the tags use it."""

import numpy as np
import tensorflow as tf

from exagan_tf.config import load_exagan as load_config
from exagan_tf.core.layers import scale_transform
from exagan_tf.cosmo import dcgan, fm


def test_log_space_round_trip_and_bounds():
    cfg = load_config("fm_demo")
    assert cfg.fm_space == "log" and load_config("demo").fm_space == "s"
    counts = np.array([0, 1, 2, 5, 40, 270, 1805, 32767], np.float32)
    s = scale_transform(tf.constant(counts), cfg.datascale)
    u = fm.to_log_space(s).numpy()
    np.testing.assert_allclose(u, fm.LOG_SCALE * np.log1p(counts / cfg.datascale) - 1, atol=2e-4)
    assert u[0] == -1.0
    back = fm.counts_from_log(u.reshape(1, -1, 1, 1)[..., 0, :], cfg)[0]
    # exact up to the largest demo count; at the int16 end float32 s (1 - s ~ 2e-4) loses digits
    np.testing.assert_array_equal(back[:-1], counts[:-1])
    assert abs(back[-1] - counts[-1]) < 1e-3 * counts[-1]
    # an overshoot of 0.5 in u is a factor exp(0.75) in counts, where in s it saturates
    over = fm.counts_from_log(np.array([[[[u[6] + 0.5]]]]), cfg)[0, 0]
    assert 1805 * 1.9 < over < 1805 * 2.3
    s_over = dcgan.counts_from_generated(np.array([[[[1.01]]]]), cfg, "channels_last")
    assert s_over[0, 0] == dcgan.INT16_MAX
    assert fm.counts_from_log(np.array([[[[50.0]]]]), cfg)[0, 0] == dcgan.INT16_MAX
