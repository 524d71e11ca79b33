"""Learning-rate schedules shared by the training loops (serialisable Keras schedules)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="exagan_tf")
class LinearTailDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then a linear decay to zero over the last ``decay_steps`` of
    ``total_steps`` optimizer updates (the schedule of pix2pix and CycleGAN).

    ``lr(t) = initial * clip((total_steps - t) / decay_steps, 0, 1)``, with ``t`` the optimizer's
    own update count, so a resumed run continues the same schedule from its restored optimizer.
    A GAN ending on a small learning rate settles instead of stopping mid-oscillation.
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, decay_steps: int):
        if total_steps < 1 or not 0 < decay_steps <= total_steps:
            raise ValueError(
                f"LinearTailDecay: need 0 < decay_steps ({decay_steps}) <= total_steps "
                f"({total_steps})"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        t = keras.ops.cast(step, "float32")
        left = (self.total_steps - t) / float(self.decay_steps)
        return self.initial_learning_rate * keras.ops.clip(left, 0.0, 1.0)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "decay_steps": self.decay_steps,
        }


def learning_rate(initial: float, total_steps: int | None, decay_fraction: float):
    """``initial`` as a constant, or a :class:`LinearTailDecay` over the last ``decay_fraction``
    of ``total_steps`` updates (constant when either is 0 or ``total_steps`` is unknown)."""
    if not decay_fraction or not total_steps:
        return initial
    return LinearTailDecay(initial, total_steps, max(1, round(decay_fraction * total_steps)))
