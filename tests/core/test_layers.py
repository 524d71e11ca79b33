import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf.core.layers import (
    MultiChannelRescale,
    SameShapeConv2DTranspose,
    inverse_scale_transform,
    scale_transform,
)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "kernel,stride,size", [(5, 2, 8), (3, 2, 7), (4, 3, 5), (5, 1, 6), (2, 4, 3)]
)
def test_transposed_conv_output_is_input_times_stride(fmt, kernel, stride, size):
    layer = SameShapeConv2DTranspose(3, kernel, strides=stride, data_format=fmt)
    shape = (2, 4, size, size + 1) if fmt == "channels_first" else (2, size, size + 1, 4)
    out = layer(tf.random.normal(shape))
    expect = (
        (2, 3, size * stride, (size + 1) * stride)
        if fmt == "channels_first"
        else (2, size * stride, (size + 1) * stride, 3)
    )
    assert tuple(out.shape) == expect
    assert layer.compute_output_shape((None,) + shape[1:])[1:] == expect[1:]


def test_transposed_conv_dynamic_shape_in_tf_function():
    layer = SameShapeConv2DTranspose(2, 5, strides=2)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3))])
    def f(x):
        return layer(x)

    assert tuple(f(tf.zeros((1, 5, 9, 3))).shape) == (1, 10, 18, 2)


def test_transposed_conv_matches_keras_same_padding():
    """The explicit-shape op computes what Keras' own Conv2DTranspose computes."""
    ours = SameShapeConv2DTranspose(4, 5, strides=2)
    ref = keras.layers.Conv2DTranspose(4, 5, strides=2, padding="same")
    x = tf.random.normal((2, 6, 6, 3), seed=1)
    ours(x), ref(x)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), ref(x), atol=1e-5)


def test_transposed_conv_refuses_valid_padding():
    with pytest.raises(ValueError, match="same"):
        SameShapeConv2DTranspose(2, 3, strides=2, padding="valid")


def test_scale_transform_and_inverse():
    x = np.array([0.0, 1.0, 4.0, 100.0, 4000.0])
    s = scale_transform(x, 4.0)
    np.testing.assert_allclose(s, [-1.0, -0.6, 0.0, 2 * 100 / 104 - 1, 2 * 4000 / 4004 - 1])
    np.testing.assert_allclose(inverse_scale_transform(s, 4.0), x, rtol=1e-9, atol=1e-12)
    assert np.isfinite(inverse_scale_transform(np.float32(1.0), 4.0))


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_mcr_second_channel(fmt):
    counts = np.array([[0.0, 4.0], [1000.0, 3000.0]], dtype=np.float32)
    s = scale_transform(counts, 4.0)
    x = s[None, None] if fmt == "channels_first" else s[None, ..., None]
    out = keras.ops.convert_to_numpy(MultiChannelRescale(4.0, 1000.0, fmt)(x))
    second = out[0, 1] if fmt == "channels_first" else out[0, ..., 1]
    first = out[0, 0] if fmt == "channels_first" else out[0, ..., 0]
    np.testing.assert_allclose(first, s, rtol=1e-6)
    np.testing.assert_allclose(second, np.tanh(counts / 1000.0), rtol=1e-4, atol=1e-6)


def test_layers_serialise_and_load_in_safe_mode(tmp_path):
    inp = keras.Input((4, 4, 2))
    x = SameShapeConv2DTranspose(1, 3, strides=2)(inp)
    out = MultiChannelRescale(4.0, 1000.0)(keras.layers.Activation("tanh")(x))
    model = keras.Model(inp, out)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    z = np.random.default_rng(0).standard_normal((3, 4, 4, 2)).astype("float32")
    np.testing.assert_allclose(model(z), loaded(z), atol=1e-6)
