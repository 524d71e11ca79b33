"""Mixed precision as a config option: ``precision: float32 | mixed_float16 | mixed_bfloat16 |
auto``.

``auto`` is ``mixed_float16`` when a GPU is visible and ``float32`` on a CPU. ``mixed_bfloat16``
on a CPU needs native bfloat16 arithmetic (x86 ``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``);
elsewhere it would be emulated and slower than float32, so it is refused. ``mixed_float16`` on a
CPU-only machine is refused too (no float16 units; use ``float32`` or ``mixed_bfloat16``).

Under a mixed policy layers compute in 16 bits and keep float32 variables. The discriminator's
logits, the classifier and VAE heads and every loss must stay float32: give those output layers
``dtype="float32"``, or wrap a built model with :func:`float32_outputs`, and check with
:func:`check_float32_outputs`. The suite's losses (:mod:`exagan_tf.core.losses`) cast logits to
float32 before the cross-entropy. With ``mixed_float16`` the optimizers need loss scaling
(``keras.optimizers.LossScaleOptimizer``); ``bfloat16`` has float32's exponent range and needs
none.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from pathlib import Path

import keras

from exagan_tf.errors import UserError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (x86 ``flags``, Arm ``Features``); empty when
    unknown (not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


def cpu_supports_bfloat16(flags: set[str] | None = None) -> bool:
    """True when this CPU does bfloat16 arithmetic natively (see the module docstring)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in _BF16_FLAGS)


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(value: str, *, gpu: bool | None = None,
                      bf16_cpu: bool | None = None) -> str:
    """The Keras policy name for a config value (``auto`` resolved; unsupported refused).

    Args:
        value: float32 | mixed_float16 | mixed_bfloat16 | auto.
        gpu: whether a GPU is visible (default: ask TensorFlow).
        bf16_cpu: whether the CPU has native bfloat16 (default: :func:`cpu_supports_bfloat16`).
    """
    if value not in PRECISIONS:
        raise UserError(f"precision {value!r}: expected one of {', '.join(PRECISIONS)}")
    gpu = _has_gpu() if gpu is None else gpu
    if value == "auto":
        return "mixed_float16" if gpu else "float32"
    if value == "mixed_float16" and not gpu:
        raise UserError("precision 'mixed_float16': no GPU visible; on a CPU use float32 or "
                        "mixed_bfloat16 (where the CPU supports bfloat16)")
    if value == "mixed_bfloat16" and not gpu:
        bf16_cpu = cpu_supports_bfloat16() if bf16_cpu is None else bf16_cpu
        if not bf16_cpu:
            raise UserError(
                f"precision 'mixed_bfloat16': this CPU ({platform.machine()}) has no native "
                f"bfloat16 ({'/'.join(_BF16_FLAGS)} not in its flags); use float32"
            )
    return value


def apply_precision(value: str, **kwargs) -> str:
    """Resolve ``value`` and set it as Keras' global dtype policy; returns the policy name.

    Call before building the models (layers take the policy in force when they are created).
    """
    name = resolve_precision(value, **kwargs)
    keras.mixed_precision.set_global_policy(name)
    return name


@contextlib.contextmanager
def precision_scope(value: str, **kwargs) -> Iterator[str]:
    """:func:`apply_precision` for a ``with`` block; the previous global policy is restored."""
    previous = keras.mixed_precision.global_policy().name
    try:
        yield apply_precision(value, **kwargs)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def check_float32_outputs(model: keras.Model) -> None:
    """UserError naming the outputs of ``model`` that are not float32 (logits and heads must
    be, whatever the compute dtype)."""
    bad = [f"{t.name} ({t.dtype})" for t in keras.tree.flatten(model.outputs)
           if keras.backend.standardize_dtype(t.dtype) != "float32"]
    if bad:
        raise UserError(f"model '{model.name}': outputs {', '.join(bad)} are not float32; give "
                        "the output layers dtype='float32' (or use float32_outputs)")


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in ``keras.optimizers.LossScaleOptimizer`` when the global policy
    is ``mixed_float16`` (float16's narrow exponent range needs dynamic loss scaling); the
    optimizer itself under float32 or mixed_bfloat16. Call after :func:`apply_precision`."""
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def float32_outputs(model: keras.Model) -> keras.Model:
    """``model`` with a float32 linear ``Activation`` after every output that is not float32
    (Keras' recipe for mixed precision heads; a built-in layer, so safe_mode loads it).
    Returns ``model`` itself when every output already is float32."""
    outs = keras.tree.flatten(model.outputs)
    if all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in outs):
        return model
    new = [t if keras.backend.standardize_dtype(t.dtype) == "float32" else
           keras.layers.Activation("linear", dtype="float32", name=f"{model.name}_float32_{i}")(t)
           for i, t in enumerate(outs)]
    return keras.Model(model.inputs, new if len(new) > 1 else new[0], name=model.name)
