"""The original ExaGAN power spectrum, per image (the reference) and batched.

:func:`power_spectrum_original` re-implements the original's per-image ``power_spectrum`` +
``azimuthalAverage`` step by step (full FFT, fftshift, annuli around the point
``((N - 1) / 2, (N - 1) / 2)``, bin sums from a sorted cumulative sum); it is the reference.
:func:`power_spectrum_2d` computes the same numbers (to ~1e-12 relative) for a whole stack with
one real FFT per chunk of images and the sparse annulus matrix of :func:`original_binning`,
which maps every pixel of the full grid through Hermitian symmetry onto the ``rfft2`` element
holding its value. The batched path is measured in ``benchmarks/bench_stats.py`` against the
reference.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fftpack
import scipy.sparse
from numpy.typing import ArrayLike

from exagan_tf.core.stats.batch import _chunks, _rfft2, as_image_batch
from exagan_tf.errors import UserError

#: Mean pixel value the original code hard-codes as ``GLOBAL_MEAN`` (mean particle count per
#: pixel of its CosmoFlow training + validation slices). Pass ``mean=ORIGINAL_GLOBAL_MEAN`` to
#: reproduce the original numbers exactly; by default the validation set's own mean is used.
ORIGINAL_GLOBAL_MEAN = 0.9998563


def power_spectrum_original(
    image: ArrayLike, *, mean: float = ORIGINAL_GLOBAL_MEAN, subtract_mean: bool = True
) -> np.ndarray:
    """Power spectrum of one image by the original per-image algorithm (the reference).

    Re-implements ExaGAN's ``power_spectrum`` + ``azimuthalAverage`` step by step: full complex
    FFT (``scipy.fftpack.fft2``), ``fftshift``, ``|F|**2``, radii from the point
    ``((W - 1) / 2, (W - 1) / 2)``, pixels sorted by radius, and bin sums taken as differences
    of a cumulative sum at the places where the integer radius changes. That construction drops
    the first (r < 1, holding the zero frequency) and the last distinct integer radius.

    It is slow (a sort per image) and kept only as the reference that :func:`power_spectrum_2d`
    is tested and benchmarked against. Unlike the original, which computed in its input's
    precision, it always computes in float64.

    Args:
        image: one ``(N, N)`` image in counts space.
        mean: the mean pixel value ``mu`` used to form ``(x - mu) / mu``.
        subtract_mean: if False, transform the raw pixel values instead.

    Returns:
        ``pk`` of shape ``(nk,)``; bin ``j`` averages the pixels whose distance from the
        centre lies in ``[k_j, k_j + 1)`` with ``k_j`` the ``(j + 1)``-th distinct integer radius
        (``k`` as returned by :func:`power_spectrum_2d`; the original labelled them
        ``0 .. nk - 1``).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        img = np.squeeze(img)
    if subtract_mean:
        img = (img - mean) / mean
    pspec2d = np.abs(scipy.fftpack.fftshift(scipy.fftpack.fft2(img))) ** 2
    y, x = np.indices(pspec2d.shape)
    centre = (x.max() - x.min()) / 2.0  # the original uses the x extent for both coordinates
    radius = np.hypot(x - centre, y - centre)
    order = np.argsort(radius.flat)
    r_int = radius.flat[order].astype(int)
    values = pspec2d.flat[order]
    last_of_bin = np.where(r_int[1:] != r_int[:-1])[0]  # last index of each radius but the final
    n_in_bin = last_of_bin[1:] - last_of_bin[:-1]
    csum = np.cumsum(values, dtype=float)
    return (csum[last_of_bin[1:]] - csum[last_of_bin[:-1]]) / n_in_bin


@functools.lru_cache(maxsize=8)
def original_binning(n: int) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """Integer radii ``k`` and the sparse ``(N (N/2 + 1), nk)`` map from the ``rfft2`` power
    ``|F|**2`` (flattened) to annulus means.

    The original bins the fft-shifted *full* spectrum around a centre half a pixel off the zero
    frequency, so its annuli are not symmetric under k -> -k and the usual "weight 2 for the
    half plane" shortcut does not apply. Instead every pixel of the full grid is sent, through
    Hermitian symmetry ``P(-k) = P(k)`` of a real image, to the rfft2 element holding its value;
    the matrix then sums those elements into their annuli with weight 1 / (pixels in annulus).
    The result equals the original's full-grid average exactly, up to summation order.
    """
    c = (n - 1) / 2.0
    ys, xs = np.indices((n, n))  # positions in the fft-shifted grid
    r_int = np.hypot(xs - c, ys - c).astype(np.int64)
    radii, inverse, counts = np.unique(r_int.ravel(), return_inverse=True, return_counts=True)
    # The original keeps every distinct radius except the first and the last.
    k = radii[1:-1].astype(np.float64)
    out_bin = inverse - 1
    keep = (out_bin >= 0) & (out_bin < k.size)

    # fftshift rolls by n // 2: shifted index s holds unshifted frequency index (s - n//2) % n.
    iu = ((ys - n // 2) % n).ravel()
    ju = ((xs - n // 2) % n).ravel()
    mirror = ju > n // 2  # columns rfft2 does not store: use the conjugate-symmetric partner
    ir = np.where(mirror, (-iu) % n, iu)
    jr = np.where(mirror, (-ju) % n, ju)
    half = n // 2 + 1
    rows = (ir * half + jr)[keep]
    cols = out_bin[keep]
    weights = 1.0 / counts[1:-1][cols]
    matrix = scipy.sparse.csr_matrix((weights, (rows, cols)), shape=(n * half, k.size))
    return k, matrix


def power_spectrum_2d(
    images: ArrayLike,
    *,
    subtract_mean: bool = True,
    mean: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ExaGAN's azimuthally averaged power spectrum of a stack of square images, batched.

    Equals :func:`power_spectrum_original` applied image by image (to ~1e-12 relative), but
    uses one real FFT per chunk of images and a precomputed sparse annulus matrix.

    Conventions (the original's): ``P = |FFT2(delta)|**2`` with ``delta = (x - mu) / mu``,
    unnormalised numpy FFT (so P scales with the number of pixels), averaged over annuli
    ``k <= r < k + 1`` of the distance r in pixels from ``((N-1)/2, (N-1)/2)`` in the fft-shifted
    grid. The zero-frequency pixel is never in a returned bin. Because that centre is half a
    pixel off the zero frequency, the two Hermitian partners of a Fourier mode can land in
    adjacent annuli: a pure cosine of wavenumber m along an axis shows up in bins ``k = m - 1``
    and ``k = m`` (a quirk of the original kept for comparability; use
    :func:`cross_power_spectrum_2d` for an unbiased binning).

    Args:
        images: ``(n, N, N)`` (or ``(N, N)``) images in counts space.
        subtract_mean: form ``delta = (x - mu) / mu`` first (the original); if False transform
            the raw values.
        mean: ``mu``. None (the default) uses the mean pixel value of the whole stack given, one
            number for all images as in the original (never a per-image mean). Pass the
            validation mean when computing a generated set's spectrum, or
            :data:`ORIGINAL_GLOBAL_MEAN` to reproduce the original exactly.

    Returns:
        ``(k, pk)``: ``k`` ``(nk,)`` the integer radius of each annulus in units of the
        fundamental frequency 2 pi / N (the original labelled these bins ``k - 1``), and ``pk``
        ``(n, nk)`` float64. For 128 x 128 images ``k = 1 .. 88``.
    """
    x = as_image_batch(images)
    n, h, w = x.shape
    if h != w:
        raise UserError(
            f"images: shape {x.shape[1:]} is not square; the original ExaGAN binning is defined "
            "for square images (use cross_power_spectrum_2d for rectangular fields)"
        )
    mu = 1.0
    if subtract_mean:
        mu = float(np.mean(x, dtype=np.float64)) if mean is None else float(mean)
        if not np.isfinite(mu) or mu == 0.0:
            raise UserError(f"power spectrum: mean pixel value {mu} cannot normalise the images")
    k, matrix = original_binning(h)
    pk = np.empty((n, k.size), dtype=np.float64)
    # FFT((x - mu) / mu) = FFT(x - mu) / mu: the division is applied to the binned power (one
    # multiplication per bin instead of one per pixel); equal to ~1e-15 relative.
    scale = 1.0 / (mu * mu)
    for sl in _chunks(n):
        # a private float64 array, from any input dtype, in one pass
        block = np.subtract(x[sl], mu if subtract_mean else 0.0, dtype=np.float64)
        f = _rfft2(block)
        power = np.square(f.real)
        power += np.square(f.imag)
        pk[sl] = power.reshape(power.shape[0], -1) @ matrix  # dense @ sparse, no transpose
        pk[sl] *= scale
    return k, pk
