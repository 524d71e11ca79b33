"""The FLOP counter against hand counts (2 FLOPs per multiply-add)."""

import keras
import pytest
from flops import FORWARD, THROUGH, TRAIN, forward_flops

from exagan_tf.core.layers import SameShapeConv2DTranspose


def _model(inp_shape, *layers):
    x = inp = keras.Input(inp_shape)
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def test_conv2d_same_and_valid_strided():
    # 8x8x3 -> 8x8x4, 3x3 kernel: 64 outputs x 4 filters x 27 MACs
    assert forward_flops(_model((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"))) == (
        2 * 64 * 4 * 27)
    # 9x9x2 -> 4x4x5 (valid, stride 2, kernel 3): 16 x 5 x 18 MACs
    m = _model((9, 9, 2), keras.layers.Conv2D(5, 3, strides=2, padding="valid"))
    assert forward_flops(m) == 2 * 16 * 5 * 18


def test_conv2d_channels_first_and_groups():
    m = _model((4, 6, 6), keras.layers.Conv2D(8, 3, padding="same", data_format="channels_first",
                                              groups=2))
    assert forward_flops(m) == 2 * 36 * 8 * 9 * 2  # 4 input channels in 2 groups: 2 per filter


def test_transposed_convs():
    # 4x4x2 -> 8x8x3 with a 5x5 kernel: each of 16 x 2 inputs scatters 25 x 3 MACs
    expected = 2 * 16 * 2 * 25 * 3
    assert forward_flops(_model((4, 4, 2), keras.layers.Conv2DTranspose(
        3, 5, strides=2, padding="same"))) == expected
    assert forward_flops(_model((4, 4, 2), SameShapeConv2DTranspose(3, 5, strides=2))) == expected


def test_dense_over_leading_axes_and_conv3d():
    assert forward_flops(_model((5,), keras.layers.Dense(7))) == 2 * 5 * 7
    assert forward_flops(_model((3, 5), keras.layers.Dense(7))) == 2 * 3 * 5 * 7
    m = _model((4, 4, 4, 2), keras.layers.Conv3D(3, 3, padding="same"))
    assert forward_flops(m) == 2 * 64 * 3 * 27 * 2


def test_uncounted_layers_wrappers_and_nested_models():
    inner = _model((8, 8, 1), keras.layers.SpectralNormalization(keras.layers.Conv2D(2, 3,
                                                                  padding="same")),
                   keras.layers.BatchNormalization(), keras.layers.ReLU())
    one = 2 * 64 * 2 * 9
    assert forward_flops(inner) == one
    x = keras.Input((8, 8, 1))
    twice = keras.Model(x, [inner(x), inner(x)])  # a nested model counts once per call
    assert forward_flops(twice) == 2 * one


def test_dcgan_base_step_matches_the_measured_note():
    """TF_NOTES: the ExaGAN base step is 15.3 GFLOP per image (G forward for the fakes, D trained
    on real and on fake (DG_update_ratio 2 = one round), G trained through D)."""
    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_discriminator, build_generator

    cfg = load_exagan("base")
    G = forward_flops(build_generator(cfg, "channels_last"))
    D = forward_flops(build_discriminator(cfg, "channels_last"))
    rounds = cfg.DG_update_ratio // 2
    step = FORWARD * G + rounds * 2 * TRAIN * D + TRAIN * G + THROUGH * D
    assert step / 1e9 == pytest.approx(15.3, rel=0.01)
