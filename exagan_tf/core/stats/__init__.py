"""Statistics of 2-D fields: power and cross spectra, r(k), pixel histograms and chi-squares.

Every function is batched: it takes a stack of images ``(n, H, W)`` (a single ``(H, W)`` image,
or ``(n, H, W, 1)`` / ``(n, 1, H, W)`` with a singleton channel axis, are accepted too) and works
on the whole stack with one FFT call and one binning product, never a Python loop over images.

Two families live here.

*The original ExaGAN metrics* (pzharrington/ExaGAN ``utils/plots.py``), reproduced number for
number so that runs can be compared with the paper's training curves:

- :func:`pixel_histogram` / :func:`chisq_hist`: 25 linear bins spanning the minimum to maximum
  pixel value of the *validation* set, raw (unnormalised) counts; the generated set is binned
  into the same edges; ``chisq = sum((val - gen)**2 / val)`` over all but the last 5 bins.
- :func:`power_spectrum_2d` / :func:`chisq_pspect`: ``|FFT2((x - mu) / mu)|**2`` (fft-shifted,
  unnormalised) averaged in integer-radius annuli around the original's centre, the point
  ``((N - 1) / 2, (N - 1) / 2)`` half a pixel away from the zero frequency. ``mu`` is one mean
  pixel value for the whole data set (the original hard-codes 0.9998563, the mean of its
  training + validation counts), not a per-image mean. ``chisq_pspect = sum((gen_mean -
  val_mean)**2 / val_mean)`` over all k bins of the set-mean spectra.

Both metrics take images in *counts space*: the physical particle counts per pixel, i.e. the
validation data as stored and the generator output after the inverse transform
``s -> a (1 + s) / (1 - s)``. They are sensitive to the number of images and to the amplitude of
P(k), which is why better-behaved statistics are reported beside them:
:func:`pk_mean_fractional_error`, :func:`pixel_ks` and :func:`hist_chisq_per_bin`, and one
higher-order statistic, :func:`peak_chisq_per_bin` (peak counts: a field with the right P(k) and
pixel PDF but no collapsed structure, the lognormal baseline, passes the three others).
:func:`summary_statistics` computes all of them for a validation/generated pair and is the single
definition used by the training callbacks, ``python -m exagan_tf.analyze`` and the benchmarks.

*General spectra* for the other systems (baryon tiles, CMB maps): :func:`cross_power_spectrum_2d`
and :func:`cross_correlation_coefficient`, binned around the true zero frequency, normalised as a
continuous Fourier transform (see there), with physical wavenumbers when a box size is given.

A package of one job per module: :mod:`.batch` (input handling, the chunked real FFT),
:mod:`.exagan_spectrum` (the original power spectrum), :mod:`.cross_spectra` (general cross
spectra and r(k)), :mod:`.pixels` (pixel histograms, their chi-squares, the KS statistic),
:mod:`.spectrum_metrics` (spectrum chi-square and fractional error), :mod:`.peaks` (peak
counts of the smoothed field in height bins, the higher-order statistic) and :mod:`.summary`
(:func:`summary_statistics`). Every name is re-exported here, so
``from exagan_tf.core import stats; stats.power_spectrum_2d(...)`` works.
"""

from __future__ import annotations

from exagan_tf.core.stats.batch import (  # noqa: F401
    _CHUNK,
    _WORKERS,
    _chunks,
    _rfft2,
    as_image_batch,
)
from exagan_tf.core.stats.cross_spectra import (  # noqa: F401
    _binned_spectra,
    _box_lengths,
    _radial_binning,
    cross_correlation_coefficient,
    cross_power_spectrum_2d,
)
from exagan_tf.core.stats.exagan_spectrum import (  # noqa: F401
    ORIGINAL_GLOBAL_MEAN,
    original_binning,
    power_spectrum_2d,
    power_spectrum_original,
)
from exagan_tf.core.stats.peaks import (  # noqa: F401
    PEAK_BINS,
    PEAK_SMOOTHING,
    candidate_pixels,
    peak_bin_edges,
    peak_chisq_per_bin,
    peak_counts,
    peak_heights,
    peak_mask,
    smooth_fields,
)
from exagan_tf.core.stats.pixels import (  # noqa: F401
    DEFAULT_MAX_PIXELS,
    ORIGINAL_HIST_BINS,
    ORIGINAL_HIST_SKIP_LAST,
    _finite_range,
    _hist_pair,
    _histogram_equal_edges,
    _identity,
    _per_image_counts,
    _pixel_sample,
    chisq_hist,
    hist_chisq_per_bin,
    pixel_histogram,
    pixel_ks,
)
from exagan_tf.core.stats.spectrum_metrics import (  # noqa: F401
    _set_spectrum,
    chisq_from_spectra,
    chisq_pspect,
    pk_mean_fractional_error,
)
from exagan_tf.core.stats.summary import (  # noqa: F401
    summary_statistics,
)
