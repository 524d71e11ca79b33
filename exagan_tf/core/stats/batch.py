"""Input handling and the chunked real FFT shared by every statistic of :mod:`exagan_tf.core.stats`.

:func:`as_image_batch` turns ``(H, W)``, ``(n, H, W)``, ``(n, H, W, 1)`` or ``(n, 1, H, W)`` input
into one ``(n, H, W)`` stack (raising :class:`~exagan_tf.errors.UserError` otherwise), so every
statistic is batched. The spectra transform that stack in chunks of ``_CHUNK`` images with
:func:`_rfft2` (rows then columns, bit-identical to ``scipy.fft.rfft2`` and measured 1.7x faster
on 128 x 128 images); the chunk size is the measured optimum (see the comment below).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike

from exagan_tf.errors import UserError

# Images per FFT call: small enough for the work arrays (16 x 128 x 65 x 16 B = 2 MB) to stay
# in cache, large enough to amortise the per-call overhead (8-16 measured fastest; 64 was 2x
# slower on 128^2 images).
_CHUNK = 16
_WORKERS = max(1, min(8, os.cpu_count() or 1))


def as_image_batch(images: ArrayLike, name: str = "images") -> np.ndarray:
    """Return ``images`` as a ``(n, H, W)`` array (no copy where possible).

    Accepts ``(H, W)``, ``(n, H, W)``, and ``(n, H, W, 1)`` or ``(n, 1, H, W)`` (a singleton
    channel axis, either data format). Raises :class:`UserError` for anything else.
    """
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4:
        if x.shape[-1] == 1:
            x = x[..., 0]
        elif x.shape[1] == 1:
            x = x[:, 0]
        else:
            raise UserError(
                f"{name}: shape {x.shape} has no singleton channel axis; expected (n, H, W), "
                "(n, H, W, 1) or (n, 1, H, W)"
            )
    if x.ndim != 3 or x.shape[0] == 0 or min(x.shape[1:]) < 2:
        raise UserError(
            f"{name}: shape {np.shape(images)} is not a non-empty stack of 2-D images; "
            "expected (n, H, W) with H, W >= 2"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise UserError(f"{name}: dtype {x.dtype} is not numeric")
    return x


def _rfft2(block: np.ndarray) -> np.ndarray:
    """``scipy.fft.rfft2`` over the last two axes, done as rows then columns in place.

    Bit-identical to ``rfft2`` (the same transforms), but measured 1.7x faster on stacks of
    128 x 128 images.
    """
    f = scipy.fft.rfft(block, axis=-1, workers=_WORKERS)
    return scipy.fft.fft(f, axis=-2, overwrite_x=True, workers=_WORKERS)


def _chunks(n: int):
    for start in range(0, n, _CHUNK):
        yield slice(start, min(start + _CHUNK, n))
