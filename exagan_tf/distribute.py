"""Distribution strategy and data format from the config and the machine.

``distribute: auto`` gives MirroredStrategy when more than one GPU is present and the default
(single-device) strategy otherwise; ``mirrored`` asks for MirroredStrategy over every GPU, or over
every logical CPU device when there is no GPU (``EXAGAN_CPU_DEVICES=N`` splits the CPU into N
logical devices, which is how the Mirrored path is tested without GPUs); ``none`` forces one
device.
"""

from __future__ import annotations

import os

import tensorflow as tf

from exagan_tf.errors import UserError
from exagan_tf.runtime import split_cpu


def configure_devices() -> None:
    """Apply ``EXAGAN_CPU_DEVICES`` (logical CPU split) before TensorFlow touches the devices."""
    n = os.environ.get("EXAGAN_CPU_DEVICES")
    if not n:
        return
    if not n.isdigit() or int(n) < 1:
        raise UserError(f"EXAGAN_CPU_DEVICES={n!r}: expected a positive integer")
    try:
        split_cpu(int(n))
    except RuntimeError:
        pass  # devices already initialised in this process: keep what is there


def get_strategy(mode: str = "auto") -> tf.distribute.Strategy:
    """The strategy for ``mode`` in auto | none | mirrored (see the module docstring)."""
    configure_devices()
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "none" or (mode == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    if mode in ("auto", "mirrored"):
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    raise UserError(f"distribute={mode!r}: expected auto, none or mirrored")


def resolve_data_format(fmt: str) -> str:
    """``auto`` -> channels_first on a GPU (cuDNN's fast layout), channels_last on a CPU."""
    if fmt != "auto":
        return fmt
    return "channels_first" if tf.config.list_physical_devices("GPU") else "channels_last"
