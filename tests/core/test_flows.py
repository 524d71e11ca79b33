"""Rational-quadratic spline flow: invertibility, log-determinant against autodiff, a density
that integrates to 1, weighted maximum likelihood, safe_mode saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf.core import flows


def _random_params(shape, bins, seed):
    rng = np.random.default_rng(seed)
    return (
        tf.constant(rng.normal(0, 1.5, (*shape, bins)), tf.float64),
        tf.constant(rng.normal(0, 1.5, (*shape, bins)), tf.float64),
        tf.constant(rng.normal(0, 1.5, (*shape, bins - 1)), tf.float64),
    )


def test_spline_inverts_and_logdet_matches_autodiff():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-6, 6, (400, 3)), tf.float64)  # tails included
    w, h, d = _random_params((400, 3), 6, 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, logdet = flows.rq_spline(x, w, h, d, bound=4.0)
    grad = tape.gradient(y, x)  # elementwise map: the diagonal of the Jacobian
    np.testing.assert_allclose(logdet.numpy(), np.log(grad.numpy()), atol=1e-9)
    back, inv_logdet = flows.rq_spline(y, w, h, d, inverse=True, bound=4.0)
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-9)
    np.testing.assert_allclose(inv_logdet.numpy(), -logdet.numpy(), atol=1e-7)
    # the map is not the identity inside the interval, and is outside
    outside = np.abs(x.numpy()) > 4.0
    assert np.abs(y.numpy() - x.numpy())[~outside].max() > 0.1
    np.testing.assert_array_equal(y.numpy()[outside], x.numpy()[outside])


def test_zero_parameters_are_the_identity():
    x = tf.constant(np.linspace(-4.9, 4.9, 50)[:, None], tf.float32)
    z = tf.zeros((50, 1, 8))
    y, logdet = flows.rq_spline(x, z, z, tf.zeros((50, 1, 7)))
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-5)
    np.testing.assert_allclose(logdet.numpy(), 0.0, atol=1e-5)


@pytest.fixture
def float64():
    """Exact arithmetic checks run the flow in float64 (float32 round-off is amplified where
    a random spline is nearly flat)."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_dtype_policy(old)


def _perturbed_flow(dim, layers=4, seed=0, squash=0.0):
    keras.utils.set_random_seed(seed)
    flow = flows.SplineFlow(dim, layers=layers, bins=5, hidden=8, depth=1, bound=3.0,
                            squash=squash)
    rng = np.random.default_rng(seed)
    for c in flow.couplings:  # move the zero-initialised output layers off the identity
        c.out_layer.kernel.assign(rng.normal(0, 0.5, c.out_layer.kernel.shape))
        c.out_layer.bias.assign(rng.normal(0, 0.5, c.out_layer.bias.shape))
    return flow


@pytest.mark.parametrize("squash", [0.0, 0.99])
def test_flow_inverts_and_logdet_matches_jacobian(float64, squash):
    flow = _perturbed_flow(4, squash=squash)
    x = np.random.default_rng(1).normal(0, 1.2, (16, 4))
    x = tf.constant(np.tanh(x) if squash else x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, logdet = flow(x)
    jac = tape.batch_jacobian(z, x).numpy()
    np.testing.assert_allclose(logdet.numpy(), np.linalg.slogdet(jac)[1], atol=1e-9)
    assert np.abs(logdet.numpy()).max() > 0.05  # not a volume-preserving map
    np.testing.assert_allclose(flow.inverse(z).numpy(), x.numpy(), atol=1e-9)


def test_density_integrates_to_one_in_2d(float64):
    flow = _perturbed_flow(2, layers=4, seed=3)
    edges = np.linspace(-9, 9, 721)
    centres = 0.5 * (edges[1:] + edges[:-1])
    gx, gy = np.meshgrid(centres, centres, indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    p = np.exp(flow.log_prob(grid).numpy())
    total = p.sum() * (edges[1] - edges[0]) ** 2
    assert total == pytest.approx(1.0, abs=2e-3)
    base = np.exp(-0.5 * (grid**2).sum(1)) / (2 * np.pi)
    assert np.abs(p - base).max() > 0.01  # the density differs from the base normal


def test_weighted_mle_recovers_a_weighted_density():
    """Rows from N(0, 1) with weights w(x) = exp(x): the weighted distribution is N(1, 1).
    Weighted maximum likelihood must find mean 1 and sd 1; unweighted would find 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (20000, 2)).astype(np.float32)
    x[:, 1] = 0.5 * x[:, 0] + rng.normal(0, 0.3, 20000)  # a correlated second coordinate
    w = np.exp(x[:, 0]).astype(np.float32)
    keras.utils.set_random_seed(0)
    flow = flows.SplineFlow(2, layers=2, bins=6, hidden=16, depth=1, bound=4.0)
    flow.compile(keras.optimizers.Adam(5e-3))
    data = tf.data.Dataset.from_tensor_slices((x, w)).shuffle(20000, seed=0).batch(500)
    flow.fit(data.repeat(), steps_per_epoch=400, epochs=1, verbose=0)
    s = flow.sample(40000, seed=1)
    assert s[:, 0].mean() == pytest.approx(1.0, abs=0.08)
    assert s[:, 0].std() == pytest.approx(1.0, abs=0.08)
    # conditional mean of the second coordinate follows 0.5 x_0
    assert np.polyfit(s[:, 0], s[:, 1], 1)[0] == pytest.approx(0.5, abs=0.1)


def test_flow_saves_and_loads_in_safe_mode(tmp_path):
    flow = _perturbed_flow(3, layers=3, squash=0.9)
    path = tmp_path / "flow.keras"
    flow.save(path)
    back = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(2).uniform(-1, 1, size=(32, 3)).astype(np.float32)
    np.testing.assert_allclose(back.log_prob(x).numpy(), flow.log_prob(x).numpy(), atol=1e-6)
    assert [c.mask for c in back.couplings] == [c.mask for c in flow.couplings]


def test_masks_alternate_and_cover_every_coordinate():
    masks = flows.coupling_masks(6, 4, seed=1)
    assert all(sum(m) == 3 for m in masks)
    assert [a + b for a, b in zip(masks[0], masks[1])] == [1] * 6
    with pytest.raises(ValueError):
        flows.coupling_masks(1, 2)
