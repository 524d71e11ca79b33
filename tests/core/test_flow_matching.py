"""Flow matching: the loss falls on a toy 2-D problem, the ODE sampler carries noise to a known
Gaussian (and to a condition's value), training noise is stateless, and the U-Net velocity field
saves and loads with safe_mode in a fresh interpreter."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf import fileio
from exagan_tf.core import flow_matching as fm
from tests.conftest import REPO

MEAN, STD = np.array([2.0, -1.0]), 0.5


def _fit(model, data, steps, epochs, lr=3e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr))
    ds = tf.data.Dataset.from_tensor_slices(data).repeat().batch(256)
    return model.fit(ds, steps_per_epoch=steps, epochs=epochs, verbose=0).history["loss"]


@pytest.fixture(scope="module")
def toy():
    keras.utils.set_random_seed(0)
    data = (np.random.default_rng(0).standard_normal((4096, 2)) * STD + MEAN).astype("float32")
    model = fm.FlowMatching(fm.build_mlp(2), seed=1)
    return model, _fit(model, data, 100, 4)


def test_loss_decreases_on_a_toy_problem(toy):
    _, losses = toy
    # noise 1 + target 0.25 per coordinate: the velocity's variance (1.25) is where v = 0
    # starts; the optimum is E|x1 - x0 - E[.|x_t]|^2, well below it
    assert losses[0] > losses[-1] + 0.2, losses
    assert losses[-1] < 0.9


@pytest.mark.parametrize("method", ["heun", "euler"])
def test_sampler_maps_noise_to_the_target(toy, method):
    model, _ = toy
    s = fm.sample(model.velocity, 4000, seed=3, steps=8, method=method)
    assert s.shape == (4000, 2)
    np.testing.assert_allclose(s.mean(0), MEAN, atol=0.1)
    # Euler with 8 steps under-disperses (measured 0.43-0.46), Heun is within 0.03
    np.testing.assert_allclose(s.std(0), STD, atol=0.03 if method == "heun" else 0.1)
    # untrained (v = 0 at the zero-initialised output? an MLP is not): noise stays noise
    fresh = fm.sample(fm.build_mlp(2), 2000, seed=3, steps=4)
    assert np.all(np.abs(fresh.mean(0) - MEAN) > 0.5)


def test_conditional_flow_follows_its_condition():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    cond = rng.uniform(-2, 2, (4096, 1)).astype("float32")
    x1 = (cond + 0.2 * rng.standard_normal((4096, 1))).astype("float32")
    model = fm.FlowMatching(fm.build_mlp(1, cond_dim=1), seed=2)
    _fit(model, (x1, cond), 100, 3)
    c = np.array([[-1.5], [1.5]], "float32").repeat(1000, axis=0)
    s = fm.sample(model.velocity, 2000, seed=4, steps=8, conditions=[c])[:, 0]
    assert abs(s[:1000].mean() + 1.5) < 0.15 and abs(s[1000:].mean() - 1.5) < 0.15
    assert 0.1 < s[:1000].std() < 0.35


def test_training_noise_is_seeded_by_seed_and_step():
    x1 = np.ones((4, 8, 8, 1), "float32")
    losses = []
    for seed in (0, 0, 1):
        keras.utils.set_random_seed(0)
        model = fm.FlowMatching(fm.build_unet(8, widths=(4, 8)), seed=seed)
        model.compile(optimizer="adam")
        losses.append(float(model.flow_loss(tf.constant(x1))))
    assert losses[0] == losses[1] != losses[2]


def test_unet_saves_and_loads_in_a_fresh_interpreter(tmp_path):
    keras.utils.set_random_seed(0)
    net = fm.build_unet(8, widths=(4, 8), cond_channels=1, cond_scalars=1)
    # non-zero output weights, so the comparison sees the whole network
    net.get_layer("v").kernel.assign(np.full(net.get_layer("v").kernel.shape, 0.1, "float32"))
    path = tmp_path / "velocity.keras"
    fileio.save_model_atomic(net, path)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((2, 8, 8, 1)), np.array([[0.3], [0.7]]),
              rng.standard_normal((2, 8, 8, 1)), np.array([[0.5], [1.0]])]
    inputs = [a.astype("float32") for a in inputs]
    np.savez(tmp_path / "inputs.npz", *inputs)
    expected = keras.ops.convert_to_numpy(net(inputs))
    code = (
        "import numpy as np, keras\n"
        "import exagan_tf.core.flow_matching  # registers the custom layers\n"
        "from exagan_tf.fileio import load_model_safe\n"
        f"net = load_model_safe(__import__('pathlib').Path(r'{path}'))\n"
        f"f = np.load(r'{tmp_path / 'inputs.npz'}')\n"
        "out = keras.ops.convert_to_numpy(net([f[f'arr_{i}'] for i in range(4)]))\n"
        f"np.save(r'{tmp_path / 'out.npy'}', out)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected).max() > 1e-3
