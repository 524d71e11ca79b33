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


def test_recalibrate_batch_norm_sets_mean_batch_statistics():
    import keras
    import numpy as np

    from exagan_tf.gr.architectures import recalibrate_batch_norm

    inputs = keras.Input(shape=(2, 2, 3))
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn1")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Dense(4, name="fc")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn2")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    rng = np.random.default_rng(0)
    # two batches of different scale and offset per channel
    batches = [
        rng.normal(1.0, 2.0, (5, 2, 2, 3)).astype("float32"),
        rng.normal(-3.0, 0.5, (7, 2, 2, 3)).astype("float32"),
    ]
    assert recalibrate_batch_norm(model, iter(batches)) == 2
    bn1 = model.get_layer("bn1")
    mean = np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0)
    var = np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0)
    assert np.allclose(bn1.moving_mean.numpy(), mean, rtol=1e-5)
    assert np.allclose(bn1.moving_variance.numpy(), var, rtol=1e-5)
    # bn2 sees the inference-mode features (bn1 recalibrated, dropout off): deterministic
    probe = keras.Model(model.input, model.get_layer("bn2").input)
    feats = [probe(b, training=False).numpy() for b in batches]
    assert np.allclose(
        model.get_layer("bn2").moving_mean.numpy(),
        np.mean([f.mean(axis=0) for f in feats], axis=0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert np.allclose(
        model.get_layer("bn2").moving_variance.numpy(),
        np.mean([f.var(axis=0) for f in feats], axis=0),
        rtol=1e-5,
    )
    assert recalibrate_batch_norm(model, []) == 0
