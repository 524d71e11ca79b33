"""RACOON and PENGUIN: the original table's shapes at 256^2 (build only), smaller inputs, loading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from exagan_tf.errors import UserError
from exagan_tf.gr import architectures as arch


def _conv_shapes(model):
    return [tuple(layer.output.shape[1:]) for layer in model.layers if layer.name.endswith("_conv")]


def test_racoon_original_table_at_256():
    lp = 16
    m = arch.build_model("RACCOON", (256, 256, 1), lp, 0.5)
    assert _conv_shapes(m) == [(64, 64, lp), (16, 16, 4 * lp), (4, 4, 8 * lp)]
    assert [layer.kernel_size for layer in m.layers if layer.name.endswith("_conv")] == [(4, 4)] * 3
    assert m.get_layer("fc1").output.shape[1:] == (lp,) and m.output.shape[1:] == (1,)
    # the PyTorch RACOON's parameter count (bias=False everywhere; BN weight + bias)
    expected = (16 * lp + 2 * lp) + (16 * lp * 4 * lp + 8 * lp) + (16 * 4 * lp * 8 * lp + 16 * lp)
    expected += 8 * lp * 16 * lp + lp
    assert sum(int(np.prod(w.shape)) for w in m.trainable_weights) == expected


def test_penguin_original_table_at_256():
    lp = 8
    m = arch.build_model("PENGUIN", (256, 256, 1), lp, 0.5)
    widths = [lp, 2 * lp, 4 * lp, 6 * lp, 8 * lp, 10 * lp]
    sizes = [128, 64, 32, 16, 8, 4]
    assert _conv_shapes(m) == [(s, s, w) for s, w in zip(sizes, widths)]
    assert m.get_layer("fc1").output.shape[1:] == (10 * lp,)
    assert m.get_layer("fc2").output.shape[1:] == (lp,)
    assert m.output.shape[1:] == (1,)


@pytest.mark.parametrize(
    "size, racoon, penguin",
    [
        (256, (4, 4, 4), (2, 2, 2, 2, 2, 2)),
        (128, (4, 4, 2), (2, 2, 2, 2, 2, 1)),
        (64, (4, 2, 2), (2, 2, 2, 2, 1, 1)),
        (32, (2, 2, 2), (2, 2, 2, 1, 1, 1)),
        (16, (2, 2, 1), (2, 2, 1, 1, 1, 1)),
    ],
)
def test_strides_for_smaller_inputs_end_at_4x4(size, racoon, penguin):
    assert arch.racoon_strides(size) == racoon and arch.penguin_strides(size) == penguin
    for name in arch.ARCHITECTURES:
        m = arch.build_model(name, (size, size, 2), 2, 0.5)
        assert _conv_shapes(m)[-1][:2] == (4, 4)
        assert m(np.zeros((3, size, size, 2), np.float32)).shape == (3, 1)


def test_channels_first_builds():
    m = arch.build_model("PENGUIN", (32, 32, 1), 2, 0.5, data_format="channels_first")
    assert m.input.shape[1:] == (1, 32, 32) and _conv_shapes(m)[-1] == (20, 4, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"architecture": "LION"}, "expected RACOON"),
        ({"input_shape": (48, 48, 1)}, "input size 48"),
        ({"input_shape": (512, 512, 1)}, "input size 512"),
        ({"input_shape": (32, 16, 1)}, "square"),
        ({"layer_param": 0}, "layer_param=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {
        "architecture": "RACOON",
        "input_shape": (32, 32, 1),
        "layer_param": 2,
        "dropout": 0.5,
        **kwargs,
    }
    with pytest.raises(UserError, match=message):
        arch.build_model(**args)


def test_save_and_load_with_safe_mode(tmp_path):
    m = arch.build_model("PENGUIN", (16, 16, 1), 2, 0.3, activation="leaky_relu")
    x = np.random.default_rng(0).standard_normal((4, 16, 16, 1)).astype(np.float32)
    m.save(tmp_path / "p.keras")
    loaded = keras.models.load_model(tmp_path / "p.keras", safe_mode=True)
    assert np.allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)
