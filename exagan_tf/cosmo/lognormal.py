"""A classical baseline for ExaGAN's fields: a lognormal field with the training set's P(k) and
one-point PDF (NumPy/SciPy only).

The model is a homogeneous, isotropic Gaussian field ``g`` of unit variance with a radial power
spectrum ``P_G(|k|)`` on the images' own periodic grid, turned into counts by a monotone map:

    x = Q(Phi(g))

with ``Phi`` the standard normal CDF and ``Q`` the quantile function of the training pixels. A
lognormal field ``exp(sigma g)`` has the same ranks as ``g`` (any monotone map does), so ``x`` is
exactly the *rank remapping of a lognormal field onto the training PDF*: the one-point PDF is the
training one by construction, the two-point statistics are those of the lognormal's ranks.

Why rank remapping and not Poisson sampling of ``nbar exp(g - sigma^2 / 2)``: the demo slices
are integer counts of ~1 particle per pixel whose pixel distribution (about two thirds empty
voxels, a tail to ~2000 in halo cores) is far from Poisson-lognormal: a Poisson-lognormal with
the training mean and variance cannot hold both the empty fraction and the tail, so its pixel
KS would stay far above the floor whatever P(k) it had. The quantile map matches the PDF exactly
and leaves only P(k) to fit.

Why an iterative fit of ``P_G``: the quantile map of a step-like PDF changes the correlation
function nonlinearly (the lognormal transform ``xi_G = ln(1 + xi)``, Coles & Jones 1991, is exact
only for a lognormal PDF). ``P_G`` therefore starts from the lognormal transform of the target's
correlation function and is corrected ``iterations`` times by the ratio of the target spectrum to
the spectrum of a sample of ``fit_images`` model fields, ``P_G <- P_G * (P_target / P_model)``.

The spectrum fitted is the training set's P(k): the mean over images of ``|FFT(x / mu - 1)|^2``,
``mu`` the training mean, in integer annuli of ``|k|`` around the zero frequency. Not the
geometric mean over images that ``summary_statistics`` reports as ``pk_frac_err``: with the PDF
fixed, the total power is fixed (Parseval), and real slices vary far more from image to image
(halo cores, cosmologies) than a stationary field, so their geometric mean lies 20-40% below
their mean at every k; fitting it drove the fit to a 25% error on the demo data. The corrections
use the same ``fit_images`` draws every time (common random numbers: without them the demo's
fit wandered between 6% and 13%), with the ratio's square root (the full ratio overshoots).
The demo data's mean P(k) is met to about 10% (two bins at k = 4, 5 stay 25-30% low), the
synthetic test case's to 4%. Parameters (the radial ``P_G``, the pixel distribution, the image
side) are stored in an ``.npz`` (:meth:`LognormalField.save`), never a pickle.

Images are produced in counts space, the space the statistics and ``analyze`` use; the DCGAN's
training transform ``s(x) = 2x / (x + a) - 1`` is monotone, so the rank remap is the same in
``s`` space (:meth:`LognormalField.sample` with ``datascale`` returns ``s(x)``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.special

from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path

#: Most distinct pixel values stored exactly; a PDF with more (continuous values) is stored as
#: this many quantiles, the extreme values kept.
MAX_VALUES = 65536
#: Ratio corrections of P_G in :func:`fit`.
ITERATIONS = 12
#: Model fields drawn per ratio correction.
FIT_IMAGES = 256
#: Power of the ratio applied per correction (1 overshoots: the quantile map is nonlinear).
DAMPING = 0.5
_FORMAT = "exagan_tf.lognormal/1"


def _radius(n: int) -> np.ndarray:
    """Integer |k| (in units of the fundamental) of each rfft2 mode of an n x n grid."""
    ky = np.fft.fftfreq(n) * n
    kx = np.fft.rfftfreq(n) * n
    return np.rint(np.hypot(ky[:, None], kx[None, :])).astype(np.int64)


def radial_spectrum(images: np.ndarray, mean: float) -> np.ndarray:
    """Mean over images of the radially binned ``|FFT(x / mean - 1)|^2``, per integer ``|k|``
    from 0 to the corner (bin 0 is the mean and left 0)."""
    x = np.asarray(images, dtype=np.float64)
    n = x.shape[-1]
    radius = _radius(n).ravel()
    nbins = int(radius.max()) + 1
    # each rfft mode but kx = 0 and kx = n/2 stands for two modes of the full plane
    weight = np.full((n, n // 2 + 1), 2.0)
    weight[:, 0] = 1.0
    if n % 2 == 0:
        weight[:, -1] = 1.0
    weight = weight.ravel()
    counts = np.bincount(radius, weights=weight, minlength=nbins)
    total = np.zeros(nbins)
    for start in range(0, x.shape[0], 64):
        f = np.fft.rfft2(x[start : start + 64] / mean - 1.0)
        power = (f.real**2 + f.imag**2).reshape(f.shape[0], -1)
        binned = np.stack([np.bincount(radius, weights=weight * p, minlength=nbins)
                           for p in power])
        binned[:, 1:] /= counts[1:]
        total += binned.sum(axis=0)
    out = total / x.shape[0]
    out[0] = 0.0
    return out


@dataclasses.dataclass
class LognormalField:
    """The fitted model: radial spectrum ``pk_gauss`` (per integer |k|) of the unit-variance
    Gaussian field; the training pixels' distribution as increasing ``values`` and the
    cumulative probability ``cdf`` of each (the last is 1); image side ``img_dim``."""

    pk_gauss: np.ndarray
    values: np.ndarray
    cdf: np.ndarray
    img_dim: int

    def gaussian(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` unit-variance Gaussian fields (n, img_dim, img_dim) with spectrum pk_gauss."""
        d = self.img_dim
        p2d = self.pk_gauss[_radius(d)]
        p2d = p2d / _mean_power(p2d, d)  # unit variance
        amp = np.sqrt(p2d)
        out = np.empty((n, d, d))
        for start in range(0, n, 64):
            white = rng.standard_normal((min(64, n - start), d, d))
            out[start : start + white.shape[0]] = np.fft.irfft2(
                np.fft.rfft2(white) * amp, s=(d, d)
            )
        return out

    def sample(self, n: int, seed: int = 0, datascale: float | None = None) -> np.ndarray:
        """``n`` fields (n, H, W) in counts space (float64 of the training values), or in the
        DCGAN's ``s(x) = 2x / (x + a) - 1`` space with ``datascale=a``."""
        if n < 1:
            raise UserError(f"n={n}: need at least one field")
        g = self.gaussian(n, np.random.default_rng(seed))
        idx = np.searchsorted(self.cdf, scipy.special.ndtr(g), side="right")
        x = self.values[np.minimum(idx, self.values.size - 1)]
        return x if datascale is None else 2.0 * x / (x + datascale) - 1.0

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the parameters as ``.npz`` atomically (never over a file unless ``overwrite``)."""
        with atomic_path(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, format=np.array(_FORMAT), pk_gauss=self.pk_gauss,
                         values=self.values, cdf=self.cdf, img_dim=np.array(self.img_dim))

    @classmethod
    def load(cls, path: str | Path) -> LognormalField:
        """Read parameters written by :meth:`save`; anything else is a one-line error."""
        try:
            with np.load(path, allow_pickle=False) as f:
                keys = set(f.files)
                if "format" not in keys or str(f["format"]) != _FORMAT:
                    raise UserError(f"{path}: not a lognormal field ('format' is not {_FORMAT})")
                missing = {"pk_gauss", "values", "cdf", "img_dim"} - keys
                if missing:
                    raise UserError(f"{path}: missing key(s) {', '.join(sorted(missing))}")
                model = cls(np.asarray(f["pk_gauss"], np.float64),
                            np.asarray(f["values"], np.float64),
                            np.asarray(f["cdf"], np.float64), int(f["img_dim"]))
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: cannot read lognormal parameters ({err})") from None
        need = int(_radius(model.img_dim).max()) + 1
        if model.pk_gauss.shape != (need,) or not np.all(np.isfinite(model.pk_gauss)):
            raise UserError(f"{path}: pk_gauss has shape {model.pk_gauss.shape}, expected "
                            f"({need},) finite values for img_dim {model.img_dim}")
        v, c = model.values, model.cdf
        if (v.ndim != 1 or v.shape != c.shape or v.size == 0 or np.any(np.diff(v) < 0)
                or np.any(np.diff(c) < 0) or not np.isclose(c[-1], 1.0)):
            raise UserError(f"{path}: values/cdf are not a non-decreasing 1-D table of one "
                            f"length ending at cdf 1 (shapes {v.shape}, {c.shape})")
        return model


def _mean_power(p2d: np.ndarray, d: int) -> float:
    """Mean over the full d x d plane of a spectrum given on the rfft2 half plane."""
    w = np.full(p2d.shape, 2.0)
    w[:, 0] = 1.0
    if d % 2 == 0:
        w[:, -1] = 1.0
    return float(np.sum(w * p2d) / (d * d))


def pixel_distribution(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, cdf)``: the distinct pixel values and their cumulative probabilities, exact
    (the tail of rare halo-core voxels carries much of the variance, hence of P(k)); with more
    than :data:`MAX_VALUES` distinct values, that many quantiles with the minimum and maximum."""
    values, counts = np.unique(np.asarray(images, np.float64).ravel(), return_counts=True)
    cdf = np.cumsum(counts) / counts.sum()
    if values.size > MAX_VALUES:
        probs = np.linspace(0.0, 1.0, MAX_VALUES)
        values = values[np.minimum(np.searchsorted(cdf, probs), values.size - 1)]
        cdf = np.linspace(1.0 / MAX_VALUES, 1.0, MAX_VALUES)
    cdf[-1] = 1.0
    return values, cdf


def lognormal_transform(pk_target: np.ndarray, d: int) -> np.ndarray:
    """The Gaussian spectrum whose lognormal field has the spectrum ``pk_target`` (radial, per
    integer |k|): ``xi_G = ln(1 + xi)`` on the grid, negative powers clipped to 0."""
    p2d = pk_target[_radius(d)] / (d * d)  # |FFT|^2 / N^2: the per-mode variance
    xi = np.fft.irfft2(p2d, s=(d, d)) * d * d
    xi = np.maximum(xi, -0.999)  # ln(1 + xi) needs xi > -1
    pg = np.fft.rfft2(np.log1p(xi)).real
    pg = np.maximum(pg, 0.0)
    r = _radius(d).ravel()
    counts = np.bincount(r)
    radial = np.bincount(r, weights=pg.ravel()) / np.maximum(counts, 1)
    radial[0] = 0.0
    # Where the transform clips (a non-lognormal PDF can give negative powers), start from a
    # tenth of the target's shape instead: a zero power would stay zero under ratio corrections.
    shape = pk_target * (radial[1:].mean() / max(pk_target[1:].mean(), 1e-300))
    return np.maximum(radial, 0.1 * shape)


def fit(train_images: np.ndarray, iterations: int = ITERATIONS, fit_images: int = FIT_IMAGES,
        seed: int = 0) -> tuple[LognormalField, list[float]]:
    """Fit the model to training images (n, d, d) in counts space (see the module docstring).

    Returns the model and, per iteration, the mean |P_model / P_target - 1| over k bins of the
    spectrum it was corrected from (the last entry: after the last correction).
    """
    x = np.asarray(train_images, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.shape[0] < 2:
        raise UserError(f"training images: shape {x.shape}, expected (n >= 2, d, d)")
    if not np.all(np.isfinite(x)):
        raise UserError("training images: non-finite pixel values")
    d = x.shape[1]
    mean = float(x.mean())
    if mean <= 0:
        raise UserError(f"training images: mean pixel value {mean}, expected > 0 (counts)")
    values, cdf = pixel_distribution(x)
    target = radial_spectrum(x, mean)
    model = LognormalField(lognormal_transform(target, d), values, cdf, d)
    use = target > 0
    errors = []
    for i in range(iterations + 1):
        # the same draws every time (common random numbers): the corrections see no sampling noise
        got = radial_spectrum(model.sample(fit_images, seed=seed), mean)
        errors.append(float(np.mean(np.abs(got[use] / target[use] - 1.0))))
        if i == iterations:
            break
        ratio = np.where(use & (got > 0), target / np.where(got > 0, got, 1.0), 1.0)
        model.pk_gauss = model.pk_gauss * ratio**DAMPING
    return model, errors


#: Training images a run's baseline is fitted on (the first ones of the sorted shards).
RUN_TRAIN_IMAGES = 4096


def for_run(run_dir: str | Path, cfg) -> LognormalField:
    """The baseline of an ExaGAN run: ``analysis/lognormal.npz`` in the run when present, else
    fitted on the first :data:`RUN_TRAIN_IMAGES` training images of the run's data and written
    there (never over an existing file)."""
    from exagan_tf.cosmo import data as cosmo_data

    path = Path(run_dir) / "analysis" / "lognormal.npz"
    if path.exists():
        model = LognormalField.load(path)
        if model.img_dim != cfg.img_dim:
            raise UserError(f"{path}: img_dim {model.img_dim}, the run's is {cfg.img_dim}")
        return model
    files = cosmo_data.shard_files(cfg.datadir, cfg.dataname, "train")
    model, _ = fit(cosmo_data.read_images(files, RUN_TRAIN_IMAGES, cfg.img_dim), seed=cfg.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model
