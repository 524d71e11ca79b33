"""exagan_tf.precision: config values resolved per machine, refusals, and the DCGAN trained one
step under mixed_bfloat16 with float32 logits and losses."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from exagan_tf import precision
from exagan_tf.config import DCGANConfig, build_config, read_tags
from exagan_tf.errors import UserError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,gpu,bf16,expected", [
    ("auto", True, False, "mixed_float16"),
    ("auto", False, True, "float32"),
    ("float32", False, False, "float32"),
    ("mixed_bfloat16", False, True, "mixed_bfloat16"),
    ("mixed_bfloat16", True, False, "mixed_bfloat16"),
    ("mixed_float16", True, False, "mixed_float16"),
])
def test_resolve(value, gpu, bf16, expected):
    assert precision.resolve_precision(value, gpu=gpu, bf16_cpu=bf16) == expected


@pytest.mark.parametrize("value,gpu,bf16,needle", [
    ("mixed_bfloat16", False, False, "no native bfloat16"),
    ("mixed_float16", False, True, "no GPU"),
    ("float16", False, True, "expected one of"),
    ("", True, True, "expected one of"),
])
def test_refusals_are_one_line(value, gpu, bf16, needle):
    with pytest.raises(UserError) as err:
        precision.resolve_precision(value, gpu=gpu, bf16_cpu=bf16)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nprocessor: 1\n")
    assert precision.cpu_flags(info) == {"fpu", "sse", "avx512f", "avx512_bf16"}
    assert precision.cpu_supports_bfloat16(precision.cpu_flags(info))
    assert not precision.cpu_supports_bfloat16({"avx512f", "avx2"})
    assert precision.cpu_flags(tmp_path / "missing") == set()


def test_scope_restores_the_policy():
    before = keras.mixed_precision.global_policy().name
    with precision.precision_scope("mixed_bfloat16", gpu=False, bf16_cpu=True) as name:
        assert name == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert keras.layers.Dense(2).compute_dtype == "bfloat16"
    assert keras.mixed_precision.global_policy().name == before


def test_dcgan_one_step_under_mixed_bfloat16():
    from exagan_tf.cosmo import dcgan

    values = read_tags(REPO / "experiments" / "exagan.yaml")["test"]
    cfg = build_config(DCGANConfig, {**values, "precision": "mixed_bfloat16"}, "test", "x.yaml")
    with precision.precision_scope(cfg.precision, gpu=False, bf16_cpu=True):
        gan = dcgan.build_gan(cfg, "channels_last")
        d, g = gan.discriminator, gan.generator
        assert d.layers[1].compute_dtype == "bfloat16"  # the convolutions run in bfloat16
        assert d.layers[1].kernel.dtype == "float32"  # variables stay float32
        precision.check_float32_outputs(d)  # the builders' logits and images are float32
        precision.check_float32_outputs(g)
        real = np.random.default_rng(0).uniform(
            -1, 1, (16, *dcgan.image_shape(cfg, "channels_last", channels=1))).astype("float32")
        before = [np.asarray(w).copy() for w in d.trainable_weights]
        history = gan.fit(tf.data.Dataset.from_tensor_slices(real).batch(8), epochs=1,
                          verbose=0)
    losses = {k: v[-1] for k, v in history.history.items() if "loss" in k}
    assert losses and all(np.isfinite(v) for v in losses.values())
    assert any(not np.array_equal(b, np.asarray(w))
               for b, w in zip(before, d.trainable_weights, strict=True))


def test_check_names_the_16_bit_outputs():
    with precision.precision_scope("mixed_bfloat16", gpu=False, bf16_cpu=True):
        x = keras.Input((3,))
        model = keras.Model(x, keras.layers.Dense(1, name="logit")(x), name="d")
        with pytest.raises(UserError) as err:
            precision.check_float32_outputs(model)
    assert "bfloat16" in str(err.value) and "'d'" in str(err.value)
