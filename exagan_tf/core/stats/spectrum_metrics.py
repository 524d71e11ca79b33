"""Comparisons of two sets' power spectra: the original chi-square and the fractional error.

:func:`chisq_pspect` (and :func:`chisq_from_spectra` on precomputed spectra) is the original
ExaGAN ``sum_k (mean_gen - mean_val)**2 / mean_val`` of set-mean spectra.
:func:`pk_mean_fractional_error` is the mean of ``|P_gen / P_val - 1|`` over k, with arithmetic
or geometric set averages; the geometric one is the default of the summary because in counts
space the arithmetic mean is dominated by the rare images through a halo core (two halves of one
validation set differ by about 20% in the arithmetic mean, about 1% in the geometric one).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from exagan_tf.core.stats.batch import as_image_batch
from exagan_tf.core.stats.exagan_spectrum import power_spectrum_2d
from exagan_tf.errors import UserError


def chisq_from_spectra(val_pk: ArrayLike, gen_pk: ArrayLike) -> float:
    """The original spectrum chi-square from per-image spectra ``(n, nk)`` of the two sets:
    ``sum_k (mean_gen - mean_val)**2 / mean_val``."""
    val_mean = np.mean(np.asarray(val_pk, dtype=np.float64), axis=0)
    gen_mean = np.mean(np.asarray(gen_pk, dtype=np.float64), axis=0)
    return float(np.sum((gen_mean - val_mean) ** 2 / val_mean))


def chisq_pspect(
    val_images: ArrayLike, gen_images: ArrayLike, *, mean: float | None = None
) -> float:
    """The original power-spectrum chi-square (see :func:`chisq_from_spectra`).

    Both sets in counts space; both spectra use the same ``mu`` (the validation set's mean pixel
    value unless ``mean`` is given), as the original used one constant for both. Not
    dimensionless: it scales with P, i.e. with the number of pixels per image.
    """
    v = as_image_batch(val_images, "val_images")
    mu = float(np.mean(v, dtype=np.float64)) if mean is None else float(mean)
    _, pv = power_spectrum_2d(v, mean=mu)
    _, pg = power_spectrum_2d(gen_images, mean=mu)
    return chisq_from_spectra(pv, pg)


def _set_spectrum(pk: np.ndarray, average: str) -> np.ndarray:
    pk = np.asarray(pk, dtype=np.float64)
    if pk.ndim == 1:
        return pk
    if average == "mean":
        return pk.mean(axis=0)
    if average == "geometric":
        # A constant image has zero power: floor it so its log is finite and it scores as
        # "no power" (fractional error 1) instead of breaking the average.
        tiny = np.finfo(np.float64).tiny
        return np.exp(np.log(np.maximum(pk, tiny)).mean(axis=0))
    raise ValueError(f"average={average!r}: expected 'mean' or 'geometric'")


def pk_mean_fractional_error(
    val_pk: ArrayLike, gen_pk: ArrayLike, k: ArrayLike | None = None, average: str = "mean"
) -> float:
    """Mean over k bins of ``|P_gen / P_val - 1|`` for set-averaged spectra (0 is perfect).

    Args:
        val_pk, gen_pk: per-image spectra ``(n, nk)`` (or set averages ``(nk,)``) on the same bins.
        k: the bins' wavenumbers; bins with ``k == 0`` (the mean, if a binning includes it) are
            excluded. The spectra of this module never contain a k = 0 bin.
        average: how a set's spectra are averaged. ``"mean"``: the arithmetic mean, which in
            counts space is dominated by the few images that cut through a massive halo core (one
            2000-count voxel adds 4e6 to every bin), so two halves of a validation set of a few
            hundred 64^2 images already differ by about 20%. ``"geometric"``: exp(mean ln P), the
            typical image's spectrum, robust to those rare images (floor about 1% on the same
            halves); the heavy tail itself is judged by the pixel statistics.
    """
    val_mean = _set_spectrum(val_pk, average)
    gen_mean = _set_spectrum(gen_pk, average)
    if val_mean.shape != gen_mean.shape:
        raise UserError(f"spectra: bins differ, {val_mean.shape} vs {gen_mean.shape}")
    use = val_mean != 0
    if k is not None:
        use &= np.asarray(k) != 0
    return float(np.mean(np.abs(gen_mean[use] / val_mean[use] - 1.0)))
