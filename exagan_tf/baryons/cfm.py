"""The baryon painters' conditional flow matching (``model: cfm``): a U-Net velocity field
``v(y, t | T(dm), z)`` trained by rectified flow, painting by integrating its ODE from noise.

Same data, same condition as the CVAE and the CGAN (:mod:`exagan_tf.baryons.data`): the
two-channel condition [T(dm), z + z_offset] (z - 1, balanced on z in [0, 2], as the CGAN's)
is concatenated to the noisy state as channels of the U-Net
(:func:`exagan_tf.core.flow_matching.build_unet`); the target is the transformed pressure
``T(p)`` of :mod:`exagan_tf.baryons.transforms`, with ``transform_shift`` moving the background
(84% of the pixels have T < 0.01) to about 0, mapped to the flow's space as
``y = fm_scale * T``. Flow matching regresses ``y1 - y0`` along ``y_t = (1 - t) y0 + t y1``
with ``y0 ~ N(0, I)``; its noise must be on the data's scale or the paths carry almost all of
the noise away and the conditional detail is a small difference of large numbers. ``fm_scale``
(``experiments/baryons.yaml``) puts the training targets' standard deviation near 1.

A painting is one draw: ``fm_steps`` Heun steps (two network evaluations each) of
``dy/dt = v`` from a draw of ``y0`` seeded by the painter's ``seed`` (NumPy's stream); draws
with different seeds differ by what the flow learnt of the conditional scatter, the same seed
repeats the same map. The number of steps is a config key, recorded with the run and used by
the monitor, ``analyze``, ``paint`` (``--steps`` overrides it) and ``generate``. The demo's 8
(half the core's default of 16): on the trained ``cfm_demo`` at z = 0, r against the truth is
0.69 at 8 steps and 0.67 at 16, at half the cost; fewer steps (0.73 at 4, 0.76 at 2) stop
nearer the conditional mean and paint worse spectra (auto-spectrum error 0.15 at 8, 0.43 at 2).

Measured on the CPU demo at the CVAE's training cost (README, "Baryon painting"): the flow
does not yet reach the CVAE's r, and its draws spread far more than the truth's scatter in the
low-pressure background, where its regression error is larger than the pressure itself.

There are no new layers: the velocity network is built of the core's registered layers and
built-in ones, saved whole as ``velocity_final.keras`` and loaded with ``safe_mode``.
"""

from __future__ import annotations

import numpy as np


def build_velocity(tile: int, widths, data_format: str = "channels_last"):
    """The velocity U-Net for ``tile``-pixel tiles: inputs ``[y (tile, tile, 1), t (1,),
    condition (tile, tile, 2)]``, output ``v`` of the shape of ``y`` (channels_last only)."""
    from exagan_tf.core.flow_matching import build_unet
    from exagan_tf.errors import UserError

    if data_format != "channels_last":
        raise UserError(f"data format {data_format}: the flow's U-Net is channels_last only "
                        "(set datafmt: channels_last)")
    return build_unet(tile, 1, tuple(int(w) for w in widths), cond_channels=2,
                      name="velocity")


def paint_transformed(velocity, cond: np.ndarray, scale: float, steps: int, seed: int,
                      batch_size: int = 32) -> np.ndarray:
    """T(pressure) (n, H, W) of one draw of the flow for conditions ``cond`` (n, H, W, 2):
    the ODE from ``y0 ~ N(0, I)`` (seeded by ``seed``) to ``t = 1`` in ``steps`` Heun steps,
    divided by ``scale``."""
    from exagan_tf.core.flow_matching import sample

    y = sample(velocity, len(cond), seed=seed, steps=steps, method="heun",
               conditions=[cond], batch_size=batch_size)
    return np.asarray(y[..., 0], dtype=np.float64) / scale
