"""All statistics of a validation / generated pair in one call, the single definition used by
the training callbacks, ``python -m exagan_tf.analyze`` and the benchmarks.

The two power spectra are computed once (with the validation set's mean) and shared by the
spectrum chi-square and both fractional errors.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from exagan_tf.core.stats.batch import as_image_batch
from exagan_tf.core.stats.exagan_spectrum import power_spectrum_2d
from exagan_tf.core.stats.peaks import peak_chisq_per_bin
from exagan_tf.core.stats.pixels import (
    DEFAULT_MAX_PIXELS,
    chisq_hist,
    hist_chisq_per_bin,
    pixel_ks,
)
from exagan_tf.core.stats.spectrum_metrics import chisq_from_spectra, pk_mean_fractional_error


def summary_statistics(
    val_images: ArrayLike,
    gen_images: ArrayLike,
    *,
    mean: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    seed: int = 0,
) -> dict[str, float]:
    """All statistics of a validation / generated pair, the one definition used everywhere.

    Args:
        val_images, gen_images: ``(n, H, W)`` square images in counts space (the generated
            ones already inverse-transformed); the sets may differ in size.
        mean: ``mu`` of the power spectra; default the validation set's mean pixel value.
        max_pixels, seed: subsampling of :func:`pixel_ks`.

    Returns:
        ``chisq`` (original histogram chi-square), ``chisq_pspect`` (original spectrum
        chi-square), ``pk_frac_err`` (:func:`pk_mean_fractional_error` of the geometric-mean
        spectra), ``pk_frac_err_mean`` (the same for arithmetic-mean spectra), ``pixel_ks``
        (:func:`pixel_ks`), ``hist_chisq_dof`` (:func:`hist_chisq_per_bin`) and
        ``peak_chisq_dof`` (:func:`exagan_tf.core.stats.peaks.peak_chisq_per_bin`, peak counts
        of the fields smoothed by 1 pixel in 10 height bins), both chi-squares with sample errors
        when both sets have 2 or more images, else Poisson; all floats, lower is better.
        Non-finite generated pixels (a saturated tanh) make the two spectrum statistics
        non-finite (inf or nan); the pixel statistics ignore them.
    """
    v = as_image_batch(val_images, "val_images")
    g = as_image_batch(gen_images, "gen_images")
    mu = float(np.mean(v, dtype=np.float64)) if mean is None else float(mean)
    k, pv = power_spectrum_2d(v, mean=mu)
    _, pg = power_spectrum_2d(g, mean=mu)
    errors = "sample" if min(v.shape[0], g.shape[0]) >= 2 else "poisson"
    return {
        "chisq": chisq_hist(v, g),
        "chisq_pspect": chisq_from_spectra(pv, pg),
        "pk_frac_err": pk_mean_fractional_error(pv, pg, k, average="geometric"),
        "pk_frac_err_mean": pk_mean_fractional_error(pv, pg, k, average="mean"),
        "pixel_ks": pixel_ks(v, g, max_pixels=max_pixels, seed=seed),
        "hist_chisq_dof": hist_chisq_per_bin(v, g, errors=errors),
        "peak_chisq_dof": peak_chisq_per_bin(v, g, errors=errors),
    }
