"""Transforms: the original's formula, inverses, sigma(z) interpolation, range errors."""

from __future__ import annotations

import numpy as np
import pytest

from exagan_tf.baryons.transforms import Transform
from exagan_tf.errors import UserError

STATS = {"redshifts": [0.0, 1.0, 2.0], "dm_std": [1.2, 0.8, 0.4],
         "pressure_std": [0.4, 0.1, 0.02]}


def test_formula_and_inverse_cvae():
    t = Transform.from_stats(STATS, "cvae")
    x = np.array([[0.0, 0.4, 4.0]])
    np.testing.assert_allclose(t.forward_pressure(x, 0.0), np.log(x / 0.4 + 1) / 4)
    np.testing.assert_allclose(t.inverse_pressure(t.forward_pressure(x, 0.0), 0.0), x,
                               atol=1e-15)
    np.testing.assert_allclose(t.inverse_dm(t.forward_dm(x, 2.0), 2.0), x, atol=1e-14)
    assert t.redshift_channel(1.5) == pytest.approx(1.5)


def test_cgan_variant_shifts_by_minus_one():
    t = Transform.from_stats(STATS, "cgan")
    c = Transform.from_stats(STATS, "cvae")
    x = np.linspace(0, 3, 7)[None]
    np.testing.assert_allclose(t.forward_dm(x, 1.0), c.forward_dm(x, 1.0) - 1.0)
    np.testing.assert_allclose(t.inverse_dm(t.forward_dm(x, 1.0), 1.0), x, atol=1e-14)
    assert t.redshift_channel(0.0) == pytest.approx(-1.0)
    assert t.redshift_channel(2.0) == pytest.approx(1.0)


def test_sigma_interpolates_log_linearly_and_per_image():
    t = Transform.from_stats(STATS, "cvae")
    assert t.sigma_pressure(1.0) == pytest.approx(0.1)
    assert t.sigma_pressure(0.5) == pytest.approx(np.sqrt(0.4 * 0.1))  # geometric midpoint
    x = np.ones((2, 4, 4))
    out = t.forward_pressure(x, np.array([0.0, 2.0]))
    assert out[0, 0, 0] == pytest.approx(np.log(1 / 0.4 + 1) / 4)
    assert out[1, 0, 0] == pytest.approx(np.log(1 / 0.02 + 1) / 4)


def test_held_out_redshift_is_interpolated_from_its_neighbours():
    t = Transform.from_stats(STATS, "cvae", redshifts=[0.0, 2.0])
    assert t.redshifts == (0.0, 2.0)
    assert t.sigma_dm(1.0) == pytest.approx(np.sqrt(1.2 * 0.4))
    with pytest.raises(UserError, match="not all are in the data"):
        Transform.from_stats(STATS, "cvae", redshifts=[0.5])


@pytest.mark.parametrize("z", [-0.1, 2.5, float("nan")])
def test_redshift_outside_trained_range_is_a_user_error(z):
    t = Transform.from_stats(STATS, "cgan")
    with pytest.raises(UserError, match="outside the trained range"):
        t.forward_dm(np.ones((1, 2, 2)), z)


def test_parameters_round_trip_as_plain_json():
    import json

    t = Transform.from_stats(STATS, "cgan")
    again = Transform.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t
    with pytest.raises(UserError, match="positive"):
        Transform((0.0, 1.0), (1.0, -1.0), (1.0, 1.0))


def test_shift_override_moves_both_fields_and_inverts():
    t = Transform.from_stats(STATS, "cgan", shift=-0.5)
    c = Transform.from_stats(STATS, "cvae")
    x = np.array([[0.0, 0.1, 2.0]])
    assert t.shift == -0.5 and t.z_offset == -1.0  # the redshift channel keeps z - 1
    np.testing.assert_allclose(t.forward_pressure(x, 1.0), c.forward_pressure(x, 1.0) - 0.5)
    np.testing.assert_allclose(t.forward_dm(x, 1.0), c.forward_dm(x, 1.0) - 0.5)
    np.testing.assert_allclose(t.inverse_pressure(t.forward_pressure(x, 1.0), 1.0), x,
                               atol=1e-15)
    assert Transform.from_stats(STATS, "cvae", shift=None).shift == 0.0
    with pytest.raises(UserError, match="finite"):
        Transform.from_stats(STATS, "cvae", shift=float("inf"))
