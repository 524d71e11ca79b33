"""Flat-sky lensed CMB polarisation maps: lensed Q, U (inputs) with unlensed E, B and kappa.

The 12,000 maps of the original astroDGAN / DeepCMB work cannot be had, so this module makes maps
of the same kind from CAMB spectra.

Conventions (one throughout the package)
----------------------------------------
* A map is an array ``[..., iy, ix]``: rows are y, columns are x, pixels of side
  ``pixel = ndeg / npix`` degrees; pixel ``(iy, ix)`` sits at ``(iy, ix) * pixel``. Fourier
  modes are ``ell_x = 2 pi rfftfreq(npix, pixel_rad)`` (columns) and ``ell_y = 2 pi
  fftfreq(npix, pixel_rad)`` (rows), ``phi_ell = atan2(ell_y, ell_x)``.
* Gaussian field of spectrum C_ell (Hu & Okamoto 2002 flat-sky normalisation):
  ``X = irfft2(rfft2(w) * sqrt(C(|ell|) / (dx dy)))`` with ``w ~ N(0, 1)`` per pixel, so the
  binned spectrum ``(dx dy / N) |FFT X|^2`` (:func:`exagan_tf.cmb.spectra.binned_spectra`, the
  continuous-FT normalisation of :func:`exagan_tf.core.stats.cross_power_spectrum_2d` with the box
  in radians) averages to C_ell.
* E/B <-> Q/U (Zaldarriaga & Seljak 1997, flat sky)::

      E = Q cos 2phi + U sin 2phi          Q = E cos 2phi - B sin 2phi
      B = -Q sin 2phi + U cos 2phi         U = E sin 2phi + B cos 2phi

  so a pure-E plane wave along x is pure Q, along the diagonal pure U.
* Lensing potential phi and convergence: ``kappa = -1/2 lap phi``, i.e. ``phi_ell = 2 kappa_ell /
  ell^2``; deflection ``d = grad phi`` (radians); lensed field ``X~(x) = X(x + d(x))``
  (Lewis & Challinor 2006, eq. 4.1). C_ell^kk = [ell (ell + 1)]^2 C_ell^phiphi / 4.
* Beam: Gaussian of full width at half maximum theta (radians), ``b_ell = exp(-ell (ell + 1)
  theta^2 / (16 ln 2))``, applied to the lensed Q, U only.
* White noise of ``Delta_T`` uK-arcmin: polarisation maps get ``Delta_P = sqrt(2) Delta_T``, a
  pixel standard deviation ``Delta_P / pixel[arcmin]`` (added at load time, see
  :mod:`exagan_tf.cmb.data`, so one file serves every noise level).
* Units: Q, U, E, B in micro-Kelvin (CMB temperature units), kappa dimensionless.

How a map is made
-----------------
Unlensed E, B (B from tensors, ratio ``r``) and kappa are drawn on a periodic box ``pad`` times
larger per side than the map (so lenses and the deflected positions reach beyond the map's
edges, and the map has super-map modes as a patch of the sky does). Q, U follow from E, B; they
are remapped at ``x + grad phi`` by a quintic B-spline interpolation on the periodic box
(:func:`scipy.ndimage.map_coordinates`, ``order=5``, ``mode="grid-wrap"``), beamed, and the
central ``npix^2`` pixels of every channel are kept. E and kappa are drawn independently (their
weak correlation through the ISW/reionisation terms is ignored).

File layout (``python -m exagan_tf.cmb.simulate --out data/cmb/cmb_maps.h5``)
----------------------------------------------------------------------------
``maps``         float32 ``(n, npix, npix, 5)``, channels last in the order ``q, u, e, k, b``
``maps.attrs["channels"]`` = ``"quekb"``; the file attributes hold ``npix``, ``ndeg``, ``pad``,
``r``, ``beam_arcmin``, ``seed``, ``lmax``, the cosmology and the code version.
``spectra/ell`` and ``spectra/{ee, bb, pp, kk, lensed_ee, lensed_bb}``: the CAMB spectra used
(raw C_ell, uK^2; pp and kk dimensionless), so the data carry their own theory.
Map ``i`` of seed ``s`` is made from ``numpy.random.SeedSequence([s, i])`` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.fft
from scipy import ndimage

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import atomic_path, open_h5

CHANNELS = "quekb"  # stored channel order
ARCMIN = np.pi / (180.0 * 60.0)  # radians per arcminute
VERSION = 1


@dataclasses.dataclass(frozen=True)
class Cosmology:
    """Flat LambdaCDM parameters passed to CAMB (Planck 2018-like defaults)."""

    H0: float = 67.5
    ombh2: float = 0.022
    omch2: float = 0.122
    tau: float = 0.06
    As: float = 2.1e-9
    ns: float = 0.965


@dataclasses.dataclass(frozen=True)
class SimParams:
    """What a simulated data set is.

    Attributes:
        npix: map side in pixels (128 in DeepCMB / astroDGAN).
        ndeg: map side in degrees (5).
        pad: the periodic box is ``pad * npix`` pixels per side before cropping.
        r: tensor-to-scalar ratio of the primordial B modes.
        beam_arcmin: FWHM of the Gaussian beam on the lensed Q, U (arcmin).
        interp_order: spline order of the lensing remap (1..5).
    """

    npix: int = 128
    ndeg: float = 5.0
    pad: int = 2
    r: float = 0.1
    beam_arcmin: float = 1.0
    interp_order: int = 5
    cosmology: Cosmology = Cosmology()

    def validate(self) -> None:
        """Raise :class:`UserError` on impossible values."""
        if self.npix < 8 or self.npix % 2:
            raise UserError(f"npix={self.npix}: expected an even number of pixels >= 8")
        if not 0.1 <= self.ndeg <= 30.0:
            raise UserError(f"ndeg={self.ndeg}: expected a map side of 0.1 to 30 degrees")
        if self.pad < 1:
            raise UserError(f"pad={self.pad}: expected an integer >= 1")
        if self.r < 0:
            raise UserError(f"r={self.r}: the tensor-to-scalar ratio must be >= 0")
        if self.beam_arcmin < 0:
            raise UserError(f"beam_arcmin={self.beam_arcmin}: expected >= 0")
        if self.interp_order not in range(1, 6):
            raise UserError(f"interp_order={self.interp_order}: expected 1 to 5")

    @property
    def pixel_rad(self) -> float:
        """Pixel side in radians."""
        return np.deg2rad(self.ndeg) / self.npix

    @property
    def pixel_arcmin(self) -> float:
        """Pixel side in arcminutes."""
        return self.ndeg * 60.0 / self.npix

    @property
    def lmax(self) -> int:
        """Largest multipole on the grid (the corner mode) plus a margin, for CAMB."""
        return int(np.ceil(np.sqrt(2.0) * np.pi / self.pixel_rad)) + 100


# ------------------------------------------------------------------------------ spectra (CAMB)
@functools.lru_cache(maxsize=8)
def camb_spectra(lmax: int, r: float = 0.1, cosmology: Cosmology = Cosmology()) -> dict:
    """CMB spectra from CAMB as raw C_ell for ell = 0 .. lmax.

    Returns:
        dict of float64 arrays: ``ell``; ``ee`` (unlensed scalar + tensor EE, uK^2), ``bb``
        (unlensed, tensor only, uK^2), ``lensed_ee``, ``lensed_bb`` (lensed scalar + tensor,
        uK^2, CAMB's full-sky correlation-function lensing), ``pp`` (C_ell^phiphi) and ``kk``
        (C_ell^kk = [ell(ell+1)]^2 C^phiphi / 4). Entries at ell < 2 are 0.
    """
    import camb  # lazily: only simulation needs it

    lmax = int(lmax)
    c = cosmology
    pars = camb.set_params(
        H0=c.H0, ombh2=c.ombh2, omch2=c.omch2, tau=c.tau, As=c.As, ns=c.ns, r=float(r),
        WantTensors=r > 0, lmax=lmax, lens_potential_accuracy=1,
    )
    pars.max_l_tensor = min(lmax, 1500)
    results = camb.get_results(pars)
    unlensed = results.get_unlensed_total_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)
    lensed = results.get_total_cls(lmax=lmax, CMB_unit="muK", raw_cl=True)
    pp = results.get_lens_potential_cls(lmax=lmax, raw_cl=True)[:, 0]
    ell = np.arange(lmax + 1, dtype=np.float64)
    out = {
        "ell": ell,
        "ee": unlensed[:, 1].copy(),
        "bb": unlensed[:, 2].copy(),
        "lensed_ee": lensed[:, 1].copy(),
        "lensed_bb": lensed[:, 2].copy(),
        "pp": pp.copy(),
        "kk": (ell * (ell + 1.0)) ** 2 * pp / 4.0,
    }
    for key, value in out.items():
        if key != "ell":
            value[:2] = 0.0
            # tensor spectra end at max_l_tensor with round-off of either sign: no negative power
            np.maximum(value, 0.0, out=value)
        value.setflags(write=False)
    return out


def interpolate_cl(cl: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """C(ell) at non-integer ``ell`` by linear interpolation of the integer-ell table ``cl``;
    0 beyond the table."""
    return np.interp(ell, np.arange(cl.size), cl, right=0.0)


# ------------------------------------------------------------------------------ Fourier helpers
@functools.lru_cache(maxsize=16)
def fourier_grid(npix: int, pixel_rad: float) -> tuple[np.ndarray, ...]:
    """``(ell_x, ell_y, ell, cos 2phi, sin 2phi)`` on the rfft2 half plane ``(npix, npix//2+1)``.

    ``ell_x`` varies along columns, ``ell_y`` along rows; ``phi = atan2(ell_y, ell_x)``; the zero
    mode has ``phi = 0``; ``cos 2phi`` and ``sin 2phi`` are 0 there and on the Nyquist row and
    column.
    """
    lx = 2 * np.pi * np.fft.rfftfreq(npix, d=pixel_rad)[None, :]
    ly = 2 * np.pi * np.fft.fftfreq(npix, d=pixel_rad)[:, None]
    lx, ly = np.broadcast_arrays(lx, ly)
    ell = np.hypot(lx, ly)
    phi = np.arctan2(ly, lx)
    c2, s2 = np.cos(2 * phi), np.sin(2 * phi)
    # On the Nyquist row and column the mode (ly, nyq) and its Hermitian partner (-ly, -nyq) are
    # stored as one frequency line, so they cannot get angles phi and phi + pi: E/B is undefined
    # there and those modes are dropped by the rotation (a white field loses ~2/N of its power).
    for a in (c2, s2):
        a[:, -1] = 0.0
        a[npix // 2, :] = 0.0
        a[0, 0] = 0.0  # nor has the mean
    out = tuple(np.ascontiguousarray(a) for a in (lx, ly, ell, c2, s2))
    for a in out:
        a.setflags(write=False)
    return out


def _rfft2(x: np.ndarray) -> np.ndarray:
    return scipy.fft.rfft2(np.asarray(x, dtype=np.float64), axes=(-2, -1), workers=-1)


def _irfft2(xk: np.ndarray, npix: int) -> np.ndarray:
    return scipy.fft.irfft2(xk, s=(npix, npix), axes=(-2, -1), workers=-1)


def _check_square(x: np.ndarray, name: str) -> int:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise UserError(f"{name}: shape {x.shape}, expected square maps (..., N, N)")
    return x.shape[-1]


def gaussian_map(
    rng: np.random.Generator, cl: np.ndarray, npix: int, pixel_rad: float, size: int = 1
) -> np.ndarray:
    """Gaussian random maps ``(size, npix, npix)`` of angular power spectrum ``cl``.

    Args:
        rng: random generator for the white noise.
        cl: raw C_ell for ell = 0, 1, ... (units^2 sr), e.g. from :func:`camb_spectra`.
        npix: map side in pixels; the map is periodic.
        pixel_rad: pixel side in radians.

    Returns:
        ``irfft2(rfft2(w) sqrt(C(|ell|) / pixel_rad^2))`` with ``w ~ N(0, 1)``: maps whose binned
        spectrum averages to C_ell (the mean, ell = 0, is zero).
    """
    _, _, ell, _, _ = fourier_grid(npix, pixel_rad)
    amp = np.sqrt(interpolate_cl(cl, ell) / pixel_rad**2)
    white = rng.standard_normal((size, npix, npix))
    return _irfft2(_rfft2(white) * amp, npix)


def eb_to_qu(e: np.ndarray, b: np.ndarray, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Q, U maps from E, B maps on the periodic flat sky (module convention; any leading axes)."""
    npix = _check_square(np.asarray(e), "e")
    _, _, _, c2, s2 = fourier_grid(npix, pixel_rad)
    ek, bk = _rfft2(e), _rfft2(b)
    return _irfft2(ek * c2 - bk * s2, npix), _irfft2(ek * s2 + bk * c2, npix)


def qu_to_eb(q: np.ndarray, u: np.ndarray, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """E, B maps from Q, U maps, treating the maps as periodic (the analytic decomposition).

    On a cut (non-periodic) patch this is the "E, B approximation" of the original's future-work
    section: exact on the torus, it leaks E into B at the patch edges ("bleeding"), which
    apodising the maps first reduces.
    """
    npix = _check_square(np.asarray(q), "q")
    _, _, _, c2, s2 = fourier_grid(npix, pixel_rad)
    qk, uk = _rfft2(q), _rfft2(u)
    return _irfft2(qk * c2 + uk * s2, npix), _irfft2(-qk * s2 + uk * c2, npix)


def kappa_to_deflection(kappa: np.ndarray, pixel_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Deflection ``(d_y, d_x) = grad phi`` in radians from the convergence ``kappa``.

    ``phi_ell = 2 kappa_ell / ell^2`` (from ``kappa = -1/2 lap phi``), ``d = irfft2(i ell
    phi_ell)``; the ell = 0 mode carries no deflection.
    """
    npix = _check_square(np.asarray(kappa), "kappa")
    lx, ly, ell, _, _ = fourier_grid(npix, pixel_rad)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(ell > 0, 2.0 / ell**2, 0.0)
    phik = _rfft2(kappa) * inv
    lx = lx.copy()
    ly = ly.copy()
    lx[:, -1] = 0.0  # the Nyquist column/row of a derivative has no real counterpart
    ly[npix // 2, :] = 0.0
    return _irfft2(1j * ly * phik, npix), _irfft2(1j * lx * phik, npix)


def lens_maps(
    maps: np.ndarray, deflection: tuple[np.ndarray, np.ndarray], pixel_rad: float, order: int = 5
) -> np.ndarray:
    """Remap periodic maps at the deflected positions: ``X~(x) = X(x + d(x))``.

    Args:
        maps: ``(c, N, N)`` maps sharing one deflection (e.g. Q and U).
        deflection: ``(d_y, d_x)`` in radians, each ``(N, N)`` (:func:`kappa_to_deflection`).
        pixel_rad: pixel side in radians.
        order: spline order of the interpolation (5 = quintic B-spline).

    Returns:
        ``(c, N, N)`` lensed maps. The interpolation is periodic (``grid-wrap``).
    """
    maps = np.asarray(maps, dtype=np.float64)
    npix = _check_square(maps, "maps")
    iy, ix = np.meshgrid(np.arange(npix), np.arange(npix), indexing="ij")
    coords = np.stack([iy + deflection[0] / pixel_rad, ix + deflection[1] / pixel_rad])
    return np.stack(
        [ndimage.map_coordinates(m, coords, order=order, mode="grid-wrap") for m in maps]
    )


def beam_window(npix: int, pixel_rad: float, fwhm_arcmin: float) -> np.ndarray:
    """Gaussian beam ``b_ell = exp(-ell (ell + 1) theta^2 / (16 ln 2))`` on the rfft2 grid."""
    _, _, ell, _, _ = fourier_grid(npix, pixel_rad)
    theta = fwhm_arcmin * ARCMIN
    return np.exp(-ell * (ell + 1.0) * theta**2 / (16.0 * np.log(2.0)))


def apply_beam(maps: np.ndarray, pixel_rad: float, fwhm_arcmin: float) -> np.ndarray:
    """Convolve periodic maps (last two axes) with the Gaussian beam of FWHM ``fwhm_arcmin``."""
    npix = _check_square(np.asarray(maps), "maps")
    if fwhm_arcmin == 0:
        return np.asarray(maps, dtype=np.float64)
    return _irfft2(_rfft2(maps) * beam_window(npix, pixel_rad, fwhm_arcmin), npix)


def noise_sigma(level_uk_arcmin: float, pixel_arcmin: float, polarization: bool = True) -> float:
    """Pixel standard deviation (uK) of white noise of ``level`` uK-arcmin (temperature level).

    Polarisation maps get ``Delta_P = sqrt(2) Delta_T``; sigma = Delta / pixel side in arcmin.
    """
    factor = np.sqrt(2.0) if polarization else 1.0
    return factor * float(level_uk_arcmin) / float(pixel_arcmin)


# ------------------------------------------------------------------------------ one map
def simulate_map(rng: np.random.Generator, params: SimParams, spectra: dict | None = None,
                 lens: bool = True, full: bool = False) -> dict:
    """One map set: lensed, beamed Q, U and the unlensed E, B, kappa on the same patch.

    Args:
        rng: random generator (one per map for reproducibility).
        params: the data-set parameters.
        spectra: :func:`camb_spectra` output (computed when None).
        lens: remap Q, U (False gives the unlensed, beamed Q, U: for tests).
        full: return the whole periodic box instead of the central crop (for tests).

    Returns:
        dict with ``q, u, e, k, b`` float64 ``(npix, npix)`` maps (``(pad npix)^2`` if ``full``).
    """
    if spectra is None:
        spectra = camb_spectra(params.lmax, params.r, params.cosmology)
    big = params.pad * params.npix
    pix = params.pixel_rad
    e = gaussian_map(rng, spectra["ee"], big, pix)[0]
    b = gaussian_map(rng, spectra["bb"], big, pix)[0]
    k = gaussian_map(rng, spectra["kk"], big, pix)[0]
    q, u = eb_to_qu(e, b, pix)
    qu = np.stack([q, u])
    if lens:
        qu = lens_maps(qu, kappa_to_deflection(k, pix), pix, params.interp_order)
    qu = apply_beam(qu, pix, params.beam_arcmin)
    out = {"q": qu[0], "u": qu[1], "e": e, "k": k, "b": b}
    if full:
        return out
    lo = (big - params.npix) // 2
    sl = (slice(lo, lo + params.npix), slice(lo, lo + params.npix))
    return {name: m[sl] for name, m in out.items()}


def map_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of map ``index`` of a data set with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def simulate_maps(count: int, params: SimParams, seed: int = 0, start: int = 0,
                  spectra: dict | None = None) -> np.ndarray:
    """Maps ``start .. start+count-1``: float32 ``(count, npix, npix, 5)``, channels ``quekb``."""
    params.validate()
    if spectra is None:
        spectra = camb_spectra(params.lmax, params.r, params.cosmology)
    out = np.empty((count, params.npix, params.npix, len(CHANNELS)), dtype=np.float32)
    for i in range(count):
        m = simulate_map(map_rng(seed, start + i), params, spectra)
        out[i] = np.stack([m[c] for c in CHANNELS], axis=-1)
    return out


# ------------------------------------------------------------------------------ files
def write_dataset(path: str | Path, count: int, params: SimParams, seed: int = 0,
                  chunk: int = 64, log=print) -> Path:
    """Simulate ``count`` maps into the HDF5 file ``path`` (atomically; never overwrites).

    Progress (maps done, maps/s, time left) goes to ``log`` every chunk.
    """
    import h5py

    params.validate()
    if count < 1:
        raise UserError(f"--count={count}: expected at least one map")
    path = Path(path)
    spectra = camb_spectra(params.lmax, params.r, params.cosmology)
    t0 = time.perf_counter()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        n = params.npix
        ds = f.create_dataset(
            "maps", (count, n, n, len(CHANNELS)), dtype="float32",
            chunks=(1, n, n, len(CHANNELS)),
        )
        ds.attrs["channels"] = CHANNELS
        ds.attrs["units"] = "uK (q, u, e, b); dimensionless (k)"
        grp = f.create_group("spectra")
        for key, value in spectra.items():
            grp.create_dataset(key, data=np.asarray(value))
        attrs = dataclasses.asdict(params)
        cosmo = attrs.pop("cosmology")
        for key, value in {**attrs, **{f"cosmo_{k}": v for k, v in cosmo.items()}}.items():
            f.attrs[key] = value
        f.attrs.update({"seed": int(seed), "lmax": params.lmax, "version": VERSION,
                        "pixel_arcmin": params.pixel_arcmin})
        for start in range(0, count, chunk):
            m = min(chunk, count - start)
            ds[start : start + m] = simulate_maps(m, params, seed, start, spectra)
            done = start + m
            rate = done / (time.perf_counter() - t0)
            log(f"{done}/{count} maps, {rate:.1f} maps/s, "
                f"left {time.strftime('%H:%M:%S', time.gmtime((count - done) / rate))}")
    return path


def read_attrs(path: str | Path) -> dict:
    """The file attributes of a data set (``npix``, ``ndeg``, ``r``, ...)."""
    with open_h5(path) as f:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}


def params_from_attrs(attrs: dict) -> SimParams:
    """The :class:`SimParams` a data set was made with, from its file attributes."""
    try:
        cosmo = Cosmology(**{f.name: float(attrs[f"cosmo_{f.name}"])
                             for f in dataclasses.fields(Cosmology)})
        return SimParams(npix=int(attrs["npix"]), ndeg=float(attrs["ndeg"]),
                         pad=int(attrs["pad"]), r=float(attrs["r"]),
                         beam_arcmin=float(attrs["beam_arcmin"]),
                         interp_order=int(attrs["interp_order"]), cosmology=cosmo)
    except KeyError as err:
        raise UserError(f"data set attributes: no {err.args[0]!r}; not a data set of this "
                        "simulator") from None


def read_spectra(path: str | Path) -> dict:
    """The CAMB spectra stored with a data set."""
    with open_h5(path) as f:
        if "spectra" not in f:
            raise UserError(f"{path}: no 'spectra' group; not a CMB data set of this suite")
        return {k: f["spectra"][k][()] for k in f["spectra"]}


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exagan_tf.cmb.simulate --out data/cmb/cmb_maps.h5 --count 1000 --npix 64``."""
    p = argparse.ArgumentParser(prog="python -m exagan_tf.cmb.simulate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="data/cmb/cmb_maps.h5", help="HDF5 file to write (new)")
    p.add_argument("--count", type=int, default=1000, help="number of maps (default 1000)")
    p.add_argument("--npix", type=int, default=128, help="map side in pixels (default 128)")
    p.add_argument("--ndeg", type=float, default=5.0, help="map side in degrees (default 5)")
    p.add_argument("--pad", type=int, default=2, help="periodic box / map side ratio (2)")
    p.add_argument("--r", type=float, default=0.1, help="tensor-to-scalar ratio (0.1)")
    p.add_argument("--beam", type=float, default=1.0, help="beam FWHM in arcmin (1.0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data set (0)")
    args = p.parse_args(argv)
    params = SimParams(npix=args.npix, ndeg=args.ndeg, pad=args.pad, r=args.r,
                       beam_arcmin=args.beam)
    t0 = time.perf_counter()
    write_dataset(args.out, args.count, params, args.seed)
    print(f"wrote {args.out}: {args.count} maps of {args.npix}^2 over {args.ndeg} deg "
          f"({params.pixel_arcmin:.2f} arcmin pixels) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
